/**
 * The job model.
 *
 * Glossary
 * - task: a named, typed definition of work (code), made with `defineTask`.
 * - job: one run of a task with params; a row in the store with an id.
 * - attempt: one execution of a job by a worker; a failed attempt with attempts left sends the
 *   job back to `queued` with a later `runAt`.
 * - lease: a worker's time-limited claim on a running job, fenced by a token. A worker whose
 *   lease expired (it died, or stopped renewing) can no longer change the job.
 * - progress: `{ current, total, percent, message, etaSeconds }`; `total` null = indeterminate.
 * - owner: the id of the user who started the job (or null), deciding who may see it.
 * - artifact: a file a job produced, downloadable once the job ends.
 */

/** Where a job is in its life. `succeeded`, `failed` and `cancelled` are final. */
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export type TerminalStatus = 'succeeded' | 'failed' | 'cancelled';

/**
 * The status machine. A finished job never changes again.
 *
 *            claim              finish ok
 *   queued ─────────▶ running ───────────▶ succeeded
 *     ▲  │              │ │ │   finish error, no attempts left / permanent
 *     │  │              │ │ └────────────────────────────────▶ failed
 *     │  │ cancel       │ │     cancel honoured / abandoned
 *     │  └──────────────┼─┼────────────────────────────────▶ cancelled
 *     │   error with    │ │
 *     └─ attempts left ─┘ │ lease expired: queued again, or failed STALLED when attempts are spent
 *        (or handed back) │
 *   (or asleep until its child jobs end, uncounted: core/children.ts)
 */
const TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  queued: ['running', 'cancelled'],
  running: ['queued', 'succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(status: JobStatus): status is TerminalStatus {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

export function isJobStatus(value: unknown): value is JobStatus {
  return typeof value === 'string' && (JOB_STATUSES as readonly string[]).includes(value);
}

/** Why a job failed or was cancelled, as shown to people and programs. */
export type JobErrorCode =
  | 'TASK_ERROR'
  | 'TIMEOUT'
  | 'STALLED'
  | 'CANCELLED'
  | 'CRASHED'
  | 'UNKNOWN_TASK'
  | (string & {});

export interface JobError {
  /** Short and human: "Timed out after 30 s", not a stack. */
  message: string;
  code: JobErrorCode;
  /** Stack or stderr tail; only for those allowed to see it. */
  detail?: string | null;
}

/** ISO-8601 timestamp, UTC, millisecond precision. */
export type IsoDate = string;

export interface JobProgress {
  current: number;
  /** null: the total is unknown and the bar is indeterminate. */
  total: number | null;
  /** 0..100, null when indeterminate. */
  percent: number | null;
  message: string | null;
  /** Estimated seconds left, null when unknown. */
  etaSeconds: number | null;
  updatedAt: IsoDate;
}

export interface ArtifactInfo {
  name: string;
  size: number;
  contentType: string;
  createdAt: IsoDate;
}

/**
 * A job as the store holds it. `Params` and `Result` are `unknown` for a job read by id (any task's);
 * `queue.start(task, …)` types them from the task (`TaskJob<typeof task>`, in core/task.ts).
 */
export interface Job<Params = unknown, Result = unknown> {
  id: string;
  task: string;
  status: JobStatus;
  progress: JobProgress | null;
  /**
   * The params as stored: validated (the schema's output, defaults applied), then kept as JSON, so
   * a `Date` reads back as its ISO string. A field the schema marks `secret(...)` holds its sealed
   * envelope, a `"[redacted:v1:…]"` string, whatever its type says: only the task sees its value.
   */
  params: Params;
  /** What the task returned, as JSON; null until the job has succeeded (and when it returned nothing). */
  result: Result | null;
  error: JobError | null;
  attempt: number;
  maxAttempts: number;
  cancelRequested: boolean;
  owner: string | null;
  dedupeKey: string | null;
  timeoutSeconds: number | null;
  /** Claimed before queued jobs of lower priority that are due too; then the earliest `runAt` first. Default 0. */
  priority: number;
  /** The queue it waits in: its task's `queue`, else the task's name. A queue may limit how many of its jobs run at once. */
  queue: string;
  /** Jobs of one queue with the same key count together against the queue's per-key limit (one customer, say). */
  concurrencyKey: string | null;
  /** The job this one retries (the HTTP "retry" action), or null. */
  retryOf: string | null;
  /** The job whose attempt started this one with `ctx.spawn` (docs/children.md), or null. */
  parentId: string | null;
  /** Its name among its parent's children (`child-0`, or the name the parent gave), or null. */
  childName: string | null;
  artifacts: ArtifactInfo[];
  createdAt: IsoDate;
  runAt: IsoDate;
  startedAt: IsoDate | null;
  finishedAt: IsoDate | null;
  /** The worker running its current attempt, or that ran its latest one; null before its first claim. */
  workerId: string | null;
  /**
   * The attempts that ended without ending the job, oldest first (the last {@link MAX_ATTEMPT_RECORDS}):
   * a failure retried, a stall reaped, a hand-back by a stopping worker, a sleep for child jobs.
   * The current or final attempt is the job itself (`attempt`, `startedAt`, `finishedAt`, `error`):
   * `attemptHistory` (core/attempts.ts) puts the two together.
   */
  attempts: AttemptRecord[];
}

/** How an attempt ended without ending its job. */
export type AttemptOutcome =
  /** It failed with attempts left: queued again, due at `runAt` (the backoff). */
  | 'retry'
  /** Its lease expired (the worker died or froze) and the reaper queued the job again. */
  | 'stalled'
  /** A stopping worker handed it back unfinished; it did not count against `maxAttempts`. */
  | 'released'
  /** It went to sleep until its child jobs end (ctx.wait); it did not count either. */
  | 'waited';

/** One attempt that ended without ending its job, as the statement that ended it wrote it (Oban's `errors`). */
export interface AttemptRecord {
  /** Its number; a released or waiting attempt is not counted, so the next one has the same number. */
  attempt: number;
  workerId: string | null;
  startedAt: IsoDate | null;
  endedAt: IsoDate;
  outcome: AttemptOutcome;
  /** When the job was due again: the retry's backoff, at once after a stall or a release; null while asleep. */
  runAt: IsoDate | null;
  /** Why it failed (`retry`, `stalled`); the detail (stack) is not kept. */
  error: Pick<JobError, 'code' | 'message'> | null;
}

/** Attempt records kept per job: the oldest go first (a job retried forever stays one row of bounded size). */
export const MAX_ATTEMPT_RECORDS = 50;

/** A worker's fenced hold on a running job: both parts must match for a write to land. */
export interface Lease {
  jobId: string;
  token: string;
}

/** What a worker reports when an attempt ends. The store applies it; it decides nothing. */
export type Outcome =
  | { status: 'succeeded'; result: unknown }
  | { status: 'failed'; error: JobError }
  | { status: 'cancelled'; error: JobError }
  /** The attempt failed and attempts remain: back to `queued`, to run again at `runAt`. */
  | { status: 'retry'; error: JobError; runAt: IsoDate };

/** A job's priority: a whole number in this range, higher first. */
export const MIN_PRIORITY = -1000;
export const MAX_PRIORITY = 1000;

export function toIso(date: Date | number): IsoDate {
  return new Date(date).toISOString();
}

export type LogStream = 'stdout' | 'stderr' | 'system';

export interface NewLogLine {
  stream: LogStream;
  line: string;
  at: IsoDate;
}

export interface LogLine extends NewLogLine {
  seq: number;
  /** The attempt that printed it (the job's attempt when it was written); null for lines kept from before attempts were recorded. */
  attempt: number | null;
}

/** One point of a job's progress over time (the job page's chart). */
export interface ProgressSample {
  at: IsoDate;
  current: number;
  total: number | null;
  /** The attempt that reported it. */
  attempt: number;
}

/** Log lines kept per job unless configured otherwise. */
export const DEFAULT_MAX_LOG_LINES = 10_000;
/** Longest log line kept; the rest is cut with a marker. */
export const MAX_LOG_LINE_LENGTH = 8_192;
