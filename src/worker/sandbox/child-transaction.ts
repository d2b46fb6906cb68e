import type { SerializedError } from '../../core/errors.ts';
import type { Lease } from '../../core/job.ts';
import type { TransactionTarget } from '../../store/store.ts';
import { type ExecutionTransaction, openTarget } from '../task-transaction.ts';
import type { ChildMessage, CommitPrepared } from './protocol.ts';

/** What the worker sends with a job for `ctx.transaction`: where the store's transactions open, and the attempt's lease. */
export interface TransactionAccess {
  target: TransactionTarget;
  lease: Lease;
}

type Request = Extract<ChildMessage, { type: 'prepare-commit' | 'committed' }>;
/** A message as the child sends it (`v` is added by the sender). */
export type CommitRequest = Request extends infer M ? (M extends unknown ? Omit<M, 'v'> : never) : never;

/**
 * A sandbox child's side of `ctx.transaction` for one job. A function cannot cross IPC, so the
 * child opens the store's transactions itself, on a connection of its own, from the target the
 * worker sent (task-transaction.ts). The worker keeps what must precede the commit: before it,
 * the child writes a marker on both pipes and asks; the worker waits until it has read every
 * line up to the markers, stores the logs and progress, and answers with the result to record
 * (redacted). After the commit the child says so, and the worker confirms it from the store.
 *
 *   child: BEGIN, fn ─ markers ─ prepare-commit ──▶ worker: lines read, logs + progress stored
 *   child: fenced UPDATE, COMMIT ◀── commit-prepared {result} | {error} ──┘
 *   child: committed ──▶ worker: ends the attempt without writing (the store shows the job succeeded)
 */
export class ChildTransaction {
  readonly #jobId: string;
  readonly #access: TransactionAccess;
  readonly #send: (message: CommitRequest) => void;
  /** Writes a marker line on stdout and stderr; resolves once both pipes took it. */
  readonly #mark: (requestId: number) => Promise<unknown>;
  readonly #pending = new Map<number, (answer: CommitPrepared) => void>();
  #nextRequest = 1;

  constructor(
    jobId: string,
    access: TransactionAccess,
    send: (message: CommitRequest) => void,
    mark: (requestId: number) => Promise<unknown>,
  ) {
    this.#jobId = jobId;
    this.#access = access;
    this.#send = send;
    this.#mark = mark;
  }

  /** The job's `Execution.transaction` in this child. */
  execution(): ExecutionTransaction {
    const { target, lease } = this.#access;
    return {
      lease,
      target,
      open: () => openTarget(target),
      beforeCommit: (value) => this.#prepare(value),
      committed: () => this.#send({ type: 'committed', jobId: this.#jobId }),
    };
  }

  /** The worker's answer to a prepare-commit. */
  answer(message: CommitPrepared): void {
    const pending = this.#pending.get(message.requestId);
    this.#pending.delete(message.requestId);
    pending?.(message);
  }

  async #prepare(value: unknown): Promise<unknown> {
    JSON.stringify(value); // Throws on what IPC cannot carry (BigInt, cycles): the task's error, rolled back.
    const requestId = this.#nextRequest++;
    await this.#mark(requestId);
    const answer = await new Promise<CommitPrepared>((resolve) => {
      this.#pending.set(requestId, resolve);
      this.#send({ type: 'prepare-commit', jobId: this.#jobId, requestId, result: value });
    });
    if (answer.error) throw commitError(answer.error);
    return answer.result;
  }
}

/** The worker's refusal as the task sees it (a lost lease, a cancel, a result that is not JSON). */
function commitError(error: SerializedError): Error {
  const made =
    error.name === 'TypeError'
      ? new TypeError(error.message)
      : Object.assign(new Error(error.message), { name: error.name });
  return error.code ? Object.assign(made, { code: error.code }) : made;
}
