import type { Readable } from 'node:stream';
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
  ClaimedJob,
  ClaimRequest,
  CleanupRetention,
  EnqueueInput,
  EnqueueOptions,
  HeartbeatResult,
  JobEvent,
  JobFilter,
  JobPage,
  LimitedClaimRequest,
  LogLine,
  NewArtifact,
  NewLogLine,
  Pause,
  PauseRequest,
  PauseTarget,
  QueueUsage,
  QueueUsageRequest,
  StatusCount,
  Store,
} from '../store/store.ts';
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

  /** Stores a running job's latest progress; false (and no write) when the lease is lost. */
  saveProgress(lease: Lease, progress: JobProgress): Promise<boolean> {
    return this.store.saveProgress(lease, progress);
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

  /** Ends an attempt as the outcome says; null (and no write) when the lease is lost. */
  async finish(lease: Lease, outcome: Outcome): Promise<Job | null> {
    const job = await this.store.finish(lease, outcome);
    if (job) this.#reportEnded(job);
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
    return job;
  }

  /** Forgets a finished job with its logs and artifacts; NotFoundError, or ConflictError while it is unfinished. */
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
