import { describe, expect, it } from 'vitest';
import { Fit } from './queue-limits.ts';
import type { QueueLimit } from './store.ts';

const limit = (over: Partial<QueueLimit>): QueueLimit => ({
  queue: 'q',
  concurrency: null,
  perKey: null,
  rate: null,
  ratePerKey: null,
  ...over,
});

describe('Fit.fullKeys', () => {
  it('names the keys at their running limit or their rate, each once, and only those take() refuses', () => {
    const fit = new Fit(
      limit({ perKey: 2, ratePerKey: { starts: 3, perSeconds: 60 } }),
      [
        { key: 'a', n: 2 },
        { key: 'b', n: '1' },
        { key: null, n: 7 },
      ],
      0,
      [
        { key: 'a', n: 3 },
        { key: 'c', n: 3 },
        { key: 'd', n: 1 },
      ],
    );
    const full = fit.fullKeys();
    expect(full.sort()).toEqual(['a', 'c']);
    for (const key of full) expect(fit.take(key)).toBe(false);
    expect(fit.take('b')).toBe(true);
    expect(fit.take('d')).toBe(true);
    expect(fit.take(null)).toBe(true);
  });

  it('is empty without a per-key limit, whatever runs', () => {
    const fit = new Fit(limit({ concurrency: 1, rate: { starts: 1, perSeconds: 60 } }), [{ key: 'a', n: 5 }]);
    expect(fit.fullKeys()).toEqual([]);
  });
});
