import type { SerializedError } from '../../core/errors.ts';
import type { ChildMessage, StepAnswer } from './protocol.ts';

type StepMessage = Extract<ChildMessage, { type: 'step-recall' | 'step-record' }>;
/** A step request as the child sends it (`v` is added by the sender). */
export type StepRequest = StepMessage extends infer M ? (M extends unknown ? Omit<M, 'v'> : never) : never;

/**
 * A sandbox child's side of `ctx.step` for one job: the worker holds the job's recorded steps and
 * its lease, so each recall and each record is a request over IPC, answered by a `step-answer`.
 * The rules (the name, the JSON, the size) were applied before, in the task's `ctx.step`.
 */
export class ChildSteps {
  readonly #jobId: string;
  readonly #send: (message: StepRequest) => void;
  readonly #pending = new Map<number, { resolve(answer: StepAnswer): void; reject(error: Error): void }>();
  #nextRequest = 1;

  constructor(jobId: string, send: (message: StepRequest) => void) {
    this.#jobId = jobId;
    this.#send = send;
  }

  async recall(name: string): Promise<{ result: unknown } | null> {
    const answer = await this.#ask((requestId) => ({ type: 'step-recall', jobId: this.#jobId, requestId, name }));
    return answer.recalled ?? null;
  }

  async record(name: string, result: unknown): Promise<void> {
    await this.#ask((requestId) => ({ type: 'step-record', jobId: this.#jobId, requestId, name, result }));
  }

  /** The worker's answer to one request. */
  answer(message: StepAnswer): void {
    const pending = this.#pending.get(message.requestId);
    this.#pending.delete(message.requestId);
    if (!pending) return;
    if (message.error) pending.reject(stepError(message.error));
    else pending.resolve(message);
  }

  #ask(request: (requestId: number) => StepRequest): Promise<StepAnswer> {
    const requestId = this.#nextRequest++;
    return new Promise<StepAnswer>((resolve, reject) => {
      this.#pending.set(requestId, { resolve, reject });
      this.#send(request(requestId));
    });
  }
}

/** The worker's refusal as the task sees it: a TypeError or RangeError of the step rules stays one. */
function stepError(error: SerializedError): Error {
  const made =
    error.name === 'TypeError'
      ? new TypeError(error.message)
      : error.name === 'RangeError'
        ? new RangeError(error.message)
        : Object.assign(new Error(error.message), { name: error.name });
  return error.code ? Object.assign(made, { code: error.code }) : made;
}
