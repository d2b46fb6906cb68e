import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { checkArtifactName, guessContentType } from '../core/artifact-name.ts';
import { type ChildJob, type ChildState, waitVerdict } from '../core/children.ts';
import { checkContentType } from '../core/content-type.ts';
import { StoreError, serializeError } from '../core/errors.ts';
import type { Job, Lease } from '../core/job.ts';
import { NO_SECRETS, type Redactor, type Revealed, revealSecrets, type SecretKeySource } from '../core/secrets.ts';
import { resumedLine } from '../core/steps.ts';
import type { AnyTask, ArtifactSource } from '../core/task.ts';
import type { Jobs } from '../jobs/jobs.ts';
import { secretKey } from '../secret-key.ts';
import type { ChildJobs } from './child-jobs.ts';
import { LogBuffer } from './log-buffer.ts';
import { decideOutcome } from './outcome.ts';
import { ProgressReporter } from './progress-reporter.ts';
import {
  type AbortCause,
  AttemptAbort,
  type Execution,
  type JobRunner,
  type RunResult,
  type SpawnRequest,
  type WaitRequest,
} from './runner.ts';
import { AttemptSteps } from './steps.ts';
import { AttemptCommit, localTransaction } from './task-transaction.ts';

export interface AttemptOptions {
  jobs: Jobs;
  runner: JobRunner;
  task: AnyTask;
  job: Job;
  lease: Lease;
  /** How long after an abort the task gets to stop before the attempt is ended without it. */
  cancelGraceMs: number;
  progressWritesPerSecond: number;
  maxLogLines: number;
  /** Opens sealed secret params. Default: UNDERWAY_SECRET_KEY or the data folder's key file. */
  secretKey?: SecretKeySource;
  /** How long a finish that met a store error is tried again: the lease (30 s by default). */
  finishRetryMs?: number;
  /** Starts and reads the job's children (ctx.spawn, ctx.wait); without it a task that spawns is told so. */
  children?: ChildJobs | undefined;
  /** Whether the job has recorded steps, as the claim said (ClaimedJob): false, none to read. */
  stepsRecorded?: boolean | undefined;
}

const LEASE_LOST = 'This worker lost its claim on the job.';

/** First wait before trying a failed finish again; doubles up to FINISH_RETRY_MAX_DELAY_MS. */
const FINISH_RETRY_DELAY_MS = 100;
const FINISH_RETRY_MAX_DELAY_MS = 2_000;

/**
 * One attempt of one job, from claim to the end: runs it through the runner, enforces its
 * timeout and stall limit, reports progress and logs, and writes the outcome (fenced by the lease).
 *
 *   running ──task returns/throws──▶ settle ──▶ finish (succeeded | retry | failed | cancelled)
 *      │                               ▲
 *      └─ abort (cancel, timeout, stall, shutdown, lease lost) ─┘ (or, past the grace period,
 *         without waiting for a task that ignores its signal)
 */
export class Attempt {
  readonly job: Job;
  readonly lease: Lease;
  readonly #options: AttemptOptions;
  /**
   * Made when something reads the attempt's signal (the task's ctx.signal, exec, a sandbox), or
   * already aborted when that happens after the abort: a no-op task never pays for one (an
   * AbortSignal is an EventTarget; creating them was 4 % of a SQLite drain's CPU).
   */
  #controller: AbortController | null = null;
  /** Why the attempt was stopped: the first reason given to abort(). */
  #abort: AttemptAbort | null = null;
  readonly progress: ProgressReporter;
  readonly #logs: LogBuffer;
  /**
   * The job no longer runs under this attempt's lease (the heartbeat or a fenced write said so):
   * nothing more is written or published for it.
   */
  #leaseLost = false;
  /** Where the attempt stands with ctx.transaction (task-transaction.ts). */
  readonly #commit = new AttemptCommit();
  #timers: NodeJS.Timeout[] = [];
  /** While the task runs: starts its grace period when the attempt is aborted (#settle). */
  #onAbort: (() => void) | null = null;
  /** A `ctx.wait` found unfinished children: the attempt ends waiting for them (docs/children.md). */
  #waitingForChildren = false;
  /** How many of the job's children had failed or been cancelled when that wait read them. */
  #failuresSeen = 0;
  /** The job's recorded steps (ctx.step), read as the attempt starts; none until then. */
  #steps = new AttemptSteps([], NO_SECRETS);
  /** Resolves once the outcome is written (or deliberately not). */
  readonly done: Promise<void>;
  /**
   * Resolves when the task code has ended, before its outcome is written: the worker's slot is
   * free then, so the next job's claim overlaps this one's finish (docs/performance.md).
   */
  readonly taskEnded: Promise<void>;
  #endTask: () => void = () => {};

