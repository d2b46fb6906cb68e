import type { Readable } from 'node:stream';
import type { ChildSummary } from '../core/children.ts';
import type {
  ArtifactInfo,
  IsoDate,
  Job,
  JobError,
  JobProgress,
  JobStatus,
  Lease,
  LogLine,
  LogStream,
  NewLogLine,
  Outcome,
  ProgressSample,
} from '../core/job.ts';
import type { NewStep, RecordedStep } from '../core/steps.ts';
import type { Retention } from '../core/task.ts';
import type { EventChannel } from './event-channel.ts';
import type {
  ClaimedWebhookDelivery,
  ClaimWebhookDeliveriesRequest,
  RecordWebhookDeliveriesRequest,
  StoredWebhookDelivery,
  WebhookAttemptResult,
  WebhookDeliveryFilter,
} from './webhook-deliveries.ts';

/**
 * The Store: where jobs live. Job-shaped, not a generic repository; every backend (SQLite,
 * PostgreSQL) implements exactly this and passes the one conformance suite
 * (test/store-conformance.ts). Stores only store: retry times, backoff and which outcome an
 * attempt has are decided by the worker with `core`, so every backend behaves the same.
 *
 * All state changes are atomic, and every change of status sends a `status` event on the
 * store's event channel (`events`), heard by listeners in every process that shares the store.
 * Callers use both through the Jobs layer (jobs/jobs.ts), which adds what happens once per
 * transition; the store itself only stores and announces.
 */
export interface Store {
  /** "sqlite" or "postgres": shown in logs and /healthz. */
  readonly kind: string;

  /**
   * True when `enqueue` and `enqueueMany` can run on the caller's own client inside its open
   * transaction (`EnqueueOptions.client`: PostgreSQL). Absent on a store that cannot (SQLite, whose
   * database only the store's own connection writes), where `queue.start` refuses a client.
   */
  readonly joinsTransactions?: boolean;

  /** Creates or upgrades the schema; safe to call from several processes at once. */
  migrate(): Promise<void>;

  /**
   * Adds a job in `queued`. With a `dedupeKey` that a queued or running job already holds, adds
   * nothing and returns that job with `created: false`.
   */
  enqueue(input: EnqueueInput, options?: EnqueueOptions): Promise<{ job: Job; created: boolean }>;

  /**
   * Adds many jobs at once, all or none, each as `enqueue` would (dedupe keys included, also
   * between jobs of the batch: the first holds the key); results in input order.
   */
  enqueueMany(inputs: readonly EnqueueInput[], options?: EnqueueOptions): Promise<{ job: Job; created: boolean }[]>;

  /**
   * Atomically moves up to `limit` due jobs of the given tasks from `queued` to `running`, highest
   * `priority` first, then oldest `runAt` (then the order they were added), counting an attempt and giving each a lease of `leaseMs`. No job is ever
   * handed to two claimers.
   */
  claim(request: ClaimRequest): Promise<ClaimedJob[]>;

  /**
   * As `claim`, for jobs in queues with limits: takes only jobs that fit, counting every running
   * job of the queue (and of the same key), whichever worker runs it. Claims of one queue are
   * serialised, so two workers never both take its last free place.
   */
  claimLimited(request: LimitedClaimRequest): Promise<ClaimedJob[]>;

  /** Extends the leases still held by this worker; tells, per job, whether it is still held and whether cancel was asked. */
  heartbeat(leases: readonly Lease[], leaseMs: number): Promise<HeartbeatResult[]>;

  /**
   * Persists a running job's latest progress; false (and no write) when the lease is lost. With
   * `sample`, the same statement also appends it to the job's progress over time
   * (`progressSamples`): at most MAX_PROGRESS_SAMPLES kept, every other one dropped when full, so
   * a long job keeps its whole shape at a coarser grain.
   */
  saveProgress(lease: Lease, progress: JobProgress, sample?: boolean): Promise<boolean>;

  /** The job's progress over time, oldest first (empty for an unknown job or one that reported none). */
  progressSamples(jobId: string): Promise<ProgressSample[]>;

  /** Ends an attempt as the outcome says; null (and no write) when the lease is lost: a fenced write. */
  finish(lease: Lease, outcome: Outcome): Promise<Job | null>;

  /**
   * Gives a running job back to the queue without counting the attempt (graceful shutdown), or
   * ends it cancelled when a cancel was asked; returns it as it is now, or null (and no write)
   * when the lease is lost.
   */
  release(lease: Lease): Promise<Job | null>;

