import { describe, expect, it } from 'vitest';
import { humanDuration, stepCaption } from './format.ts';

describe('humanDuration', () => {
  it.each([
    [0.2, 'less than a second'],
    [12, '12 s'],
    [60, '1 min'],
    [185, '3 min 5 s'],
    [7800, '2 h 10 min'],
    [3 * 86_400, '3 days'],
    [-1, 'unknown'],
    [Number.NaN, 'unknown'],
  ])('%s s reads "%s"', (seconds, words) => {
    expect(humanDuration(seconds)).toBe(words);
  });
});

describe('stepCaption', () => {
  it('names the total when known', () => {
    expect(stepCaption(3, 40)).toBe('step 3 of 40');
    expect(stepCaption(3, null)).toBe('step 3');
  });
});
