import type { JobProgress } from '../core/job.ts';
import { EtaEstimator, makeProgress } from '../core/progress.ts';
import { PROGRESS_SAMPLE_GAP_MS } from '../store/store.ts';

export interface ProgressSink {
  /** Every update, at once (to live subscribers). */
  publish(progress: JobProgress): void;
  /**
   * The latest update, at a bounded rate (to the database); with `sample`, kept as a point of the
   * job's progress over time too (at most one a second, and the attempt's last one).
   */
  persist(progress: JobProgress, sample: boolean): Promise<unknown>;
}

/**
 * One job's progress: turns `ctx.progress` calls into progress objects with an ETA, publishes
 * each at once, and persists only the latest at most `writesPerSecond` times a second, because
 * a task reporting thousands of steps a second must not turn into thousands of writes.
 */
export class ProgressReporter {
  readonly #sink: ProgressSink;
  readonly #minGapMs: number;
  readonly #sampleGapMs: number;
  readonly #eta = new EtaEstimator();
  #lastSampleAt = Number.NEGATIVE_INFINITY;
  /** The latest write was not kept as a sample: the attempt's end writes it again as one. */
  #unsampled = false;
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

  constructor(sink: ProgressSink, writesPerSecond = 4, sampleGapMs = PROGRESS_SAMPLE_GAP_MS) {
    this.#sink = sink;
    this.#minGapMs = 1000 / writesPerSecond;
    this.#sampleGapMs = sampleGapMs;
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
    const sample = this.#lastWriteAt - this.#lastSampleAt >= this.#sampleGapMs;
    if (sample) this.#lastSampleAt = this.#lastWriteAt;
    this.#unsampled = !sample;
    this.writes++;
    this.#writing = this.#writing
      .then(() => this.#sink.persist(progress, sample))
      .catch(() => {
        // A lost write is superseded by the next one, or by the final flush before the job ends.
        this.#dirty = true;
      });
  }

  /**
   * Stops the timer and writes the latest update if it was not written yet, or not as a sample
   * (before a status change): the chart ends where the bar did.
   */
  async flush(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#writing;
    if ((this.#dirty || this.#unsampled) && this.#latest) {
      this.#dirty = false;
      this.#unsampled = false;
      this.writes++;
      await this.#sink.persist(this.#latest, true).catch(() => undefined);
    }
  }
}