  /**
   * Asks a job to stop: a queued job becomes `cancelled` at once, a running one gets
   * `cancelRequested`. Returns the job as it is now and whether this call changed it (false for a
   * finished job or a repeated request), or null when unknown.
   */
  requestCancel(id: string): Promise<CancelResult | null>;

  /** One job, or null. */
  get(id: string): Promise<Job | null>;

  /** Jobs newest first, filtered, a page at a time. */
  list(filter?: JobFilter): Promise<JobPage>;

  /** How many jobs of each status there are, per task (for metrics and the dashboard). */
  counts(): Promise<StatusCount[]>;

  /** Forgets a finished job with its logs, artifacts and recorded steps. */
  remove(id: string): Promise<'removed' | 'not-found' | 'unfinished'>;

  /**
   * Appends log lines, numbered in order, keeping at most `maxLines` per job (one `system` line
   * says where the cap cut). Returns the lines as stored, with their numbers; given an attempt's
   * lease instead of a job id, a fenced write: null (and nothing written) unless the job is still
   * running under that lease.
   */
  appendLogs(job: string | Lease, lines: readonly NewLogLine[], maxLines?: number): Promise<LogLine[] | null>;

  /** Log lines with `seq` greater than `after` (0 for all), oldest first, at most `limit`. */
  readLogs(jobId: string, options?: { after?: number; limit?: number }): Promise<LogLine[]>;

  /**
   * Stores a file a job produced, replacing one of the same name (a bad name or content type is a
   * ValidationError, before anything is written); given an attempt's lease, fenced as `appendLogs`:
   * null, and no trace of the file, unless the job is still running under that lease.
   */
  saveArtifact(job: string | Lease, artifact: NewArtifact): Promise<ArtifactInfo | null>;

  /**
   * Opens an artifact for reading, or null when there is none of that name. A stored content type
   * that is not a valid one (saved before types were checked) reads as `application/octet-stream`.
   */
  openArtifact(jobId: string, name: string): Promise<{ info: ArtifactInfo; body: Readable } | null>;

  /**
   * Records a step's result (`ctx.step`) under an attempt's lease, with the job's attempt number
   * and the time (later than the job's earlier records). A name recorded already keeps its record,
   * unless an earlier attempt made it: a later attempt that ran the step did not see that record,
   * and its own result, which it went on with, replaces it. False, and nothing written, unless
   * the job still runs under that lease: a fenced write.
   */
  recordStep(lease: Lease, step: NewStep): Promise<boolean>;

  /** A job's recorded steps, in the order they were recorded; removed with the job (remove, cleanup). */
  listSteps(jobId: string): Promise<RecordedStep[]>;

  /**
   * Finds running jobs whose lease expired (their worker died or hung): each goes back to
   * `queued`, or to `failed` with code STALLED when its attempts are spent. Returns them.
   */
  reapExpiredLeases(): Promise<Job[]>;

  /** Deletes finished jobs past their retention (never an unfinished one); returns how many. */
  cleanup(retention: CleanupRetention): Promise<number>;

  /** The earliest `runAt` of a queued job of these tasks (paused tasks and queues left out), so an idle worker knows when to look again. */
  nextRunAt(tasks: readonly string[]): Promise<IsoDate | null>;

  /**
   * Pauses a task, or a queue (every task whose jobs wait in it): from the next claim on, in
   * every process, their queued jobs are left queued (running ones finish). Returns the pause in
   * force: pausing what is paused keeps the first pause.
   */
  pause(request: PauseRequest): Promise<Pause>;

  /** Ends a pause; false when there was none. */
  resume(target: PauseTarget): Promise<boolean>;

  /** The pauses in force, oldest first. */
  listPauses(): Promise<Pause[]>;

  /**
   * How full a queue is now, from its rows: what a waiting job's reason and the queues' overview
   * are read from. Not serialised with claims: a snapshot, not a promise.
   */
  queueUsage(request: QueueUsageRequest): Promise<QueueUsage>;

  /**
   * The operators' figures over `since`..`until`: attempts started, jobs succeeded and failed per
   * bucket of `bucketMs` (only buckets with any), and each task's run times (nearest-rank p50,
   * p95, p99 of the attempts that succeeded or failed then). Reads the running jobs and those
   * finished since `since` (underway_jobs_finished), never the whole table: an attempt that went
   * back to `queued` (retry, release) is not counted as started.
   */
  stats(request: StatsRequest): Promise<JobStats>;

