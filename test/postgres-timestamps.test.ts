import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../src/store/postgres/timestamps.ts';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.ts';

const pgParse = pg.types.getTypeParser(1184, 'text') as (text: string) => Date | number;

/** Both parsers agree: the same instant (or both not a finite date). */
function expectSameAsPg(text: string): void {
  const ours = parseTimestamptz(text);
  const theirs = pgParse(text);
  expect(`${text} → ${Number(ours)}`).toBe(`${text} → ${Number(theirs)}`);
}

describe('the timestamptz parser', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  it('reads what PostgreSQL writes in any time zone as pg’s own parser does', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const instants = [
        '2026-12-02 08:01:41.108484+00',
        '2026-12-02 08:01:41+00',
        '2026-12-02 08:01:41.1+00',
        '2026-12-02 08:01:41.999999+00',
        '2000-02-29 23:59:59.9995+00',
        '1930-06-01 12:00:00+00',
        '1000-01-01 00:00:00+00',
        '0050-03-01 00:00:00+00',
        '0044-03-15 12:00:00+00 BC',
        '9999-12-31 23:59:59.999999+00',
        '12000-01-01 00:00:00+00',
        'infinity',
        '-infinity',
      ];
      // Whole-hour offsets, half hours, 45 minutes, and Amsterdam's +00:19:32 of 1930 (seconds).
      for (const zone of [
        'UTC',
        'Asia/Kolkata',
        'America/St_Johns',
        'Asia/Kathmandu',
        'Europe/Amsterdam',
        'Pacific/Apia',
      ]) {
        await client.query(`SET TimeZone = '${zone}'`);
        const { rows } = await client.query<{ text: string }>(
          `SELECT t::timestamptz::text AS text FROM unnest($1::text[]) AS t
           UNION ALL SELECT (now() + n * interval '37 minutes 13.4567 seconds')::text FROM generate_series(-500, 500) AS n`,
          [instants],
        );
        for (const { text } of rows) expectSameAsPg(text);
      }
    } finally {
      await client.end();
    }
  });

  it('hands anything else to pg’s parser', () => {
    for (const text of [
      '2026-12-02 08:01:41',
      '2026-12-02',
      'Wed Dec 02 08:01:41 2026 UTC',
      '2026-12-02 08:01:41.5+0',
    ]) {
      expectSameAsPg(text);
    }
  });
});
