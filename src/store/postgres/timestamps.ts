import pg from 'pg';

const TIMESTAMPTZ_OID = 1184;
const pgParse = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (text: string) => Date;

/** The number written by the `length` digits at `from`, or NaN where one is not a digit. */
function digits(text: string, from: number, length: number): number {
  let value = 0;
  for (let i = from; i < from + length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * A `timestamptz` as PostgreSQL writes it with its default DateStyle (ISO):
 * `2026-12-02 08:01:41.108484+00`, the offset `±HH[:MM[:SS]]`. pg's own parser runs a regular
 * expression per value; a job row has four timestamps, and in a drain those matches were a
 * twentieth of what the worker allocated. The same Date (milliseconds truncated, as there);
 * anything else (BC, infinity, a year before 1000 or after 9999, another DateStyle) goes to pg's.
 */
export function parseTimestamptz(text: string): Date {
  const year = digits(text, 0, 4);
  if (!(year >= 1000) || text.charCodeAt(4) !== 45 || text.charCodeAt(10) !== 32) return pgParse(text);
  let i = 19;
  let ms = 0;
  if (text.charCodeAt(i) === 46) {
    i++;
    for (let scale = 100; i < text.length; i++, scale /= 10) {
      const digit = text.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) break;
      if (scale >= 1) ms += digit * scale;
    }
  }
  const sign = text.charCodeAt(i) === 43 ? 1 : text.charCodeAt(i) === 45 ? -1 : 0;
  const rest = text.length - i - 1;
  if (sign === 0 || (rest !== 2 && rest !== 5 && rest !== 8)) return pgParse(text);
  const offsetSeconds =
    digits(text, i + 1, 2) * 3600 +
    (rest >= 5 ? digits(text, i + 4, 2) * 60 : 0) +
    (rest === 8 ? digits(text, i + 7, 2) : 0);
  const utc = Date.UTC(
    year,
    digits(text, 5, 2) - 1,
    digits(text, 8, 2),
    digits(text, 11, 2),
    digits(text, 14, 2),
    digits(text, 17, 2),
    ms,
  );
  const at = utc - sign * offsetSeconds * 1000;
  return Number.isNaN(at) ? pgParse(text) : new Date(at);
}

/** The pool's type parsers: pg's, with the faster timestamptz one. */
export const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMPTZ_OID && format !== 'binary') return parseTimestamptz;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;
