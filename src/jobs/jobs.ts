import type { Readable } from 'node:stream';
import type { ChildSummary } from '../core/children.ts';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import {
  type ArtifactInfo,
  type IsoDate,
  isTerminal,
  type Job,
  type JobProgress,
  type Lease,
  type Outcome,
} from '../core/job.ts';
import { CANCELLED, cancelledError } from '../core/job-texts.ts';
import { EventHub } from '../store/event-hub.ts';
import type {
  ChildInput,
  ClaimedJob,
  ClaimRequest,
  CleanupRetention,
  CompletedInTransaction,
  CompleteInTransactionOptions,
  EnqueueInput,
  EnqueueOptions,
  HeartbeatResult,
  JobEvent,
  JobFilter,
  JobPage,
  JobStats,
  LimitedClaimRequest,
  LogLine,
  NewArtifact,
  NewLogLine,
  NewStep,
  Pause,
  PauseRequest,
  PauseTarget,
  ProgressSample,
  QueueSample,
  QueueUsage,
  QueueUsageRequest,
  RecordedStep,
  StatsRequest,
  StatusCount,
  Store,
  TransactionClient,
  WorkerInfo,
  WorkerRecord,
} from '../store/store.ts';
import { cancelChildren, childEnded, childrenOf, warn as warnAbout } from './children.ts';
import { LateEvents } from './late-events.ts';

/** Told of a job that reached a final status, once, in the process that made the transition. */
export type EndedListener = (job: Job) => void | Promise<void>;

const layers = new WeakMap<Store, Jobs>();

/**
 * The one layer between every caller and a store: the queue (and through it the HTTP API, the
 * dashboard, the CLI and a host's own routes), the worker and the reaper all change jobs here.
 *
 * The store only stores; what must happen once per transition happens here, whoever made it:
 * - `onEnded` listeners hear of every job that reaches a final status through any holder of this
 *   store in this process (a worker's finish, a cancel of a queued job, the reaper failing a job
 *   STALLED). Each transition happens in exactly one process, so a listener counting ends (the
 *   run-time histogram) counts each job once however many processes share the store.
 * - a running job's progress and stored log lines are published as events, and the rules a
 *   caller meets (what may be cancelled or removed, and the words of the refusal) are written once.
 *
 * There is one per store object (`Jobs.of(store)`), so a worker built on the bare store and an
 * HTTP app built on the same store share listeners: nothing has to be handed around for a
 * transition to be seen. Durable effects (webhooks) do not hang here: they are written by the
 * store with the transition (store/webhook-deliveries.ts) and survive a crash right after it.
 */
export class Jobs {
  readonly store: Store;
  readonly #ended = new Set<EndedListener>();
  /** This layer's listeners, fed by one listener on the store's channel while there are any. */
  readonly #listeners = new EventHub();
  #stopListening: (() => void) | null = null;
  readonly #late = new LateEvents();
  /** Parents whose bar is being recounted, and whether a child ended since the count began. */
  readonly #parents = new Map<string, { again: boolean }>();
  /** Jobs whose children are being cancelled. */
  readonly #cancelling = new Map<string, Promise<void>>();

  private constructor(store: Store) {
    this.store = store;
  }

  /** The layer over this store: one per store object, created on first use. */
  static of(store: Store): Jobs {
    let jobs = layers.get(store);
    if (!jobs) {
      jobs = new Jobs(store);
      layers.set(store, jobs);
    }
    return jobs;
  }

  /** Listens for jobs that end through this process (see the class); returns the unsubscribe. */
  onEnded(listener: EndedListener): () => void {
    this.#ended.add(listener);
    return () => this.#ended.delete(listener);
  }

  // Adding jobs: validation and sealing are the queue's (queue/queue.ts), which calls these.

  enqueue(input: EnqueueInput, options?: EnqueueOptions): Promise<{ job: Job; created: boolean }> {
    return this.store.enqueue(input, options);
  }

  enqueueMany(inputs: readonly EnqueueInput[], options?: EnqueueOptions): Promise<{ job: Job; created: boolean }[]> {
    return this.store.enqueueMany(inputs, options);
  }

  // A worker's side: claims, leases, progress, logs, files and the end of an attempt.

  claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    return this.store.claim(request);
  }

  /** Claims jobs of queues with limits, only those that fit the limits over every worker. */
  claimLimited(request: LimitedClaimRequest): Promise<ClaimedJob[]> {
    return this.store.claimLimited(request);
  }

  heartbeat(leases: readonly Lease[], leaseMs: number): Promise<HeartbeatResult[]> {
    return this.store.heartbeat(leases, leaseMs);
  }

  /** Tells every subscriber, in every process, of a running job's progress (not stored: see saveProgress). */
  reportProgress(job: Job, progress: JobProgress): void {
    this.store.events.send({ type: 'progress', jobId: job.id, task: job.task, owner: job.owner, progress });
  }

  /** Stores a running job's latest progress (with `sample`, also as a point of its progress over time); false (and no write) when the lease is lost. */
  saveProgress(lease: Lease, progress: JobProgress, sample = false): Promise<boolean> {
    return this.store.saveProgress(lease, progress, sample);
  }

  /** A job's progress over time, oldest first. */
  progressSamples(jobId: string): Promise<ProgressSample[]> {
    return this.store.progressSamples(jobId);
  }

  /**
   * Appends a running job's log lines, fenced by its lease, and publishes them as stored (with
   * their numbers); null, and nothing written or published, when the lease is lost.
   */
  async appendLogs(job: Job, lease: Lease, lines: readonly NewLogLine[], maxLines?: number): Promise<LogLine[] | null> {
    const stored = await this.store.appendLogs(lease, lines, maxLines);
    for (const line of stored ?? []) {
      this.store.events.send({ type: 'log', jobId: job.id, task: job.task, owner: job.owner, ...line });
    }
    return stored;
  }

  saveArtifact(lease: Lease, artifact: NewArtifact): Promise<ArtifactInfo | null> {
    return this.store.saveArtifact(lease, artifact);
  }

  /** Records a step's result (ctx.step) under the attempt's lease; false (and no write) when the lease is lost. */
  recordStep(lease: Lease, step: NewStep): Promise<boolean> {
    return this.store.recordStep(lease, step);
  }

  /** A job's recorded steps, in the order recorded: what an attempt resumes from, and what the job page shows. */
  listSteps(jobId: string): Promise<RecordedStep[]> {
    return this.store.listSteps(jobId);
  }

  /** Ends an attempt as the outcome says; null (and no write) when the lease is lost. */
  async finish(lease: Lease, outcome: Outcome): Promise<Job | null> {
    const job = await this.store.finish(lease, outcome);
    if (job) this.#reportEnded(job);
    return job;
  }

  /**
   * Runs a task's `fn` in a transaction of the store's database and ends its job succeeded in that
   * transaction (`store.completeInTransaction`, ctx.transaction); the end is reported as a finish's
   * is. Null when the lease is lost (nothing committed).
   */
  async completeInTransaction<T>(
    lease: Lease,
    fn: (client: TransactionClient) => Promise<T>,
    options?: CompleteInTransactionOptions,
  ): Promise<CompletedInTransaction<T> | null> {
    if (!this.store.completeInTransaction) {
      throw new TypeError(`The ${this.store.kind} store cannot complete a job in a transaction.`);
    }
    const done = await this.store.completeInTransaction(lease, fn, options);
    if (done) this.#reportEnded(done.job);
    return done;
  }

  /**
   * Reports the end of a job that an attempt committed in a transaction of another process (a
   * sandbox child's ctx.transaction), once the store shows it: succeeded at that attempt's number,
   * which no other attempt can have (a later claim counts a higher one). Returns it, or null.
   */
  async confirmCompleted(attempt: Job): Promise<Job | null> {
    const job = await this.store.get(attempt.id);
    if (job?.status !== 'succeeded' || job.attempt !== attempt.attempt) return null;
    this.#reportEnded(job);
    return job;
  }

  /** Ends a claimed job that never started because it was cancelled while it waited for a slot. */
  finishCancelled(lease: Lease): Promise<Job | null> {
    return this.finish(lease, { status: 'cancelled', error: cancelledError(CANCELLED.onRequest) });
  }

  /**
   * Gives a running job back to the queue without counting the attempt, or ends it cancelled when
   * a cancel was asked meanwhile; null when the lease is lost.
   */
  async release(lease: Lease): Promise<Job | null> {
    const job = await this.store.release(lease);
    if (job) this.#reportEnded(job);
    return job;
  }

  // Child jobs (ctx.spawn, docs/children.md; the rules around them are in ./children.ts).

  /**
   * Adds a child of the job running under `parent`, or returns the child of that name it has
   * already; null when the lease is lost. A TypeError on a store without child jobs.
   */
  spawn(parent: Lease, input: ChildInput): Promise<{ job: Job; created: boolean } | null> {
    if (!this.store.spawnChild) throw new TypeError(`The ${this.store.kind} store cannot start child jobs.`);
    return this.store.spawnChild(parent, input);
  }

  /**
   * Ends an attempt that waits for its job's children, uncounted: the job sleeps until the last one
   * ends or one fails (its bar the sum of theirs meanwhile), or is due at once if they all have, or
   * more failed than `failuresSeen`; cancelled if a cancel was asked. Null when the lease is lost.
   */
  async waitForChildren(lease: Lease, failuresSeen: number): Promise<Job | null> {
    if (!this.store.waitForChildren) throw new TypeError(`The ${this.store.kind} store cannot wait for child jobs.`);
    const job = await this.store.waitForChildren(lease, failuresSeen);
    if (job?.status === 'queued') this.#childrenChanged(job.id);
    else if (job) this.#reportEnded(job);
    return job;
  }

  /** How a job's children stand now (all zero without any, or on a store without child jobs). */
  async childSummary(parentId: string): Promise<ChildSummary> {
    if (this.store.childSummary) return this.store.childSummary(parentId);
    return { total: 0, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0, done: 0 };
  }

  /** Every child of a job, oldest first. */
  children(parentId: string): Promise<Job[]> {
    return childrenOf(this.store, parentId);
  }

  /**
   * A parent's children changed: its bar and, when it was woken, the event that tells workers. Calls
   * for one parent while one runs coalesce into one more run: a hundred children ending together
   * cost a few recounts, not a hundred.
   */
  #childrenChanged(parentId: string): void {
    const pending = this.#parents.get(parentId);
    if (pending) {
      pending.again = true;
      return;
    }
    const state = { again: false };
    this.#parents.set(parentId, state);
    const run = async (): Promise<void> => {
      do {
        state.again = false;
        await childEnded(this.store, parentId).catch((error: unknown) =>
          warnAbout('could not update a parent job', parentId, error),
        );
      } while (state.again);
      this.#parents.delete(parentId);
    };
    void run();
  }

  /** Cancels a job's unfinished children once at a time per job, however many callers ask. */
  #cancelChildren(parentId: string): Promise<void> {
    let running = this.#cancelling.get(parentId);
    if (!running) {
      running = cancelChildren(this.store, parentId, (id) => this.cancel(id)).finally(() =>
        this.#cancelling.delete(parentId),
      );
      this.#cancelling.set(parentId, running);
    }
    return running;
  }

  /** Queues again, or ends, the running jobs whose worker stopped renewing their lease. */
  async reapExpiredLeases(): Promise<Job[]> {
    const jobs = await this.store.reapExpiredLeases();
    for (const job of jobs) this.#reportEnded(job);
    return jobs;
  }

  // An app's side: look at and steer jobs.

  get(id: string): Promise<Job | null> {
    return this.store.get(id);
  }

  /** The job, or a NotFoundError. */
  async require(id: string): Promise<Job> {
    const job = await this.store.get(id);
    if (!job) throw notFound(id);
    return job;
  }

  list(filter?: JobFilter): Promise<JobPage> {
    return this.store.list(filter);
  }

  counts(): Promise<StatusCount[]> {
    return this.store.counts();
  }

  readLogs(jobId: string, options?: { after?: number; limit?: number }): Promise<LogLine[]> {
    return this.store.readLogs(jobId, options);
  }

  openArtifact(jobId: string, name: string): Promise<{ info: ArtifactInfo; body: Readable } | null> {
    return this.store.openArtifact(jobId, name);
  }

  nextRunAt(tasks: readonly string[]): Promise<IsoDate | null> {
    return this.store.nextRunAt(tasks);
  }

  /**
   * Asks a queued or running job to stop (a queued one ends at once), in one store call. A
   * NotFoundError for an unknown job, a ConflictError for one that has already ended; asking
   * again while a running job winds down returns it unchanged.
   */
  async cancel(id: string): Promise<Job> {
    const result = await this.store.requestCancel(id);
    if (!result) throw notFound(id);
    const { job, changed } = result;
    if (changed) this.#reportEnded(job);
    else if (isTerminal(job.status)) throw new ConflictError(`Job ${id} has already ended (${job.status}).`);
    // Its children go with it, whoever asked (the API, the CLI, a bulk cancel): waited for, so the
    // caller sees them cancelled (queued ones) or asked to stop (running ones) when this returns.
    await this.#cancelChildren(id);
    return job;
  }

  /** Forgets a finished job with its logs, artifacts and steps; NotFoundError, or ConflictError while it is unfinished. */
  async remove(id: string): Promise<void> {
    const outcome = await this.store.remove(id);
    if (outcome === 'not-found') throw notFound(id);
    if (outcome === 'unfinished') throw new ConflictError(`Job ${id} is still queued or running; cancel it first.`);
  }

  /** Deletes finished jobs past their retention; returns how many. */
  cleanup(retention: CleanupRetention): Promise<number> {
    return this.store.cleanup(retention);
  }

  // Pauses: a paused task's or queue's queued jobs wait; running ones finish.

  /** Pauses a task or a queue in every process, from their next claim on; the pause in force (the first) is returned. */
  pause(request: PauseRequest): Promise<Pause> {
    return this.store.pause(request);
  }

  /** Ends a task's or a queue's pause: workers take its jobs again at their next look (at most their poll interval). */
  resume(target: PauseTarget): Promise<boolean> {
    return this.store.resume(target);
  }

  pauses(): Promise<Pause[]> {
    return this.store.listPauses();
  }

  /** How full a queue is now (a snapshot): what a waiting job's reason and the queues' overview are read from. */
  queueUsage(request: QueueUsageRequest): Promise<QueueUsage> {
    return this.store.queueUsage(request);
  }

  /** Jobs started, succeeded and failed per bucket, and run times per task (the Overview page). */
  stats(request: StatsRequest): Promise<JobStats> {
    return this.store.stats(request);
  }

  // The workers registry: each worker writes its own row; the Overview reads them all.

  touchWorker(worker: WorkerInfo): Promise<void> {
    return this.store.touchWorker(worker);
  }

  removeWorker(id: string): Promise<boolean> {
    return this.store.removeWorker(id);
  }

  pruneWorkers(before: IsoDate): Promise<number> {
    return this.store.pruneWorkers(before);
  }

  workers(): Promise<WorkerRecord[]> {
    return this.store.workers();
  }

  /** Records the queues' depth for `minute` unless some worker did (each heartbeat asks). */
  sampleQueues(minute: IsoDate): Promise<boolean> {
    return this.store.sampleQueues(minute);
  }

  queueSamples(since: IsoDate, until: IsoDate): Promise<QueueSample[]> {
    return this.store.queueSamples(since, until);
  }

  // Events: every job's, from every process sharing the store.

  publish(event: JobEvent): void {
    this.store.events.send(event);
  }

  /**
   * Listens to the events of all jobs, from every process sharing the store, in the order heard,
   * without those that arrive after their job's end (LateEvents): whatever the backend, a
   * listener never sees a job run again or its bar move after it ended. Returns the unsubscribe.
   */
  subscribe(listener: (event: JobEvent) => void): () => void {
    const off = this.#listeners.add(listener);
    this.#stopListening ??= this.store.events.listen((event) => {
      if (!this.#late.stale(event)) this.#listeners.deliver(event);
    });
    return () => {
      off();
      // The last one gone: stop listening (SQLite stops tailing the events table).
      if (this.#listeners.size === 0 && this.#stopListening) {
        this.#stopListening();
        this.#stopListening = null;
      }
    };
  }

  #reportEnded(job: Job): void {
    if (!isTerminal(job.status)) return;
    if (job.parentId) this.#childrenChanged(job.parentId);
    // A parent that failed or was cancelled has no use for its unfinished children: they go too.
    if (job.status !== 'succeeded') {
      this.#cancelChildren(job.id).catch((error: unknown) =>
        warnAbout('could not cancel the children of', job.id, error),
      );
    }
    // Listeners are best-effort: the job's end is written already and must not be disturbed.
    const warn = (error: unknown) => process.emitWarning(`underway: a job-ended listener threw: ${String(error)}`);
    for (const listener of this.#ended) {
      try {
        void Promise.resolve(listener(job)).catch(warn);
      } catch (error) {
        warn(error);
      }
    }
  }
}

function notFound(id: string): NotFoundError {
  return new NotFoundError(`There is no job ${id}.`);
}
