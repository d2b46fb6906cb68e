import { describe, expect, it } from 'vitest';
import { HttpError } from './errors.ts';
import { StartLimiter } from './rate-limit.ts';

/** The 429 a take throws, or null when it passes. */
function refusal(limiter: StartLimiter, key: string, now: number): HttpError | null {
  try {
    limiter.take(key, now);
    return null;
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
}

describe('StartLimiter', () => {
  it('gives a burst, refuses the next with a Retry-After, and refills evenly', () => {
    const limiter = new StartLimiter({ starts: 3, perSeconds: 30 });
    for (let i = 0; i < 3; i++) expect(refusal(limiter, 'ann', 0)).toBeNull();
    const refused = refusal(limiter, 'ann', 0);
    expect(refused).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    expect(refused?.message).toMatch(/try again in 10 s/);
    expect(refused?.headers['Retry-After']).toBe('10');
    // Another user has a bucket of their own.
    expect(refusal(limiter, 'bob', 0)).toBeNull();
    // One start comes back every 10 s.
    expect(refusal(limiter, 'ann', 9_999)).not.toBeNull();
    expect(refusal(limiter, 'ann', 10_000)).toBeNull();
    expect(refusal(limiter, 'ann', 10_000)).not.toBeNull();
  });

  it('past 10,000 users forgets the idlest tenth, and only them: a forgotten user starts with a full bucket', () => {
    const limiter = new StartLimiter({ starts: 1, perSeconds: 3_600 });
    // Each user spends their one start: 10,000 users, none forgotten yet.
    expect(refusal(limiter, 'early', 0)).toBeNull();
    for (let i = 0; i < 9_999; i++) expect(refusal(limiter, `user-${i}`, 1)).toBeNull();
    // Refused, "early" was still used: user-0 is now the idlest.
    expect(refusal(limiter, 'early', 2)).not.toBeNull();
    // The 10,001st user: the 1,001 idlest are forgotten (user-0 … user-1000).
    expect(refusal(limiter, 'one-more', 2)).toBeNull();
    expect(refusal(limiter, 'user-0', 3)).toBeNull();
    expect(refusal(limiter, 'user-1000', 3)).toBeNull();
    expect(refusal(limiter, 'user-1001', 3)).not.toBeNull();
    expect(refusal(limiter, 'user-9998', 3)).not.toBeNull();
    expect(refusal(limiter, 'early', 3)).not.toBeNull();
    expect(refusal(limiter, 'one-more', 3)).not.toBeNull();
  });
});
