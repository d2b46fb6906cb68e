import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { retryDelayMs } from '../core/backoff.ts';
import { toError } from '../core/errors.ts';
import { DEFAULT_MAX_LOG_LINES } from '../core/job.ts';
import { CANCELLED } from '../core/job-texts.ts';
import { TaskRegistry } from '../core/registry.ts';
import type { SecretKeySource } from '../core/secrets.ts';
import type { AnyTask } from '../core/task.ts';
import { Jobs } from '../jobs/jobs.ts';
import { createLogger, type Logger, OutageLog } from '../logger.ts';
import { type QueueLimits, queueLimitList } from '../queue/limits.ts';
import { createQueue } from '../queue/queue.ts';
import { Scheduler, scheduleDefinitions } from '../schedule/scheduler.ts';
import type { ScheduleInput } from '../schedule/schedules.ts';
import type { ClaimedJob, JobEvent, QueueLimit, Store } from '../store/store.ts';
import { Attempt } from './attempt.ts';
import { ChildJobs } from './child-jobs.ts';
import { inProcessRunner } from './in-process-runner.ts';
import { WorkerRegistration } from './registration.ts';
import type { JobRunner } from './runner.ts';

/** A queue's limits (see `WorkerOptions.queues`). */
export type { QueueLimits } from '../queue/limits.ts';

export interface WorkerOptions {
  /** Where jobs live. Jobs ended here are heard by `Jobs.of(store).onEnded` listeners in this process. */
  store: Store;
  tasks: readonly AnyTask[] | TaskRegistry;
  /** Jobs run at once by this worker. Default 4. */
  concurrency?: number | undefined;
  /**
   * Jobs claimed ahead, beyond `concurrency`, and held by this worker until a slot frees. Default
   * 0. For queues of many short jobs: one claim fetches many jobs, and a freed slot starts the next
   * one without a round trip to the store. The cost: a prefetched job shows as `running` from its
   * claim, no other worker can take it meanwhile, and if this process dies the claim counts as an
   * attempt, as a crash mid-run does (the reaper queues it again while attempts remain; a job
   * with one attempt fails STALLED). A graceful stop hands them back uncounted (docs/performance.md).
   */
  prefetch?: number | undefined;
  /**
   * Where task code runs. Default `inProcessRunner()`: in this process, which is the choice for
   * tests and trusted code. `sandboxRunner({ module })` runs each job in a pooled child process,
   * so a crash, a leak or `process.exit()` ends that job and not the server (docs/sandbox.md).
   */
  runner?: JobRunner | undefined;
  /** A name that says which process this is, in the store and the logs. Default host:pid:random. */
  workerId?: string | undefined;
  /** How long a claim lasts without renewal. Default 30 s; renewed every third of it. */
  leaseMs?: number | undefined;
  /** Look for due jobs at least this often even without a wake-up event. Default 1 s. */
  pollMs?: number | undefined;
  /** Look for jobs whose worker died this often. Default half the lease. */
  reapMs?: number | undefined;
  /** After an abort (cancel, timeout), how long task code gets to stop before it is ended. Default 10 s. */
  cancelGraceMs?: number | undefined;
  /** Writes of one job's progress to the store per second at most. Default 4. */
  progressWritesPerSecond?: number | undefined;
  maxLogLines?: number | undefined;
  /**
   * Limits per queue (a task's `queue`, else its name), held across every worker sharing the
   * store: `concurrency` running jobs of the queue at most, `concurrencyPerKey` of one
   * concurrency key. Every worker must be given the same (the config's `queues`).
   *
   * @example
   * queues: { exports: { concurrency: 2, concurrencyPerKey: 1 } }
   */
  queues?: Readonly<Record<string, QueueLimits>> | undefined;
  /**
   * Recurring schedules this worker fires (with every other worker sharing the store, each tick
   * exactly once): the tasks' own (`defineTask({ schedule })`), plus these (the config's
   * `schedules`). Checked here, saved at `start()`. `false`: fire none, not even the tasks' own.
   */
  schedules?: readonly ScheduleInput[] | false | undefined;
  /** Opens secret params (see core/secrets.ts). Default: UNDERWAY_SECRET_KEY or the data folder's key file. */
  secretKey?: SecretKeySource | undefined;
  logger?: Logger | undefined;
}

