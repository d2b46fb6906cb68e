import { describe, expect, it } from 'vitest';
import { checkProgressArgs, EtaEstimator, makeProgress, percentOf } from './progress.ts';

/** Feeds a synthetic trace of (seconds, current) samples; returns the estimate after each. */
function run(trace: [number, number][], total: number | null, tau?: number): (number | null)[] {
  const eta = new EtaEstimator(tau === undefined ? {} : { tauSeconds: tau });
  return trace.map(([t, current]) => eta.update(current, total, t * 1000));
}

/** A job that does `rate(t)` units per second, sampled every `step` seconds. */
function trace(seconds: number, step: number, rate: (t: number) => number): [number, number][] {
  const out: [number, number][] = [];
  let done = 0;
  for (let t = 0; t <= seconds + 1e-9; t += step) {
    out.push([t, Math.floor(done)]);
    done += rate(t) * step;
  }
  return out;
}

describe('percentOf', () => {
  it('is null when the total is unknown, clamped and rounded otherwise', () => {
    expect(percentOf(3, null)).toBeNull();
    expect(percentOf(3, 40)).toBe(7.5);
    expect(percentOf(1, 3)).toBe(33.3);
    expect(percentOf(50, 40)).toBe(100);
    expect(percentOf(0, 0)).toBe(100);
  });
});

describe('EtaEstimator on synthetic traces', () => {
  it('says nothing until it has at least a second of evidence', () => {
    const estimates = run(
      [
        [0, 0],
        [0.2, 2],
        [0.5, 5],
      ],
      100,
    );
    expect(estimates).toEqual([null, null, null]);
  });

  it('is right for a steady rate', () => {
    // 10 units/s for 1,000 units: at t=30 s, 700 left = 70 s.
    const estimates = run(
      trace(30, 0.5, () => 10),
      1000,
    );
    expect(estimates.at(-1)).toBeCloseTo(70, -1);
  });

  it('follows a slowdown within a few time constants, where elapsed/fraction stays wrong', () => {
    // 20 units/s for 20 s, then 5 units/s for 40 s (five time constants). 1,000 units in all.
    const samples = trace(60, 0.5, (t) => (t < 20 ? 20 : 5));
    const estimates = run(samples, 1000);
    const [t, current] = samples.at(-1) as [number, number];
    const truth = (1000 - current) / 5; // 5 units/s from now on
    const naive = (t / current) * (1000 - current); // elapsed / fraction done
    const smoothed = estimates.at(-1) as number;
    expect(Math.abs(smoothed - truth) / truth).toBeLessThan(0.1);
    expect(Math.abs(naive - truth) / truth).toBeGreaterThan(0.3);
  });

  it('is steadier than the per-update rate on bursty progress', () => {
    // Work that arrives in bursts: 50 units every 5th sample, nothing in between (10 units/s on average).
    const samples: [number, number][] = [];
    for (let i = 0; i <= 200; i++) samples.push([i * 0.1, Math.floor(i / 5) * 5]);
    const estimates = run(samples, 1000).slice(100) as number[];
    const spread = Math.max(...estimates) - Math.min(...estimates);
    expect(Math.min(...estimates)).toBeGreaterThan(0);
    // The remaining work is ~800-900 units at 10 units/s: 80-90 s; the estimate moves within a band, not by orders.
    expect(spread).toBeLessThan(40);
  });

  it('starts over when the counter goes back or the total changes (a new phase)', () => {
    const eta = new EtaEstimator();
    for (let t = 0; t <= 10; t++) eta.update(t * 10, 200, t * 1000);
    expect(eta.update(5, 200, 11_000)).toBeNull();
    expect(eta.update(10, 300, 12_000)).toBeNull();
  });

  it('is null when indeterminate and 0 when done', () => {
    expect(
      run(
        trace(5, 0.5, () => 10),
        null,
      ).every((e) => e === null),
    ).toBe(true);
    const eta = new EtaEstimator();
    eta.update(0, 10, 0);
    expect(eta.update(10, 10, 2_000)).toBe(0);
  });
});

describe('EtaEstimator.resume: an attempt going on from an earlier one', () => {
  it("goes on at the rate the earlier attempt's ETA implies, at once, then follows what it sees", () => {
    const eta = new EtaEstimator();
    // Recorded: 50 of 100 with 25 s left, i.e. 2 units a second.
    eta.resume(50, 100, 25, 0);
    expect(eta.rate).toBe(2);
    expect(eta.estimate(50, 100, 0)).toBe(25);
    // The new attempt goes at the same pace: the estimate stays put, no "unknown" start.
    expect(eta.update(52, 100, 1_000)).toBe(24);
    expect(eta.update(60, 100, 5_000)).toBe(20);
  });

  it('without an ETA to go on, starts as a first sample', () => {
    const eta = new EtaEstimator();
    eta.resume(50, 100, null, 0);
    expect(eta.rate).toBeNull();
    expect(eta.update(52, 100, 500)).toBeNull();
    expect(eta.update(54, 100, 1_000)).toBe(12);
  });
});

describe('makeProgress and checkProgressArgs', () => {
  it('builds the API shape and caps long messages', () => {
    const p = makeProgress(3, 40, 'x'.repeat(1000), 52, 0);
    expect(p).toMatchObject({
      current: 3,
      total: 40,
      percent: 7.5,
      etaSeconds: 52,
      updatedAt: '1970-01-01T00:00:00.000Z',
    });
    expect(p.message?.length).toBe(500);
    expect(makeProgress(3, null, null, 52, 0)).toMatchObject({ percent: null, etaSeconds: null });
  });

  it('refuses numbers that are not progress', () => {
    expect(() => checkProgressArgs(-1, 10)).toThrow(RangeError);
    expect(() => checkProgressArgs(Number.NaN, 10)).toThrow(RangeError);
    expect(() => checkProgressArgs(1, Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(checkProgressArgs(1, undefined)).toEqual({ current: 1, total: null });
  });
});
