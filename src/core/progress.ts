import { type JobProgress, toIso } from './job.ts';

/**
 * Progress math: percent, indeterminate progress, and an estimate of the time left.
 *
 * The ETA comes from a smoothed rate (an exponentially weighted moving average over time, not
 * over samples), because the naive `elapsed / fraction done` estimate stays wrong for the rest
 * of the job after a slow start, and a per-update rate jumps around with every uneven step.
 */

/** How quickly the estimate forgets: the weight of a rate seen `tau` seconds ago falls to 1/e. */
const DEFAULT_TAU_SECONDS = 8;
/** Below this much evidence the estimate is noise; say "unknown" instead. */
const MIN_ELAPSED_SECONDS = 1;

export interface EtaOptions {
  tauSeconds?: number;
}

/** Follows one job's progress samples and estimates the seconds left. */
export class EtaEstimator {
  readonly #tau: number;
  #startedAt: number | null = null;
  #last: { at: number; current: number; total: number | null } | null = null;
  /**
   * Units per second, smoothed. Started at 0 and divided by the weight gathered so far (a bias
   * correction, as in Adam), so early estimates are the plain average of what was seen instead of
   * being dragged towards 0 or towards the very first, often unrepresentative, step.
   */
  #smoothed = 0;
  #weight = 0;

  constructor(options: EtaOptions = {}) {
    this.#tau = options.tauSeconds ?? DEFAULT_TAU_SECONDS;
  }

  /** Feed one sample; returns the estimated seconds left (null when unknown). */
  update(current: number, total: number | null, atMs: number): number | null {
    const last = this.#last;
    if (last === null || current < last.current || total !== last.total) {
      // A first sample, a counter that went back, or a new total: the old rate says nothing.
      this.#startedAt = atMs;
      this.#smoothed = 0;
      this.#weight = 0;
      this.#last = { at: atMs, current, total };
      return null;
    }
    const dt = (atMs - last.at) / 1000;
    if (dt > 0) {
      const instant = (current - last.current) / dt;
      const alpha = 1 - Math.exp(-dt / this.#tau);
      this.#smoothed += alpha * (instant - this.#smoothed);
      this.#weight += alpha * (1 - this.#weight);
      this.#last = { at: atMs, current, total };
    } else {
      this.#last = { ...last, current };
    }
    return this.estimate(current, total, atMs);
  }

  /**
   * Goes on from where an earlier attempt left the job (`ctx.step` records its progress): from
   * that sample, at the rate its ETA implies, taken as settled evidence, so the ETA does not start
   * over as unknown; without an ETA, as a first sample.
   */
  resume(current: number, total: number | null, etaSeconds: number | null, atMs: number): void {
    this.#last = { at: atMs, current, total };
    const rate =
      total !== null && etaSeconds !== null && etaSeconds > 0 && total > current
        ? (total - current) / etaSeconds
        : null;
    this.#startedAt = rate === null ? atMs : atMs - MIN_ELAPSED_SECONDS * 1000;
    this.#smoothed = rate ?? 0;
    this.#weight = rate === null ? 0 : 1;
  }

  /** The smoothed rate in units per second, or null before any evidence. */
  get rate(): number | null {
    return this.#weight > 0 ? this.#smoothed / this.#weight : null;
  }

  #elapsed(atMs: number): number {
    return this.#startedAt === null ? 0 : (atMs - this.#startedAt) / 1000;
  }

  estimate(current: number, total: number | null, atMs: number): number | null {
    if (total === null) return null;
    if (current >= total) return 0;
    const rate = this.rate;
    if (rate === null || rate <= 0) return null;
    if (this.#elapsed(atMs) < MIN_ELAPSED_SECONDS) return null;
    return Math.max(0, Math.round((total - current) / rate));
  }
}

/** Percent done, rounded to one decimal; null when the total is unknown. */
export function percentOf(current: number, total: number | null): number | null {
  if (total === null) return null;
  if (total <= 0) return 100;
  const raw = (Math.min(Math.max(current, 0), total) / total) * 100;
  return Math.round(raw * 10) / 10;
}

/** Checks and normalises what task code passed to `ctx.progress`. */
export function checkProgressArgs(current: unknown, total: unknown): { current: number; total: number | null } {
  if (typeof current !== 'number' || !Number.isFinite(current) || current < 0) {
    throw new RangeError(`progress current must be a finite number >= 0, got ${String(current)}`);
  }
  if (total === null || total === undefined) return { current, total: null };
  if (typeof total !== 'number' || !Number.isFinite(total) || total < 0) {
    throw new RangeError(`progress total must be a finite number >= 0 or null, got ${String(total)}`);
  }
  return { current, total };
}

/** Longest message kept: a progress line is a caption, not a log. */
export const MAX_PROGRESS_MESSAGE = 500;

export function makeProgress(
  current: number,
  total: number | null,
  message: string | null,
  etaSeconds: number | null,
  atMs: number,
): JobProgress {
  return {
    current,
    total,
    percent: percentOf(current, total),
    message: message === null ? null : message.slice(0, MAX_PROGRESS_MESSAGE),
    etaSeconds: total === null ? null : etaSeconds,
    updatedAt: toIso(atMs),
  };
}
