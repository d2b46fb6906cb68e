import type { QueueLimit } from './store.ts';

/** Due jobs a limited claim looks at per queue at most: past them, jobs whose keys are all full wait for the next claim. */
export const LIMITED_SCAN = 500;

/**
 * The places left in one limited queue while a claim picks its jobs: the queue's own limit and
 * each key's, from the jobs running now. Written once for both stores; each store counts and
 * walks its own rows, under its own serialisation.
 */
export class Fit {
  #left: number;
  readonly #perKey: number | null;
  readonly #keys = new Map<string, number>();

  /** `startedInWindow`: the queue's jobs started within its rate window (0 without a rate limit). */
  constructor(limit: QueueLimit, running: readonly { key: string | null; n: number | string }[], startedInWindow = 0) {
    const total = running.reduce((sum, row) => sum + Number(row.n), 0);
    const byConcurrency = limit.concurrency === null ? Number.POSITIVE_INFINITY : limit.concurrency - total;
    const byRate = limit.rate === null ? Number.POSITIVE_INFINITY : limit.rate.starts - startedInWindow;
    this.#left = Math.min(byConcurrency, byRate);
    this.#perKey = limit.perKey;
    for (const row of running) if (row.key !== null) this.#keys.set(row.key, Number(row.n));
  }

  /** No place left in the queue. */
  get full(): boolean {
    return this.#left <= 0;
  }

  /** Takes a place for a job with this key if both the queue and the key have one; false when not. */
  take(key: string | null): boolean {
    if (this.#left <= 0) return false;
    if (key !== null && this.#perKey !== null) {
      const used = this.#keys.get(key) ?? 0;
      if (used >= this.#perKey) return false;
      this.#keys.set(key, used + 1);
    }
    this.#left--;
    return true;
  }
}
