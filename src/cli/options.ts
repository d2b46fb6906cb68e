import { InvalidArgumentError } from 'commander';

/**
 * Parsers for option values, checked when the command line is parsed. They throw commander's
 * InvalidArgumentError: commander then names the option in its message and the command exits 2
 * (bad input) before anything is opened. Passed through as `Number`, `--limit abc` reached the
 * store as NaN and exited 4, "datatype mismatch"; a plain Error surfaced as a stack trace.
 */

/** A whole number in [min, max]. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER, what = `a whole number >= ${min}`) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`Expected ${what}, got "${value}".`);
    }
    return n;
  };
}

/** A number of seconds, fractions allowed: > 0, or >= 0 with `allowZero`. */
export function seconds(allowZero: boolean) {
  const what = allowZero ? 'a number of seconds >= 0' : 'a number of seconds > 0';
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
      throw new InvalidArgumentError(`Expected ${what}, got "${value}".`);
    }
    return n;
  };
}

export const parsePort = wholeNumber(0, 65_535, 'a port number (0-65535)');
export const parseCount = wholeNumber(1);
export const parseCountOrZero = wholeNumber(0);
