import type { JobProgress } from '../core/job.ts';
import { EtaEstimator, makeProgress } from '../core/progress.ts';

export interface ProgressSink {
  /** Every update, at once (to live subscribers). */
  publish(progress: JobProgress): void;
  /** The latest update, at a bounded rate (to the database). */
  persist(progress: JobProgress): Promise<unknown>;
}

/**
 * One job's progress: turns `ctx.progress` calls into progress objects with an ETA, publishes
 * each at once, and persists only the latest at most `writesPerSecond` times a second, because
 * a task reporting thousands of steps a second must not turn into thousands of writes.
 */
export class ProgressReporter {
  readonly #sink: ProgressSink;
  readonly #minGapMs: number;
  readonly #eta = new EtaEstimator();
  #latest: JobProgress | null = null;
  #dirty = false;
  #lastWriteAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #writing: Promise<unknown> = Promise.resolve();
  #stopped = false;
  /** How many times the database was written, for tests and metrics. */
  writes = 0;
  /** When progress was last reported, for stall detection. */
  lastReportAt = Date.now();

  constructor(sink: ProgressSink, writesPerSecond = 4) {
    this.#sink = sink;
    this.#minGapMs = 1000 / writesPerSecond;
  }

  get latest(): JobProgress | null {
    return this.#latest;
  }

  update(current: number, total: number | null, message: string | null | undefined, now = Date.now()): void {
    if (this.#stopped) return;
    const eta = this.#eta.update(current, total, now);
    const text = message === undefined ? (this.#latest?.message ?? null) : message;
    this.#set(makeProgress(current, total, text, eta, now));
  }

  /**
   * Starts from the progress an earlier attempt recorded (with its last step): shown and saved at
   * once, and the ETA going on at the rate it had.
   */
  resume(progress: JobProgress, now = Date.now()): void {
    if (this.#stopped) return;
    this.#eta.resume(progress.current, progress.total, progress.etaSeconds, now);
    this.#set(makeProgress(progress.current, progress.total, progress.message, progress.etaSeconds, now));
  }

  message(text: string, now = Date.now()): void {
    if (this.#stopped) return;
    const last = this.#latest;
    this.#set(makeProgress(last?.current ?? 0, last?.total ?? null, text, last?.etaSeconds ?? null, now));
  }

  #set(progress: JobProgress): void {
    this.#latest = progress;
    this.lastReportAt = Date.parse(progress.updatedAt);
    this.#dirty = true;
    this.#sink.publish(progress);
    if (this.#timer) return;
    const wait = this.#lastWriteAt + this.#minGapMs - Date.now();
    if (wait <= 0) this.#write();
    else this.#timer = setTimeout(() => this.#write(), wait);
  }

  #write(): void {
    this.#timer = null;
    if (!this.#dirty || !this.#latest) return;
    const progress = this.#latest;
    this.#dirty = false;
    this.#lastWriteAt = Date.now();
    this.writes++;
    this.#writing = this.#writing
      .then(() => this.#sink.persist(progress))
      .catch(() => {
        // A lost write is superseded by the next one, or by the final flush before the job ends.
        this.#dirty = true;
      });
  }

  /** Stops the timer and writes the latest update if it was not written yet (before a status change). */
  async flush(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#writing;
    if (this.#dirty && this.#latest) {
      this.#dirty = false;
      this.writes++;
      await this.#sink.persist(this.#latest).catch(() => undefined);
    }
  }
}