/**
 * A worker claims due jobs of the tasks it knows and runs them, `concurrency` at a time.
 *
 *   created ──start()──▶ running ──stop()──▶ stopping ──▶ stopped
 *                          │  ▲                  │ no new claims; running jobs get the grace
 *      wake-up (enqueue    │  │ a slot frees      │ period, then are aborted and handed back
 *      event, poll, due    ▼  │                   ▼ (released) for another worker to take
 *      runAt) ──────▶ claim(free slots)
 *
 * Leases are renewed together every `leaseMs / 3`; a job whose lease is lost is aborted and
 * nothing more is written for it (another worker may be running it by then).
 */
export class Worker {
  readonly id: string;
  readonly #jobs: Jobs;
  readonly #tasks: TaskRegistry;
  readonly #runner: JobRunner;
  readonly #log: Logger;
  /** The store failing in the claim loop, the reaper or the heartbeat: logged once per outage, not per call. */
  readonly #outage: OutageLog;
  readonly #concurrency: number;
  readonly #prefetch: number;
  /** Attempts whose task ended but whose outcome is still being written, at most (see #claimRound). */
  readonly #maxFinishing: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #reapMs: number;
  readonly #cancelGraceMs: number;
  readonly #progressRate: number;
  readonly #maxLogLines: number;
  readonly #secretKey: SecretKeySource | undefined;
  /** Starts and reads the children of the jobs this worker runs (ctx.spawn, ctx.wait). */
  readonly #children: ChildJobs;
  readonly #running = new Map<string, Attempt>();
  /**
   * Attempts whose task code runs: what `concurrency` bounds. An attempt whose task has ended
   * but whose outcome is still being written stays in #running (its lease is renewed) but frees
   * its slot; at most #maxFinishing of those, so a slow store cannot pile them up.
   */
  #busy = 0;
  /** Claimed ahead (`prefetch`), not started yet, oldest first; their leases are renewed with the rest. */
  readonly #waiting = new Map<string, ClaimedJob>();
  /** Cancels heard while a claim was in flight, for jobs that claim may be about to start. */
  readonly #cancelsDuringClaim = new Set<string>();
  #state: 'created' | 'running' | 'stopping' | 'stopped' = 'created';
  #claiming = false;
  /** The claim round in flight, if any: `stop()` waits for it, so the jobs it brings are handed back before stop resolves. */
  #claimDone: Promise<void> = Promise.resolve();
  #wakeAgain = false;
  #pollTimer: NodeJS.Timeout | null = null;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #reapTimer: NodeJS.Timeout | null = null;
  /** This worker's row in the workers registry (the Overview page), refreshed at each heartbeat tick. */
  #registration: WorkerRegistration | null = null;
  #unsubscribe: (() => void) | null = null;
  #idleWaiters: (() => void)[] = [];
  /** Fires recurring schedules (schedule/scheduler.ts); null with `schedules: false`. */
  #scheduler: Scheduler | null = null;
  /** Tasks whose queue has no limit (one plain claim) and those whose queue has (the limited claim), with the limits. */
  readonly #plainTasks: string[];
  readonly #limitedTasks: string[];
  readonly #limits: QueueLimit[];
  /** Which claim goes first this round: they alternate, so neither kind starves the other of slots. */
  #limitedFirst = false;

