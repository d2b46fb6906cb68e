import type { QueueLimit } from '../store/store.ts';

/** A queue's limits, as a config or an app gives them (`queues: { exports: { concurrency: 2 } }`). */
export interface QueueLimits {
  /** Running jobs of the queue at most, over every worker. */
  concurrency?: number | undefined;
  /** Running jobs of the queue with the same concurrency key at most, over every worker. */
  concurrencyPerKey?: number | undefined;
  /**
   * Jobs of the queue started at most `starts` times in any `perSeconds` window, over every
   * worker; jobs beyond wait, queued.
   */
  rate?: { starts: number; perSeconds: number } | undefined;
  /**
   * As `rate`, per concurrency key: at most `starts` jobs with the same key started in any
   * `perSeconds` window (one customer's API quota, say). Jobs without a key are not limited by it.
   */
  ratePerKey?: { starts: number; perSeconds: number } | undefined;
}

/**
 * The queues that have a limit, checked: a TypeError names the queue and the bad value (a limit
 * that is not a whole number >= 1, a window not in (0, 86400] seconds).
 */
export function queueLimitList(queues: Readonly<Record<string, QueueLimits>>): QueueLimit[] {
  const limits: QueueLimit[] = [];
  for (const [queue, limit] of Object.entries(queues)) {
    for (const key of ['concurrency', 'concurrencyPerKey'] as const) {
      const value = limit[key];
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new TypeError(`Queue ${queue}: ${key} must be a whole number >= 1.`);
      }
    }
    const rate = checkedRate(queue, 'rate', limit.rate);
    const ratePerKey = checkedRate(queue, 'ratePerKey', limit.ratePerKey);
    if (limit.concurrency !== undefined || limit.concurrencyPerKey !== undefined || rate || ratePerKey) {
      limits.push({
        queue,
        concurrency: limit.concurrency ?? null,
        perKey: limit.concurrencyPerKey ?? null,
        rate,
        ratePerKey,
      });
    }
  }
  return limits;
}

function checkedRate(
  queue: string,
  name: 'rate' | 'ratePerKey',
  rate: { starts: number; perSeconds: number } | undefined,
): { starts: number; perSeconds: number } | null {
  if (rate === undefined) return null;
  if (
    typeof rate !== 'object' ||
    rate === null ||
    !Number.isInteger(rate.starts) ||
    rate.starts < 1 ||
    !(rate.perSeconds > 0) ||
    rate.perSeconds > 86_400
  ) {
    throw new TypeError(
      `Queue ${queue}: ${name} must be { starts: a whole number >= 1, perSeconds: > 0 and <= 86400 }.`,
    );
  }
  return { starts: rate.starts, perSeconds: rate.perSeconds };
}

/** A queue's limits in words, for the dashboard and the CLI: "2 at once, 1 per key, 10 starts per 1 s", or "none". */
export function limitsText(limit: QueueLimit | null): string {
  if (!limit) return 'none';
  const parts: string[] = [];
  if (limit.concurrency !== null) parts.push(`${limit.concurrency} at once`);
  if (limit.perKey !== null) parts.push(`${limit.perKey} per key`);
  if (limit.rate) parts.push(`${limit.rate.starts} starts per ${limit.rate.perSeconds} s`);
  if (limit.ratePerKey) parts.push(`${limit.ratePerKey.starts} starts per ${limit.ratePerKey.perSeconds} s per key`);
  return parts.join(', ');
}