  /** Adds or refreshes a worker's row in the workers registry, seen now: one statement (each heartbeat tick). */
  touchWorker(worker: WorkerInfo): Promise<void>;

  /** Deletes a worker's row (a graceful stop); false when there was none. */
  removeWorker(id: string): Promise<boolean>;

  /** Deletes the rows of workers not seen since `before` (dead ones); returns how many. */
  pruneWorkers(before: IsoDate): Promise<number>;

  /** Every registered worker, by id, with the jobs each runs now (running jobs whose `workerId` is its id). */
  workers(): Promise<WorkerRecord[]>;

  /**
   * Records every queue's depth now (due and running jobs, and a `'*'` row for all) as the sample
   * of the minute `minute` (its start), unless that minute has one already; deletes samples older
   * than QUEUE_SAMPLES_KEPT_MS. True when this call wrote the sample. Workers call it from their
   * heartbeat: the first of the minute writes, the others find it there (one indexed read).
   */
  sampleQueues(minute: IsoDate): Promise<boolean>;

  /** The queue samples of `since`..`until`, oldest first, by queue within a minute. */
  queueSamples(since: IsoDate, until: IsoDate): Promise<QueueSample[]>;

  /**
   * Adds a recurring schedule, or updates the one of that name. Its `nextAt` is kept unless its
   * timing (cron, interval, time zone) changed or it is new: a process restarting with the same
   * config must not move a tick that is due and not yet fired.
   */
  saveSchedule(schedule: NewSchedule): Promise<Schedule>;

  /** Every schedule, by name. */
  listSchedules(): Promise<Schedule[]>;

  /** Deletes a schedule (its jobs stay); false when there was none. */
  removeSchedule(name: string): Promise<boolean>;

  /**
   * Fires a schedule's due ticks, exactly once however many processes try: in one transaction, if
   * its `nextAt` is still `expectedNextAt`, moves it to `nextAt` and adds `jobs`; returns them, or
   * null (and nothing written) when another process fired it first, or it was changed or removed.
   */
  fireSchedule(request: FireScheduleRequest): Promise<Job[] | null>;

  /** The events of every job, between every process sharing the store (event-channel.ts). */
  readonly events: EventChannel;

  /** Closes connections and stops listening (sending what the event channel still holds). */
  close(): Promise<void>;

  // Webhook deliveries (store/webhook-deliveries.ts): optional, both built-in stores have them; a
  // store without them cannot keep deliveries, and webhooks are then off (the sender says so).

  /**
   * Adds a `pending` delivery for each (job, url) of jobs (of `tasks`, when given) that ended with
   * one of `statuses` after the url was first recorded here (its start mark) and that have none yet; never one twice,
   * whoever else records at the same time. Returns how many it added.
   */
  recordWebhookDeliveries?(request: RecordWebhookDeliveriesRequest): Promise<number>;

  /**
   * Takes up to `limit` due pending deliveries to these urls, oldest due first, and hides each from
   * other claimers for `leaseMs`; no delivery is handed to two claimers at once.
   */
  claimWebhookDeliveries?(request: ClaimWebhookDeliveriesRequest): Promise<ClaimedWebhookDelivery[]>;

  /** Records a claimed delivery's try and what follows; false (and no write) when a later claim replaced this one. */
  settleWebhookDelivery?(claim: ClaimedWebhookDelivery, result: WebhookAttemptResult): Promise<boolean>;

  /** Deliveries newest first: one job's, or the latest of all. */
  listWebhookDeliveries?(filter?: WebhookDeliveryFilter): Promise<StoredWebhookDelivery[]>;

  /** Deletes deliveries recorded before `before`, whatever their state; returns how many. */
  pruneWebhookDeliveries?(before: IsoDate): Promise<number>;

  // Completing a job in the task's own transaction (`ctx.transaction`): optional, PostgreSQL has
  // it; on a store without it, tasks that ask are refused (store/task-transaction.ts).

  /**
   * Runs `fn` on a client inside a transaction of the store's own database, then ends the job
   * succeeded in that same transaction, fenced by the lease: the task's writes and its job's end
   * commit together, or neither does. Null, everything rolled back, when the lease is lost; an
   * error of `fn` rolls back and is thrown as it is.
   */
  completeInTransaction?<T>(
    lease: Lease,
    fn: (client: TransactionClient) => Promise<T>,
    options?: CompleteInTransactionOptions,
  ): Promise<CompletedInTransaction<T> | null>;

