import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './backoff.ts';
import { canTransition, isTerminal, JOB_STATUSES } from './job.ts';

describe('job status machine', () => {
  it('allows exactly the transitions of the contract', () => {
    const allowed = JOB_STATUSES.flatMap((from) =>
      JOB_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`),
    );
    expect(allowed.sort()).toEqual(
      [
        'queued->running',
        'queued->cancelled',
        'running->queued',
        'running->succeeded',
        'running->failed',
        'running->cancelled',
      ].sort(),
    );
  });

  it('never leaves a final status', () => {
    for (const status of JOB_STATUSES.filter(isTerminal)) {
      expect(JOB_STATUSES.some((to) => canTransition(status, to))).toBe(false);
    }
  });
});

describe('retryDelayMs', () => {
  it('doubles from the base, is capped, and jitters within the upper half', () => {
    const noJitter = { type: 'exponential', baseSeconds: 2, maxSeconds: 10 } as const;
    expect([1, 2, 3, 4, 5].map((a) => retryDelayMs(noJitter, a))).toEqual([2000, 4000, 8000, 10000, 10000]);
    const jitter = { ...noJitter, jitter: true };
    expect(retryDelayMs(jitter, 2, () => 0)).toBe(2000);
    expect(retryDelayMs(jitter, 2, () => 0.999)).toBeCloseTo(3998);
    expect(retryDelayMs({ type: 'fixed', delaySeconds: 3 }, 7)).toBe(3000);
  });
});
