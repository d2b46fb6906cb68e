import type { QueueLimit } from './store.ts';

/** Due jobs a limited claim looks at per queue at most: past them, jobs whose keys are all full wait for the next claim. */
export const LIMITED_SCAN = 500;

/** A count per concurrency key, as the stores' GROUP BY returns it (pg's count may come as a string). */
export type KeyCount = { key: string | null; n: number | string };

/**
 * The places left in one limited queue while a claim picks its jobs: the queue's own limit and
 * each key's, from the jobs running now and those started in the rate windows. Written once for
 * both stores; each store counts and walks its own rows, under its own serialisation.
 */
export class Fit {
  #left: number;
  readonly #perKey: number | null;
  readonly #keyStarts: number | null;
  readonly #running = new Map<string, number>();
  readonly #started = new Map<string, number>();

  /**
   * `startedInWindow`: the queue's jobs started within its rate window (0 without a rate limit);
   * `startedByKey`: those started within its per-key rate window, per key (none without one).
   */
  constructor(
    limit: QueueLimit,
    running: readonly KeyCount[],
    startedInWindow = 0,
    startedByKey: readonly KeyCount[] = [],
  ) {
    const total = running.reduce((sum, row) => sum + Number(row.n), 0);
    const byConcurrency = limit.concurrency === null ? Number.POSITIVE_INFINITY : limit.concurrency - total;
    const byRate = limit.rate === null ? Number.POSITIVE_INFINITY : limit.rate.starts - startedInWindow;
    this.#left = Math.min(byConcurrency, byRate);
    this.#perKey = limit.perKey;
    this.#keyStarts = limit.ratePerKey?.starts ?? null;
    for (const row of running) if (row.key !== null) this.#running.set(row.key, Number(row.n));
    for (const row of startedByKey) if (row.key !== null) this.#started.set(row.key, Number(row.n));
  }

  /**
   * How many due jobs a claim that wants `wanted` should read. Without a per-key limit every job
   * fits until the queue is full, so no more than that; with one, jobs of full keys are passed
   * over, so up to LIMITED_SCAN.
   */
  scanFor(wanted: number): number {
    if (this.#perKey === null && this.#keyStarts === null) return Math.max(0, Math.min(wanted, this.#left));
    return LIMITED_SCAN;
  }

  /**
   * The keys with no place left as the claim starts (their running jobs, or their starts in the
   * rate window, at the key's limit): take() refuses every job of theirs, so a store may leave
   * those jobs out of the rows it reads. None without a per-key limit.
   */
  fullKeys(): string[] {
    const full = new Set<string>();
    if (this.#perKey !== null) for (const [key, n] of this.#running) if (n >= this.#perKey) full.add(key);
    if (this.#keyStarts !== null) for (const [key, n] of this.#started) if (n >= this.#keyStarts) full.add(key);
    return [...full];
  }

  /** No place left in the queue. */
  get full(): boolean {
    return this.#left <= 0;
  }

  /** Takes a place for a job with this key if the queue and the key (running and started) have one; false when not. */
  take(key: string | null): boolean {
    if (this.#left <= 0) return false;
    if (key !== null) {
      const running = this.#running.get(key) ?? 0;
      const started = this.#started.get(key) ?? 0;
      if (this.#perKey !== null && running >= this.#perKey) return false;
      if (this.#keyStarts !== null && started >= this.#keyStarts) return false;
      this.#running.set(key, running + 1);
      this.#started.set(key, started + 1);
    }
    this.#left--;
    return true;
  }
}
