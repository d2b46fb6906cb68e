import { toError } from '../core/errors.ts';
import type { Jobs } from '../jobs/jobs.ts';
import type { Logger } from '../logger.ts';
import type { WorkerInfo } from '../store/store.ts';

/**
 * Rows of workers not seen for this long are deleted when a worker starts: a worker that died
 * (killed, crashed) never deletes its own. An hour leaves them readable a while after the end.
 */
export const PRUNE_WORKERS_AFTER_MS = 60 * 60 * 1000;

/** A worker is shown alive while its row was seen within this many of its heartbeat intervals. */
export const ALIVE_BEATS = 3;

/** Queue depth is sampled once a minute (the Overview's chart), by the first worker to beat in it. */
export const QUEUE_SAMPLE_MS = 60_000;

/**
 * A worker's row in the workers registry (Store.touchWorker): written when it starts and at each
 * heartbeat tick, one statement, riding the worker's existing timer; deleted when it stops. The
 * first tick of each minute also asks for that minute's queue depth sample (Store.sampleQueues):
 * across the fleet, one worker counts, the others find the sample there.
 *
 *   start() ──▶ registered ──beat() (every heartbeat tick)──▶ registered ──stop()──▶ removed
 *
 * Writes never overlap: a tick whose previous write still runs is skipped (the next one refreshes
 * the row), and `stop` waits for the write in flight before deleting, so a quick start and stop
 * leave no row behind. A failing store is logged by the caller's outage log, not thrown.
 */
export class WorkerRegistration {
  readonly #jobs: Jobs;
  readonly #info: WorkerInfo;
  readonly #failed: (error: Error) => void;
  #writing: Promise<void> | null = null;
  #stopped = false;
  /** The last minute this worker asked for a queue sample. */
  #sampledMinute = 0;

  constructor(jobs: Jobs, info: WorkerInfo, failed: (error: Error) => void) {
    this.#jobs = jobs;
    this.#info = info;
    this.#failed = failed;
  }

  /** Registers the worker and prunes the rows of dead ones. */
  start(): void {
    const before = new Date(Date.now() - PRUNE_WORKERS_AFTER_MS).toISOString();
    this.#run(async () => {
      await this.#jobs.touchWorker(this.#info);
      await this.#jobs.pruneWorkers(before);
      await this.#sampleQueues();
    });
  }

  /** Refreshes the row's `seen_at`, and samples the queues in a new minute. */
  beat(): void {
    this.#run(async () => {
      await this.#jobs.touchWorker(this.#info);
      await this.#sampleQueues();
    });
  }

  async #sampleQueues(): Promise<void> {
    const minute = Math.floor(Date.now() / QUEUE_SAMPLE_MS) * QUEUE_SAMPLE_MS;
    if (minute === this.#sampledMinute) return;
    await this.#jobs.sampleQueues(new Date(minute).toISOString());
    this.#sampledMinute = minute;
  }

  /** Deletes the row (a graceful stop); never rejects. */
  async stop(log: Logger): Promise<void> {
    this.#stopped = true;
    await this.#writing;
    try {
      await this.#jobs.removeWorker(this.#info.id);
    } catch (error) {
      // The row stays until it is pruned; the overview shows it dead after a few beats.
      log.warn({ err: toError(error) }, 'could not remove this worker from the workers registry');
    }
  }

  #run(write: () => Promise<void>): void {
    if (this.#writing || this.#stopped) return;
    this.#writing = write()
      .catch((error: unknown) => this.#failed(toError(error)))
      .finally(() => {
        this.#writing = null;
      });
  }
}