  constructor(options: WorkerOptions) {
    this.#jobs = Jobs.of(options.store);
    this.#tasks = options.tasks instanceof TaskRegistry ? options.tasks : new TaskRegistry(options.tasks);
    this.#runner = options.runner ?? inProcessRunner();
    this.#concurrency = Math.max(1, options.concurrency ?? 4);
    this.#prefetch = Math.max(0, Math.floor(options.prefetch ?? 0));
    // Outcomes are written in batches (one statement per batch): while one batch commits, the next
    // jobs run and their outcomes gather. Capping this at `concurrency` made the worker wait for every
    // commit, 10 jobs per round trip at c10 (docs/performance.md); a slow store still stops claims here.
    this.#maxFinishing = Math.max(100, this.#concurrency + this.#prefetch);
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#pollMs = options.pollMs ?? 1_000;
    this.#reapMs = options.reapMs ?? Math.max(100, this.#leaseMs / 2);
    this.#cancelGraceMs = options.cancelGraceMs ?? 10_000;
    this.#progressRate = options.progressWritesPerSecond ?? 4;
    this.#maxLogLines = options.maxLogLines ?? DEFAULT_MAX_LOG_LINES;
    this.#secretKey = options.secretKey;
    this.id = options.workerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.#log = (options.logger ?? createLogger()).child({ worker: this.id });
    this.#outage = new OutageLog(this.#log);
    ({
      plain: this.#plainTasks,
      limited: this.#limitedTasks,
      limits: this.#limits,
    } = splitByLimits(this.#tasks.all(), options.queues ?? {}));
    // Schedules and child jobs start jobs as any caller does: checked and sealed by the queue.
    const queue = createQueue({ store: options.store, tasks: this.#tasks, secretKey: options.secretKey });
    this.#children = new ChildJobs(this.#jobs, queue);
    if (options.schedules !== false) {
      const definitions = scheduleDefinitions(this.#tasks.all(), options.schedules ?? []);
      this.#scheduler = new Scheduler({ queue, definitions, logger: this.#log });
    }
  }

  /** Jobs running now (their task, or the writing of their outcome). */
  get running(): number {
    return this.#running.size;
  }

  /** Jobs claimed ahead (`prefetch`) and not started yet. */
  get waiting(): number {
    return this.#waiting.size;
  }

  start(): this {
    if (this.#state !== 'created') throw new Error(`This worker was already started (it is ${this.#state}).`);
    this.#state = 'running';
    const names = new Set(this.#tasks.names());
    this.#unsubscribe = this.#jobs.subscribe((event) => this.#onEvent(event, names));
    const beatMs = Math.max(50, this.#leaseMs / 3);
    this.#registration = new WorkerRegistration(
      this.#jobs,
      {
        id: this.id,
        host: hostname(),
        pid: process.pid,
        concurrency: this.#concurrency,
        tasks: [...names],
        beatMs,
        startedAt: new Date().toISOString(),
      },
      (error) => this.#outage.failed(error),
    );
    this.#registration.start();
    this.#heartbeatTimer = setInterval(() => void this.#heartbeat(), beatMs);
    this.#reapTimer = setInterval(() => void this.#reap(), this.#reapMs);
    this.#log.info({ tasks: [...names], concurrency: this.#concurrency }, 'worker started');
    this.#scheduler?.start().catch((error: unknown) => {
      this.#log.error({ err: toError(error) }, 'could not save the schedules; none will fire from this worker');
    });
    this.#wake();
    return this;
  }

  #onEvent(event: JobEvent, names: Set<string>): void {
    if (event.type !== 'status' || !names.has(event.task)) return;
    if (event.status === 'queued') this.#wake();
    else if (event.cancelRequested) {
      const attempt = this.#running.get(event.jobId);
      if (attempt) attempt.abort('cancel', CANCELLED.onRequest);
      else if (this.#waiting.has(event.jobId)) this.#cancelWaiting(event.jobId);
      // The job may be in a claim that has not returned yet: its row said "not cancelled" when read.
      else if (this.#claiming) this.#cancelsDuringClaim.add(event.jobId);
    }
  }

  /** Claims as soon as possible; calls made while a claim runs coalesce into one more round. */
  #wake(): void {
    if (this.#state !== 'running') return;
    if (this.#claiming) {
      this.#wakeAgain = true;
      return;
    }
    this.#claiming = true;
    this.#claimDone = this.#claimRound().finally(() => {
      this.#claiming = false;
      if (this.#wakeAgain) {
        this.#wakeAgain = false;
        this.#wake();
      }
    });
  }

  async #claimRound(): Promise<void> {
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = null;
    let nextPollMs = this.#pollMs;
    try {
      const wanted = this.#concurrency - this.#busy + this.#prefetch - this.#waiting.size;
      const free = this.#finishing < this.#maxFinishing ? wanted : 0;
      if (free > 0) {
        const claimed = await this.#claim(free);
        if (this.#state !== 'running') {
          // Stopped while claiming: give the jobs straight back.
          await Promise.all(claimed.map(({ lease }) => this.#jobs.release(lease)));
          return;
        }
        for (const claim of claimed) this.#waiting.set(claim.job.id, claim);
        // Their rows said "not cancelled" when read; a cancel heard since ends them without running.
        for (const id of this.#cancelsDuringClaim) this.#cancelWaiting(id);
        this.#cancelsDuringClaim.clear();
        this.#startWaiting();
        if (claimed.length === free) {
          if (this.#wantsMore()) this.#wakeAgain = true;
        } else if (!this.#wakeAgain) {
          // Only the plain tasks: a limited queue's due jobs may wait for a place, which a job's
          // end (an event) or the poll brings; waking for them now would spin. Not when a wake came
          // during the claim (a job just started, say): the next round claims at once instead of
          // after this round trip, and looks again itself (pick-up, docs/performance.md run J).
          const next = this.#plainTasks.length > 0 ? await this.#jobs.nextRunAt(this.#plainTasks) : null;
          if (next) nextPollMs = Math.min(nextPollMs, Math.max(0, Date.parse(next) - Date.now()));
        }
        this.#outage.succeeded();
      }
    } catch (error) {
      // While the store fails, the poll backs off (pollMs doubling, capped at 30 s): a retry
      // every second added load to a database that was struggling to come back.
      const failures = this.#outage.failed(toError(error));
      nextPollMs = retryDelayMs(
        {
          type: 'exponential',
          baseSeconds: this.#pollMs / 1000,
          maxSeconds: Math.max(30, this.#pollMs / 1000),
          jitter: true,
        },
        failures,
      );
    }
    if (this.#state === 'running') {
      this.#pollTimer = setTimeout(() => this.#wake(), nextPollMs);
    }
  }

  /** Attempts whose task has ended and whose outcome is being written. */
  get #finishing(): number {
    return this.#running.size - this.#busy;
  }

  /** Room to claim: a free slot with nothing waiting for it, or the prefetch half used. */
  #wantsMore(): boolean {
    if (this.#finishing >= this.#maxFinishing) return false;
    return this.#waiting.size === 0 ? this.#busy < this.#concurrency : this.#waiting.size <= this.#prefetch / 2;
  }

  /** Claims up to `free` jobs: the plain claim and the limited one, in turns going first. */
  async #claim(free: number): Promise<ClaimedJob[]> {
    const base = { workerId: this.id, leaseMs: this.#leaseMs };
    const plain = (limit: number) =>
      limit > 0 && this.#plainTasks.length > 0
        ? this.#jobs.claim({ ...base, tasks: this.#plainTasks, limit })
        : Promise.resolve([]);
    const limited = (limit: number) =>
      limit > 0 && this.#limitedTasks.length > 0
        ? this.#jobs.claimLimited({ ...base, tasks: this.#limitedTasks, limits: this.#limits, limit })
        : Promise.resolve([]);
    this.#limitedFirst = !this.#limitedFirst && this.#limitedTasks.length > 0;
    const [first, second] = this.#limitedFirst ? [limited, plain] : [plain, limited];
    const claimed = await first(free);
    return claimed.concat(await second(free - claimed.length));
  }

  /** Starts waiting jobs, oldest first, while slots are free. */
  #startWaiting(): void {
    for (const [id, claim] of this.#waiting) {
      if (this.#busy >= this.#concurrency) return;
      this.#waiting.delete(id);
      this.#begin(claim.job, claim.lease, claim.stepsRecorded);
    }
  }

  /** A job cancelled while it waited for a slot ends cancelled without running. */
  #cancelWaiting(id: string): void {
    const claim = this.#waiting.get(id);
    if (!claim) return;
    this.#waiting.delete(id);
    this.#jobs.finishCancelled(claim.lease).catch((error: unknown) => {
      // Its lease expires and the reaper ends it cancelled (cancel_requested is stored).
      this.#log.error({ err: toError(error), job: id }, 'could not record the cancel of a waiting job');
    });
  }

  #begin(job: Attempt['job'], lease: Attempt['lease'], stepsRecorded?: boolean): void {
    const task = this.#tasks.get(job.task);
    if (!task) return; // Cannot happen: claims name only our tasks.
    const attempt = new Attempt({
      jobs: this.#jobs,
      runner: this.#runner,
      task,
      job,
      lease,
      cancelGraceMs: this.#cancelGraceMs,
      progressWritesPerSecond: this.#progressRate,
      maxLogLines: this.#maxLogLines,
      secretKey: this.#secretKey,
      finishRetryMs: this.#leaseMs,
      children: this.#children,
      stepsRecorded,
    });
    this.#running.set(job.id, attempt);
    this.#busy++;
    void attempt.taskEnded.then(() => {
      this.#busy--;
      if (this.#state === 'running') this.#startWaiting();
      // After the current turn: tasks that end together free their slots together, and one claim
      // fills them all. Claiming at the first end claimed one job per round trip (a PostgreSQL
      // commit each): 10 jobs at a time drained ~250 jobs/s, see docs/performance.md.
      if (this.#wantsMore()) setImmediate(() => this.#wake());
    });
    this.#log.debug({ job: job.id, task: job.task, attempt: job.attempt }, 'job started');
    if (job.cancelRequested) attempt.abort('cancel', CANCELLED.onRequest);
    attempt.done
      .catch((error: unknown) => {
        // The outcome could not be written; the lease will expire and the job be claimed again.
        this.#log.error({ err: toError(error), job: job.id }, 'could not record the end of a job');
      })
      .finally(() => {
        this.#running.delete(job.id);
        this.#log.debug({ job: job.id }, 'job ended');
        if (this.#running.size === 0 && this.#waiting.size === 0) {
          for (const resolve of this.#idleWaiters.splice(0)) resolve();
        }
        if (this.#wantsMore()) setImmediate(() => this.#wake());
      });
  }

  async #heartbeat(): Promise<void> {
    this.#registration?.beat();
    const leases = [
      ...[...this.#running.values()].map((a) => a.lease),
      ...[...this.#waiting.values()].map((c) => c.lease),
    ];
    if (leases.length === 0) return;
    try {
      const results = await this.#jobs.heartbeat(leases, this.#leaseMs);
      this.#outage.succeeded();
      for (const result of results) {
        const attempt = this.#running.get(result.jobId);
        if (!attempt) {
          if (!result.held) this.#waiting.delete(result.jobId);
          else if (result.cancelRequested) this.#cancelWaiting(result.jobId);
          continue;
        }
        if (!result.held) attempt.abort('lease-lost', 'This worker lost its claim on the job.');
        else if (result.cancelRequested) attempt.abort('cancel', CANCELLED.onRequest);
      }
    } catch (error) {
      // Retried at the next beat: a lease outlives two missed beats.
      this.#outage.failed(toError(error));
    }
  }

  /** Hands jobs claimed ahead back to the queue, for this worker's successor or another worker. */
  async #releaseWaiting(): Promise<void> {
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    await Promise.all(
      waiting.map(({ job, lease }) =>
        this.#jobs.release(lease).catch((error: unknown) => {
          // Its lease expires and the reaper queues it again.
          this.#log.warn({ err: toError(error), job: job.id }, 'could not hand back a waiting job');
        }),
      ),
    );
  }

  async #reap(): Promise<void> {
    try {
      const reaped = await this.#jobs.reapExpiredLeases();
      this.#outage.succeeded();
      for (const job of reaped) {
        this.#log.warn(
          { job: job.id, task: job.task, status: job.status },
          'a job whose worker stopped responding was reclaimed',
        );
      }
    } catch (error) {
      this.#outage.failed(toError(error));
    }
  }

  /** Resolves when no job is running or waiting (at once if none is). */
  idle(): Promise<void> {
    if (this.#running.size === 0 && this.#waiting.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Graceful shutdown: stops claiming, lets running jobs finish for up to `graceMs` (default
   * 10 s), then aborts the rest and hands them back to the queue for another worker.
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return this.idle();
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    this.#unsubscribe?.();
    await this.#scheduler?.stop();
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    if (this.#reapTimer) clearInterval(this.#reapTimer);
    // A claim still running would hand its jobs back after stop() resolved: a process exiting
    // then left them `running` until their lease expired, and the reap cost each an attempt.
    await this.#claimDone;
    await this.#releaseWaiting();
    if (wasRunning && this.#running.size > 0) {
      const graceMs = options.graceMs ?? 10_000;
      this.#log.info({ running: this.#running.size, graceMs }, 'stopping: waiting for running jobs');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.idle(), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
      for (const attempt of this.#running.values()) attempt.abort('shutdown', 'The worker is shutting down.');
      await this.idle();
    }
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    await this.#registration?.stop(this.#log);
    await this.#runner.close();
    this.#state = 'stopped';
    this.#log.info('worker stopped');
  }
}

/** Which tasks' queues have limits, and those limits, checked (a TypeError for a limit that is not a whole number >= 1). */
function splitByLimits(
  tasks: readonly AnyTask[],
  queues: Readonly<Record<string, QueueLimits>>,
): { plain: string[]; limited: string[]; limits: QueueLimit[] } {
  const limits = queueLimitList(queues);
  const limitedQueues = new Set(limits.map((limit) => limit.queue));
  const plain: string[] = [];
  const limited: string[] = [];
  for (const task of tasks) (limitedQueues.has(task.queue ?? task.name) ? limited : plain).push(task.name);
  const used = new Set(tasks.map((task) => task.queue ?? task.name));
  return { plain, limited, limits: limits.filter((limit) => used.has(limit.queue)) };
}

/** Creates a worker; call `start()` to begin claiming. */
export function createWorker(options: WorkerOptions): Worker {
  return new Worker(options);
}