  constructor(options: AttemptOptions) {
    this.#options = options;
    this.job = options.job;
    this.lease = options.lease;
    const { jobs, job, lease } = options;
    this.progress = new ProgressReporter(
      {
        publish: (progress) => {
          if (!this.#leaseLost) jobs.reportProgress(job, progress);
        },
        persist: async (progress, sample) => {
          if (!this.#leaseLost && !(await jobs.saveProgress(lease, progress, sample))) {
            this.abort('lease-lost', LEASE_LOST);
          }
        },
      },
      options.progressWritesPerSecond,
    );
    this.#logs = new LogBuffer(async (lines) => {
      // Fenced by the lease: a paused worker resumed after its job was reaped, re-run or ended
      // adds nothing to the log (a null answer), and stops.
      const stored = this.#leaseLost ? null : await jobs.appendLogs(job, lease, lines, options.maxLogLines);
      if (stored === null) this.abort('lease-lost', LEASE_LOST);
    });
    this.taskEnded = new Promise((resolve) => {
      this.#endTask = resolve;
    });
    this.done = this.#run();
    this.done.then(this.#endTask, this.#endTask);
  }

  get aborted(): AttemptAbort | null {
    return this.#abort;
  }

  /** Aborted when the attempt must stop; its reason is the AttemptAbort. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#abort) this.#controller.abort(this.#abort);
    }
    return this.#controller.signal;
  }

  /** Stops the attempt; the first reason wins. A lost lease also stops its writes, whatever the first reason was. */
  abort(kind: AbortCause, message: string): void {
    // Ended in the task's transaction, the job has no lease left: it is over, not lost to another worker.
    if (kind === 'lease-lost' && this.#commit.done) return;
    if (kind === 'lease-lost') this.#leaseLost = true;
    if (this.#abort) return;
    this.#abort = new AttemptAbort(kind, message);
    this.#controller?.abort(this.#abort);
    this.#onAbort?.();
  }

  #startLimits(): void {
    const { task, job } = this.#options;
    const timeout = job.timeoutSeconds ?? task.timeoutSeconds;
    if (timeout) {
      this.#timers.push(setTimeout(() => this.abort('timeout', `Timed out after ${timeout} s.`), timeout * 1000));
    }
    const stall = task.stallSeconds;
    if (stall) {
      const check = () => {
        const quiet = Date.now() - this.progress.lastReportAt;
        if (quiet >= stall * 1000) this.abort('stall', `No progress reported for ${stall} s.`);
        else this.#timers.push(setTimeout(check, stall * 1000 - quiet));
      };
      this.#timers.push(setTimeout(check, stall * 1000));
    }
  }

  async #run(): Promise<void> {
    const { runner, task, job } = this.#options;
    this.#startLimits();
    // Secret params are opened here, for the runner only; whatever comes back has them redacted.
    const opened = openParams(job, this.#options.secretKey);
    const { redactor } = opened;
    const attempt = this;
    const execution: Execution = {
      job,
      task,
      params: opened.params,
      get signal() {
        return attempt.signal;
      },
      killAfterMs: this.#options.cancelGraceMs,
      report: {
        progress: (current, total, message) => {
          if (!this.#steps.holdsBack(current, total))
            this.progress.update(current, total, message && redactor.text(message));
        },
        message: (text) => this.progress.message(redactor.text(text)),
        log: (stream, line) => {
          if (!this.#leaseLost) this.#logs.add(stream, redactor.text(line));
        },
        artifact: async (name, source, contentType) => {
          // Checked before a file is opened (a stream nobody reads would stay open), and the type
          // here as well as in ctx.artifact: a sandboxed task's type crossed IPC from its child.
          checkArtifactName(name);
          const type = contentType === undefined ? guessContentType(name) : checkContentType(contentType);
          const info = this.#leaseLost
            ? null
            : await this.#options.jobs.saveArtifact(this.lease, { name, contentType: type, body: toBody(source) });
          if (info !== null) return info;
          this.abort('lease-lost', LEASE_LOST);
          throw new AttemptAbort('lease-lost', `${LEASE_LOST} ${JSON.stringify(name)} was not saved.`);
        },
        recallStep: async (name) => this.#recallStep(name),
        recordStep: (name, result) => this.#recordStep(name, result),
        spawn: (request) => this.#spawn(request),
        wait: (request) => this.#wait(request),
      },
      transaction: localTransaction(this.#options.jobs, this.lease, {
        beforeCommit: (value) => this.#beforeCommit(value, redactor),
        committed: (job) => this.#commit.committed(job),
      }),
    };
    const failure = opened.failure ?? (await this.#loadSteps(redactor));
    const running = failure ? Promise.resolve(failure) : runner.run(execution);
    const result = redactor.value(checkJson(await this.#settle(running)));
    this.#endTask();
    for (const timer of this.#timers) clearTimeout(timer);
    await Promise.all([this.progress.flush(), this.#logs.flush()]);
    await this.#finish(result);
  }

  /**
   * Reads the job's recorded steps, once, before the task runs (docs/steps.md): the bar starts
   * where the last one left it, and the log says where this attempt resumes. A read that fails
   * fails the attempt (retried as any failure is), rather than run steps that were done already.
   */
  async #loadSteps(redactor: Redactor): Promise<RunResult | null> {
    try {
      // The claim may say there are none (PostgreSQL): then nothing is read, a round trip saved.
      const recorded = this.#options.stepsRecorded === false ? [] : await this.#options.jobs.listSteps(this.job.id);
      this.#steps = new AttemptSteps(recorded, redactor);
    } catch (error) {
      return { ok: false, error: serializeError(error) };
    }
    const last = this.#steps.last;
    if (last) {
      if (last.progress) this.progress.resume(last.progress);
      this.#logs.add('system', resumedLine(this.#steps.recorded));
    }
    return null;
  }

  #recallStep(name: string): { result: unknown } | null {
    if (this.#leaseLost) throw new AttemptAbort('lease-lost', LEASE_LOST);
    return this.#steps.recall(name);
  }

  /** Records a step with the bar as it is now, fenced by the lease: a lost lease records nothing and stops the attempt. */
  async #recordStep(name: string, result: unknown): Promise<void> {
    this.#steps.check(name, result);
    const step = { name, result, progress: this.progress.latest };
    if (!this.#leaseLost && (await this.#options.jobs.recordStep(this.lease, step))) return;
    this.abort('lease-lost', LEASE_LOST);
    throw new AttemptAbort('lease-lost', `${LEASE_LOST} The step ${JSON.stringify(name)} was not recorded.`);
  }

  /**
   * Before the task's transaction writes the job's end (ctx.transaction): what the task reported
   * is stored first, while the lease still fences it, and the result is checked and redacted as
   * a returned one is. A throw rolls the transaction back.
   */
  async #beforeCommit(value: unknown, redactor: Redactor): Promise<unknown> {
    await Promise.all([this.progress.flush(), this.#logs.flush()]);
    if (this.#leaseLost) throw new AttemptAbort('lease-lost', LEASE_LOST);
    if (this.#abort) throw this.#abort;
    const checked = checkJson({ ok: true, result: value });
    if (!checked.ok) throw new TypeError(checked.error.message);
    this.#commit.tried();
    return redactor.value(checked.result);
  }

  /** Starts (or finds again) a child of this job, fenced by the lease: a lost lease starts none and stops the attempt. */
  async #spawn(request: SpawnRequest): Promise<ChildJob> {
    const children = this.#options.children;
    if (!children)
      throw new TypeError('ctx.spawn: this runner has no way to start child jobs (run the task in a worker).');
    const child = this.#leaseLost ? null : await children.spawn(this.job, this.lease, request);
    if (child) return child;
    this.abort('lease-lost', LEASE_LOST);
    throw new AttemptAbort(
      'lease-lost',
      `${LEASE_LOST} The child job ${JSON.stringify(request.name)} was not started.`,
    );
  }

  /** The children's states; when the wait must sleep, this attempt will end waiting for them. */
  async #wait(request: WaitRequest): Promise<ChildState[]> {
    const children = this.#options.children;
    if (!children)
      throw new TypeError('ctx.wait: this runner has no way to read child jobs (run the task in a worker).');
    const { states, failuresSeen } = await children.read(this.job, request.ids);
    if (waitVerdict(states, request.settle === true).kind === 'sleep') {
      this.#waitingForChildren = true;
      this.#failuresSeen = failuresSeen;
    }
    return states;
  }

  /**
   * The run's result, or, if the task ignores an abort past the grace period, a stand-in. The
   * grace timer is started by abort() itself: no listener on the signal and no race per attempt.
   */
  #settle(running: Promise<RunResult>): Promise<RunResult> {
    return new Promise<RunResult>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      // Called at most once, before the run ends: abort() calls it through #onAbort, which end() clears.
      const giveUp = () => {
        timer = setTimeout(
          () => resolve({ ok: false, error: { name: 'Error', message: 'The task did not stop when asked.' } }),
          this.#options.cancelGraceMs,
        );
      };
      const end = () => {
        this.#onAbort = null;
        clearTimeout(timer);
      };
      running.then(
        (result) => {
          end();
          resolve(result);
        },
        (error: unknown) => {
          end();
          reject(error);
        },
      );
      if (this.#abort) giveUp();
      else this.#onAbort = giveUp;
    });
  }

  /**
   * Writes the outcome, trying again while the store fails (a database restart, a full disk) for
   * up to `finishRetryMs`. Giving up at once made the job run again from the start once its lease
   * expired: with PostgreSQL restarted mid-run (2.7 s, leases of 2 s), 7 of 100 finished jobs ran
   * twice. Safe to repeat: the write is fenced by the lease token, so one that did commit before
   * its answer was lost makes the next try a no-op, and a job already reaped is not touched.
   */
  async #finish(result: RunResult): Promise<void> {
    const { jobs, task, job, lease } = this.#options;
    // Ended in the task's own transaction (ctx.transaction): written, and told to onEnded, already.
    if (await this.#commit.recorded(jobs, job)) return;
    const outcome = decideOutcome(job, task, result, this.aborted, Date.now(), this.#waitingForChildren);
    // A lost lease (found by a fenced write after an abort of another kind) cannot write either.
    if (outcome === null || this.#leaseLost) return;
    const deadline = Date.now() + (this.#options.finishRetryMs ?? 0);
    for (let delay = FINISH_RETRY_DELAY_MS; ; delay = Math.min(delay * 2, FINISH_RETRY_MAX_DELAY_MS)) {
      try {
        if (outcome.status === 'release') await jobs.release(lease);
        else if (outcome.status === 'wait') await jobs.waitForChildren(lease, this.#failuresSeen);
        else await jobs.finish(lease, outcome);
        return;
      } catch (error) {
        if (!(error instanceof StoreError) || Date.now() + delay > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}

/**
 * Opens sealed params, for this job (its id and owner) only; an envelope that does not open
 * (another key, sealed for another job) fails the job for good: a retry would not help.
 */
function openParams(job: Job, key: SecretKeySource | undefined): Revealed & { failure: RunResult | null } {
  try {
    return { ...revealSecrets(job.params, { jobId: job.id, owner: job.owner }, () => secretKey(key)), failure: null };
  } catch (error) {
    const failure: RunResult = { ok: false, error: { ...serializeError(error), permanent: true } };
    return { params: undefined, redactor: NO_SECRETS, failure };
  }
}

/** A result must survive being stored as JSON; one that cannot is a task error, not a worker crash. */
function checkJson(result: RunResult): RunResult {
  if (!result.ok) return result;
  try {
    JSON.stringify(result.result);
    return result;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      error: { name: 'TypeError', message: `The task returned a value that is not JSON: ${reason}` },
    };
  }
}

function toBody(source: ArtifactSource): Uint8Array | Readable {
  if (typeof source === 'string') return Buffer.from(source);
  if (source instanceof Uint8Array || source instanceof Readable) return source;
  if ('path' in source) return createReadStream(source.path);
  return Readable.from(source);
}
