import { describe, expect, it } from 'vitest';
import { niceMax } from './charts.tsx';

describe('niceMax', () => {
  it('rounds the top of the y axis up to 1, 2, 4, 6, 8 or 10 × 10^n, at least 4, with a whole half', () => {
    const cases = [
      [0, 4],
      [3, 4],
      [5, 6],
      [9, 10],
      [10, 10],
      [11, 20],
      [45, 60],
      [81, 100],
      [1234, 2000],
    ] as const;
    for (const [value, top] of cases) {
      expect(niceMax(value)).toBe(top);
      expect(Number.isInteger(niceMax(value) / 2)).toBe(true);
    }
  });
});
