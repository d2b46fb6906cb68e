import type { ChildJob, ChildState } from '../../core/children.ts';
import { type SerializedError, ValidationError } from '../../core/errors.ts';
import type { SpawnRequest, WaitRequest } from '../runner.ts';
import type { ChildJobsAnswer, ChildMessage } from './protocol.ts';

type ChildJobsMessage = Extract<ChildMessage, { type: 'spawn' | 'wait' }>;
/** A spawn or wait request as the child sends it (`v` is added by the sender). */
export type ChildJobsRequest = ChildJobsMessage extends infer M ? (M extends unknown ? Omit<M, 'v'> : never) : never;

/**
 * A sandbox child's side of `ctx.spawn` and `ctx.wait` for one job (docs/children.md): the worker
 * checks and adds children under the job's lease, and decides whether the attempt ends waiting,
 * so each call is a request over IPC, answered by a `child-jobs-answer`.
 */
export class ChildSpawns {
  readonly #jobId: string;
  readonly #send: (message: ChildJobsRequest) => void;
  readonly #pending = new Map<number, { resolve(answer: ChildJobsAnswer): void; reject(error: Error): void }>();
  #nextRequest = 1;

  constructor(jobId: string, send: (message: ChildJobsRequest) => void) {
    this.#jobId = jobId;
    this.#send = send;
  }

  async spawn(request: SpawnRequest): Promise<ChildJob> {
    const { task, params, name, options } = request;
    const answer = await this.#ask((requestId) => ({
      type: 'spawn',
      jobId: this.#jobId,
      requestId,
      task,
      name,
      options: { ...options },
      params,
    }));
    if (!answer.child) throw new Error('The worker did not say which child job it started.');
    return answer.child;
  }

  async wait(request: WaitRequest): Promise<ChildState[]> {
    const answer = await this.#ask((requestId) => ({ type: 'wait', jobId: this.#jobId, requestId, ...request }));
    return answer.states ?? [];
  }

  /** The worker's answer to one request. */
  answer(message: ChildJobsAnswer): void {
    const pending = this.#pending.get(message.requestId);
    this.#pending.delete(message.requestId);
    if (!pending) return;
    if (message.error) pending.reject(refusal(message.error));
    else pending.resolve(message);
  }

  #ask(request: (requestId: number) => ChildJobsRequest): Promise<ChildJobsAnswer> {
    const requestId = this.#nextRequest++;
    return new Promise<ChildJobsAnswer>((resolve, reject) => {
      this.#pending.set(requestId, { resolve, reject });
      this.#send(request(requestId));
    });
  }
}

/** The worker's refusal as the task sees it: bad params stay a ValidationError, a TypeError one. */
function refusal(error: SerializedError): Error {
  if (error.code === 'VALIDATION_FAILED') return new ValidationError(error.message);
  const made =
    error.name === 'TypeError'
      ? new TypeError(error.message)
      : Object.assign(new Error(error.message), { name: error.name });
  return error.code ? Object.assign(made, { code: error.code }) : made;
}
