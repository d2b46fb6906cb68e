import type { SerializedError } from '../core/errors.ts';
import type { ArtifactInfo, Job, LogStream } from '../core/job.ts';
import type { AnyTask, ArtifactSource } from '../core/task.ts';

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
}

/** What the task tells the worker while it runs. */
export interface ExecutionReport {
  progress(current: number, total: number | null, message: string | null | undefined): void;
  message(text: string): void;
  log(stream: LogStream, line: string): void;
  artifact(name: string, source: ArtifactSource, contentType?: string): Promise<ArtifactInfo>;
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
