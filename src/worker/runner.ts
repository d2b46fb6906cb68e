import type { ChildJob, ChildState, SpawnOptions } from '../core/children.ts';
import type { SerializedError } from '../core/errors.ts';
import type { ArtifactInfo, Job, LogStream } from '../core/job.ts';
import type { AnyTask, ArtifactSource } from '../core/task.ts';
import type { ExecutionTransaction } from './task-transaction.ts';

/**
 * The seam where task code runs. The worker owns claiming, leases, timeouts, retries and
 * persistence; a runner only runs one attempt and reports what the task does. Two runners: in
 * the worker's own process (tests, trivial tasks) and in a sandboxed child process.
 */
export interface JobRunner {
  /** Runs one attempt. Resolves when the task returned or threw; never rejects. */
  run(execution: Execution): Promise<RunResult>;
  /** Stops whatever the runner keeps alive (child processes). */
  close(): Promise<void>;
}

export interface Execution {
  job: Job;
  task: AnyTask;
  params: unknown;
  /**
   * Aborted when the attempt must stop (cancel, timeout, stall, shutdown); `signal.reason` is an
   * AttemptAbort. A runner that can (a child process) ends the work by force if it does not stop
   * within `killAfterMs` of the abort.
   */
  signal: AbortSignal;
  killAfterMs: number;
  report: ExecutionReport;
  /**
   * What `ctx.transaction` completes the job with (task-transaction.ts); absent or null when the
   * store cannot complete a job in a transaction (SQLite), and the task is refused.
   */
  transaction?: ExecutionTransaction | null;
}

/** What the task tells the worker while it runs. */
export interface ExecutionReport {
  progress(current: number, total: number | null, message: string | null | undefined): void;
  message(text: string): void;
  log(stream: LogStream, line: string): void;
  artifact(name: string, source: ArtifactSource, contentType?: string): Promise<ArtifactInfo>;
  /**
   * The result an earlier attempt recorded for the step `name` (`ctx.step`), or null when the step
   * must run: answered from the steps the attempt read once as it started.
   */
  recallStep(name: string): Promise<{ result: unknown } | null>;
  /**
   * Records a step's result (a JSON value, within the size cap) durably with the job's progress;
   * rejects when it could not (a lost lease also stops the attempt).
   */
  recordStep(name: string, result: unknown): Promise<void>;
  /**
   * Starts the child job of this name (`ctx.spawn`), or finds the one the job has already; rejects
   * when it could not (bad params, an unknown task, a lost lease, which also stops the attempt).
   */
  spawn(request: SpawnRequest): Promise<ChildJob>;
  /**
   * The children's states now, for `ctx.wait`; when the wait must sleep (core/children.ts
   * `waitVerdict`), the attempt ends waiting for them, whatever the task does next.
   */
  wait(request: WaitRequest): Promise<ChildState[]>;
}

/** A `ctx.spawn` as it reaches the worker: the task by name, its params not yet checked. */
export interface SpawnRequest {
  task: string;
  params: unknown;
  name: string;
  options: Omit<SpawnOptions, 'name'>;
}

/** A `ctx.wait`: its children's ids, and whether it settles (takes failures as outcomes). */
export interface WaitRequest {
  ids: string[];
  settle: boolean;
}

export type RunResult = { ok: true; result: unknown } | { ok: false; error: SerializedError };

/** Why an attempt was aborted; the reason decides the outcome. */
export type AbortCause = 'cancel' | 'timeout' | 'stall' | 'shutdown' | 'lease-lost';

export class AttemptAbort extends Error {
  readonly kind: AbortCause;
  constructor(kind: AbortCause, message: string) {
    super(message);
    this.name = 'AttemptAbort';
    this.kind = kind;
  }
}
