import { PermanentJobError } from '../core/errors.ts';
import type { Job, Lease } from '../core/job.ts';
import type { TaskContext, TaskTransactionClient } from '../core/task.ts';
import type { Jobs } from '../jobs/jobs.ts';
import type {
  CompletedInTransaction,
  CompleteInTransactionOptions,
  TaskTransactions,
  TransactionClient,
  TransactionTarget,
} from '../store/store.ts';
import { AttemptAbort, type Execution } from './runner.ts';

/** Where a job is completed in a transaction: the Jobs layer in the worker's process, a store's target in a child. */
export interface TransactionCompleter {
  completeInTransaction<T>(
    lease: Lease,
    fn: (client: TransactionClient) => Promise<T>,
    options?: CompleteInTransactionOptions,
  ): Promise<CompletedInTransaction<T> | null>;
}

/** What `ctx.transaction` needs from whoever runs the attempt (`Execution.transaction`). */
export interface ExecutionTransaction {
  lease: Lease;
  /** How a runner in another process (a sandbox child) opens the store's transactions; null: only here. */
  target: TransactionTarget | null;
  /** The store's transactions, in the process that runs the task. */
  open(): Promise<TransactionCompleter>;
  /**
   * Inside the transaction, before the job's end is written: stores the logs and progress the task
   * reported so far and returns the result to record (secret params redacted). Throws (rolling
   * back) when the attempt was stopped or lost its lease meanwhile.
   */
  beforeCommit(value: unknown): Promise<unknown>;
  /**
   * After the commit: the job as committed, already told to the Jobs layer; or null when it was
   * committed in another process (a sandbox child) and the worker must confirm it from the store.
   */
  committed(job: Job | null): void;
}

export const TRANSACTION_UNSUPPORTED = 'TRANSACTION_UNSUPPORTED';
const LOST = 'This worker lost its claim on the job: its transaction was rolled back and nothing was recorded.';

/**
 * `ctx.transaction` for one attempt, wherever it runs (runner.ts's taskContext, in the worker or
 * a sandbox child). One commit per attempt: a call while one runs, or after one committed, throws.
 */
export function transactionMethod(execution: Execution): TaskContext['transaction'] {
  let state: 'idle' | 'running' | 'done' = 'idle';
  return async <T, Client extends TaskTransactionClient>(fn: (client: Client) => Promise<T>): Promise<T> => {
    const access = execution.transaction;
    if (!access) throw unsupported();
    if (state !== 'idle') {
      throw new Error(
        state === 'done'
          ? 'ctx.transaction has already completed this job; call it once per attempt.'
          : 'ctx.transaction is already running for this attempt; call it once, and not from inside itself.',
      );
    }
    execution.signal.throwIfAborted();
    state = 'running';
    try {
      const completer = await access.open();
      // The store's client is a pg PoolClient; the task types it as much as it likes.
      const done = await completer.completeInTransaction(access.lease, (client) => fn(client as unknown as Client), {
        beforeCommit: async (value) => {
          // A cancel or timeout heard while `fn` ran: no commit, the attempt ends as asked.
          execution.signal.throwIfAborted();
          return access.beforeCommit(value);
        },
      });
      if (!done) throw new AttemptAbort('lease-lost', LOST);
      state = 'done';
      access.committed(done.job);
      return done.value;
    } finally {
      if (state === 'running') state = 'idle';
    }
  };
}

function unsupported(): PermanentJobError {
  return new PermanentJobError(
    'ctx.transaction needs the PostgreSQL store: this store has no database transaction to give a task. ' +
      'Use postgresStore, or make the effect safe to apply twice (keyed by ctx.job.id) and return normally.',
    { code: TRANSACTION_UNSUPPORTED },
  );
}

/** `Execution.transaction` in the worker's own process, through the Jobs layer; null when the store has none. */
export function localTransaction(
  jobs: Jobs,
  lease: Lease,
  hooks: Pick<ExecutionTransaction, 'beforeCommit' | 'committed'>,
): ExecutionTransaction | null {
  const { store } = jobs;
  if (!store.completeInTransaction) return null;
  return { lease, target: store.transactionTarget?.() ?? null, open: async () => jobs, ...hooks };
}

const opened = new Map<string, Promise<TaskTransactions>>();

/** A store's task transactions opened from its target in a process without the store (a sandbox child), once each. */
export function openTarget(target: TransactionTarget): Promise<TaskTransactions> {
  const key = JSON.stringify(target);
  let open = opened.get(key);
  if (!open) {
    open = import(target.module).then((module: { openTaskTransactions?: (options: unknown) => TaskTransactions }) => {
      if (typeof module.openTaskTransactions !== 'function') {
        throw new TypeError(`${target.module} has no openTaskTransactions: it is not a store's transaction module.`);
      }
      return module.openTaskTransactions(target.options);
    });
    open.catch(() => opened.delete(key)); // Tried again by the next call.
    opened.set(key, open);
  }
  return open;
}

/**
 * Where an attempt stands with `ctx.transaction`, for the worker's finish:
 *
 *   none ──beforeCommit──▶ tried ──committed──▶ done
 *
 * `tried`: a commit may have happened without the attempt hearing of it (its answer lost, or a
 * sandbox child that died after it), so the store is asked before anything else is written.
 */
export class AttemptCommit {
  #state: 'none' | 'tried' | 'done' = 'none';
  /** The end was told to the Jobs layer already (committed in this process). */
  #reported = false;

  /** The job's end is committed: nothing more is written for the attempt. */
  get done(): boolean {
    return this.#state === 'done';
  }

  tried(): void {
    if (this.#state === 'none') this.#state = 'tried';
  }

  committed(job: Job | null): void {
    this.#state = 'done';
    this.#reported = job !== null;
  }

  /**
   * True when the task's transaction recorded the job's end, which the Jobs layer has now told
   * its onEnded listeners of (once: a child's commit is confirmed from the store here). False:
   * the worker writes the outcome as usual, fenced by the lease.
   */
  async recorded(jobs: Jobs, job: Job): Promise<boolean> {
    if (this.#state === 'none') return false;
    if (this.#reported) return true;
    // A failed read: the usual fenced finish follows, which writes nothing if the commit happened.
    return (await jobs.confirmCompleted(job).catch(() => null)) !== null;
  }
}