  /** How another process (a sandbox child) opens the same `completeInTransaction` on its own connection. */
  transactionTarget?(): TransactionTarget;

  // Child jobs (ctx.spawn, docs/children.md): optional, both built-in stores have them; on a store
  // without them a task that spawns is told so. Every end of a child (finish, cancel, reap,
  // release) counts toward its parent in the same transaction, and wakes it when it was the last.

  /**
   * Adds a child job of the job running under `parent` (its lease), owned by the parent's owner,
   * unless the parent has a child of that name already: then returns that one, `created: false`.
   * Null, and nothing written, when the lease is lost: a fenced write.
   */
  spawnChild?(parent: Lease, input: ChildInput): Promise<{ job: Job; created: boolean } | null>;

  /**
   * Ends an attempt that waits for the job's children, without counting it: back to `queued`, due
   * at once when every child has ended or more of them failed or were cancelled than
   * `failuresSeen` (what the attempt's wait read), else asleep (`runAt` WAITING_FOR_CHILDREN_AT)
   * until the last one ends or one fails; `cancelled` when a cancel was asked. Null (and no
   * write) when the lease is lost.
   */
  waitForChildren?(lease: Lease, failuresSeen: number): Promise<Job | null>;

  /** How a job's children stand now, counted from their rows (all zero for a job without any). */
  childSummary?(parentId: string): Promise<ChildSummary>;

  /** Writes a queued parent's bar (the sum of its children's); false, and no write, unless it is queued. */
  saveWaitingProgress?(parentId: string, progress: JobProgress): Promise<boolean>;
}

/** A child job to add (`spawnChild`): a job as `enqueue` takes it, with its name within its parent. */
export interface ChildInput extends EnqueueInput {
  /** Unique among the parent's children (core/children.ts `checkChildName`). */
  childName: string;
}

export interface EnqueueInput {
  /**
   * The new job's id, chosen by the caller with `newJobId()` (core/ids.ts) so that secret params
   * can be sealed for the job before it exists; default a new one. Unused when a dedupe key
   * returns the job holding it.
   */
  id?: string | null;
  task: string;
  /** Already validated (and sealed where a field is secret, for this `id` and `owner`). */
  params: unknown;
  owner?: string | null;
  dedupeKey?: string | null;
  runAt?: IsoDate | null;
  maxAttempts: number;
  timeoutSeconds?: number | null;
  /** Default 0; higher is claimed first among due jobs. */
  priority?: number | null;
  /** Default the task's name. */
  queue?: string | null;
  concurrencyKey?: string | null;
  retryOf?: string | null;
}

/** Backend-specific ways to enqueue. */
export interface EnqueueOptions {
  /**
   * The caller's own database client inside an open transaction (PostgreSQL: a `pg` client after
   * BEGIN): the job, and its event, exist only if that transaction commits. Only a store with
   * `joinsTransactions` uses it; `queue.start` refuses it for the others.
   */
  client?: TransactionClient | undefined;
}

/**
 * The caller's own database client, as much of it as a store uses: `pg`'s `Client` and
 * `PoolClient` fit as they are, so an app needs no type of underway's to pass one.
 */
export interface TransactionClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface CompleteInTransactionOptions {
  /**
   * Called after `fn`, inside the transaction, before the job's end is written: stores what must
   * come before the end (the attempt's log lines and progress, on other connections) and returns
   * the result to record (secret params redacted). A throw rolls everything back.
   */
  beforeCommit?(value: unknown): Promise<unknown>;
}

/** A job ended succeeded by `completeInTransaction`, as committed, and what `fn` returned. */
export interface CompletedInTransaction<T> {
  job: Job;
  value: T;
}

/**
 * Where a process that has no store object (a sandbox child) opens a store's task transactions:
 * a module to import, whose `openTaskTransactions(options)` returns `TaskTransactions`, and its
 * options, plain JSON (they cross IPC, never argv or the environment).
 */
export interface TransactionTarget {
  module: string;
  options: unknown;
}

/** A store's `completeInTransaction` opened from a `TransactionTarget`, on connections of its own. */
export interface TaskTransactions {
  completeInTransaction: NonNullable<Store['completeInTransaction']>;
  close(): Promise<void>;
}

