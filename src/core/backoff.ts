/**
 * When a failed attempt runs again. Decided here, once, so every store behaves the same.
 */
export type Backoff =
  | { type: 'fixed'; delaySeconds: number }
  | { type: 'exponential'; baseSeconds: number; maxSeconds?: number; jitter?: boolean };

export const DEFAULT_BACKOFF: Backoff = { type: 'exponential', baseSeconds: 2, maxSeconds: 600, jitter: true };

/**
 * Milliseconds to wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed.
 * Exponential: base · 2^(attempt-1), capped, with "equal jitter" (half fixed, half random) so
 * that many jobs failing together do not all come back in the same instant.
 */
export function retryDelayMs(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  if (backoff.type === 'fixed') return Math.max(0, backoff.delaySeconds * 1000);
  const cap = (backoff.maxSeconds ?? 3600) * 1000;
  const raw = Math.min(cap, backoff.baseSeconds * 1000 * 2 ** Math.max(0, attempt - 1));
  if (!backoff.jitter) return raw;
  return raw / 2 + random() * (raw / 2);
}