export interface ClaimRequest {
  workerId: string;
  tasks: readonly string[];
  limit: number;
  leaseMs: number;
}

/** How many jobs of one queue may run at once, across every worker sharing the store. */
export interface QueueLimit {
  queue: string;
  /** Running jobs of the queue at most; null: no limit of its own. */
  concurrency: number | null;
  /** Running jobs of the queue with the same concurrency key at most; null: none. */
  perKey: number | null;
  /** Jobs of the queue started (claimed) in any window of `perSeconds` at most; null: no rate limit. */
  rate: { starts: number; perSeconds: number } | null;
  /** As `rate`, counted per concurrency key (jobs without a key are not limited by it); null: none. */
  ratePerKey: { starts: number; perSeconds: number } | null;
}

export interface QueueUsageRequest {
  queue: string;
  /** A concurrency key to count separately, or null. */
  key: string | null;
  /** The queue's rate window in seconds, or null to count no starts. */
  rateSeconds: number | null;
  /** The per-key rate window in seconds, or null (also when `key` is null). */
  keyRateSeconds: number | null;
}

export interface QueueUsage {
  /** Queued jobs of the queue that are due now (paused or not). */
  due: number;
  running: number;
  /** Running jobs of the queue with the request's key (0 without a key). */
  runningWithKey: number;
  /** Jobs of the queue started in the last `rateSeconds` (0 without a window). */
  startedInWindow: number;
  /** Jobs of the queue with the key started in the last `keyRateSeconds` (0 without). */
  startedWithKeyInWindow: number;
  /** The oldest `runAt` among its due jobs, or null. */
  oldestDueAt: IsoDate | null;
}

export interface StatsRequest {
  since: IsoDate;
  until: IsoDate;
  /** The width of a bucket; a bucket starts at `since` + n × `bucketMs`. */
  bucketMs: number;
}

export interface StatsBucket {
  /** Its start (`since` + n × `bucketMs`). */
  at: IsoDate;
  started: number;
  succeeded: number;
  failed: number;
}

export interface RunTimes {
  task: string;
  /** Attempts that succeeded or failed in the window. */
  count: number;
  /** Milliseconds from the attempt's start to its end, nearest rank. */
  p50: number;
  p95: number;
  p99: number;
}

export interface JobStats {
  /** Only the buckets with something in them, oldest first. */
  buckets: StatsBucket[];
  /** By task. */
  runTimes: RunTimes[];
}

/** A worker as it registers itself (`touchWorker`). */
export interface WorkerInfo {
  /** The id it claims jobs with (a job's `workerId`). */
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  tasks: readonly string[];
  /** Its heartbeat interval: it is alive while seen within a few of these. */
  beatMs: number;
  startedAt: IsoDate;
}

export interface WorkerRecord extends Omit<WorkerInfo, 'tasks'> {
  tasks: string[];
  seenAt: IsoDate;
  /** The jobs it runs now, oldest start first. */
  running: { id: string; task: string; startedAt: IsoDate | null }[];
}

/** A queue's depth at one minute (`sampleQueues`); queue `'*'` is every queue together. */
export interface QueueSample {
  at: IsoDate;
  queue: string;
  /** Queued jobs that were due (paused or not). */
  due: number;
  running: number;
}

/** Progress samples kept per job; when full, every other one is dropped. */
export const MAX_PROGRESS_SAMPLES = 200;
/** A progress write appends a sample at most this often (and always the last one of an attempt). */
export const PROGRESS_SAMPLE_GAP_MS = 1_000;
/** Queue samples are kept this long: the Overview shows a day. */
export const QUEUE_SAMPLES_KEPT_MS = 2 * 86_400_000;

export interface LimitedClaimRequest extends ClaimRequest {
  /** The limits of the queues of `tasks`' jobs: every claimed job fits them, counting every running job. */
  limits: readonly QueueLimit[];
}

export interface ClaimedJob {
  job: Job;
  lease: Lease;
  /**
   * Whether the job has recorded steps (ctx.step), when the claim tells (PostgreSQL): false spares
   * the attempt the read of its steps. Absent: unknown, the attempt reads them (SQLite, where the
   * read costs microseconds).
   */
  stepsRecorded?: boolean;
}

/** A recurring schedule as stored: when its task's jobs are started, with which params. */
export interface NewSchedule {
  name: string;
  task: string;
  /** A cron expression (5 or 6 fields), or null for an interval. */
  cron: string | null;
  /** An interval in whole seconds (ticks at multiples of it since the Unix epoch), or null for a cron. */
  everySeconds: number | null;
  /** The IANA time zone a cron expression is read in; null: UTC. */
  timezone: string | null;
  /** The params of every job it starts, as given (validated, never holding a secret). */
  params: unknown;
  owner: string | null;
  priority: number;
  /** Ticks missed by more than this many seconds (everything was down) are skipped; later ones still run. */
  catchUpSeconds: number;
  /** The next tick to fire. */
  nextAt: IsoDate;
  /** Where it was defined: the config (synced at every start) or the API, CLI or library at run time. */
  source: 'config' | 'runtime';
  createdBy: string | null;
}

export interface Schedule extends NewSchedule {
  /** The last tick fired, or null. */
  lastTickAt: IsoDate | null;
  createdAt: IsoDate;
  updatedAt: IsoDate;
}

export interface FireScheduleRequest {
  name: string;
  expectedNextAt: IsoDate;
  nextAt: IsoDate;
  /** The last tick these jobs are for. */
  lastTickAt: IsoDate;
  jobs: readonly EnqueueInput[];
}

/** What can be paused: a task or a queue, by name. */
export interface PauseTarget {
  kind: 'task' | 'queue';
  name: string;
}

export interface PauseRequest extends PauseTarget {
  /** Who paused it (a user id, `cli:<user>`), shown with the pause. */
  by?: string | null;
  reason?: string | null;
}

export interface Pause extends PauseTarget {
  by: string | null;
  reason: string | null;
  at: IsoDate;
}

export interface CancelResult {
  job: Job;
  /** True when this call cancelled a queued job or asked a running one to stop. */
  changed: boolean;
}

export interface HeartbeatResult {
  jobId: string;
  held: boolean;
  cancelRequested: boolean;
}

export interface JobFilter {
  status?: JobStatus | readonly JobStatus[];
  task?: string;
  owner?: string;
  /** The children of this job (`ctx.spawn`). */
  parent?: string;
  /**
   * Jobs whose id starts with this text, or whose params (as stored: secret values sealed)
   * contain it, ignoring ASCII case. It reads every job the other filters leave, newest first,
   * until the page is full: meant for people looking, not for a program's hot path.
   */
  search?: string;
  /** At most 200. Default 50. */
  limit?: number;
  /** From a previous page's `nextCursor`. */
  cursor?: string | null;
}

export interface JobPage {
  jobs: Job[];
  nextCursor: string | null;
}

export interface StatusCount {
  task: string;
  status: JobStatus;
  count: number;
}

export interface NewArtifact {
  name: string;
  /** A MIME type (RFC 9110 `type/subtype` and parameters, printable ASCII, at most 200 characters). */
  contentType: string;
  body: Uint8Array | Readable;
}

export interface CleanupRetention {
  /** Days a succeeded job is kept. */
  succeededDays: number;
  /** Days a failed or cancelled job is kept. */
  failedDays: number;
  /** Per-task overrides. */
  tasks?: Readonly<Record<string, Retention>>;
  /** "Now", for tests. */
  now?: Date;
}

/**
 * What subscribers hear. Every event names the job's task and owner so that a server can filter
 * by who may see it without a query per event.
 */
export type JobEvent =
  | {
      type: 'status';
      jobId: string;
      task: string;
      owner: string | null;
      status: JobStatus;
      cancelRequested: boolean;
      error?: JobError | null;
      result?: unknown;
    }
  | { type: 'progress'; jobId: string; task: string; owner: string | null; progress: JobProgress }
  | {
      type: 'log';
      jobId: string;
      task: string;
      owner: string | null;
      stream: LogStream;
      line: string;
      at: IsoDate;
      seq: number;
      /** The attempt that printed it (absent from processes older than this field). */
      attempt?: number | null;
    };

export const MAX_LIST_LIMIT = 200;
export const DEFAULT_LIST_LIMIT = 50;

// A job's log lines and their limits belong to the job model (core/job.ts); here for the stores' callers.
export type { LogLine, LogStream, NewLogLine, ProgressSample } from '../core/job.ts';
export { DEFAULT_MAX_LOG_LINES, MAX_LOG_LINE_LENGTH } from '../core/job.ts';
// A step's record belongs to the step rules (core/steps.ts); here for the stores' callers.
export type { NewStep, RecordedStep } from '../core/steps.ts';
