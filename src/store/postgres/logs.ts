import type { Pool } from 'pg';
import { capLogLine } from '../log-lines.ts';
import { DEFAULT_MAX_LOG_LINES, type LogLine, type NewLogLine } from '../store.ts';
import type { Tables } from './tables.ts';

/** A concurrent append to the same job can take the same numbers; the loser retries (rare: one worker writes a job's log). */
const UNIQUE_VIOLATION = '23505';

type StoredRow = { seq: number; at: Date; stream: LogLine['stream']; line: string; attempt: number | null };

/**
 * Appends lines in one statement: numbers follow the job's last line; the line that would pass
 * `maxLines` becomes the one `system` notice and the rest are dropped, as the SQLite store does.
 *
 * With a lease token the statement is fenced, still one round trip: `held` takes a share lock on
 * the job's row only while it runs under that token (READ COMMITTED re-checks the newest row
 * version, and a finish or reap in flight is waited for), the insert happens only if it did, and
 * an extra row of NULLs says "lease lost" (an empty answer alone could be the cap). The lock makes
 * the order strict: a finish or reap commits before these lines or after them, never in between.
 * Null when the lease is lost.
 */
export async function appendLogs(
  pool: Pool,
  t: Tables,
  jobId: string,
  token: string | null,
  lines: readonly NewLogLine[],
  maxLines = DEFAULT_MAX_LOG_LINES,
): Promise<LogLine[] | null> {
  if (lines.length === 0) return [];
  const sql = `
    WITH held AS (SELECT attempt FROM ${t.jobs} WHERE id = $1 AND lease_token = $6 AND status = 'running' FOR SHARE),
    last AS (SELECT coalesce(max(seq), 0) AS m FROM ${t.logs} WHERE job_id = $1),
    printer AS (SELECT CASE WHEN $6::text IS NULL THEN (SELECT attempt FROM ${t.jobs} WHERE id = $1)
      ELSE (SELECT attempt FROM held) END AS n),
    ins AS (
      INSERT INTO ${t.logs} (job_id, seq, at, stream, line, attempt)
      SELECT $1, m + i, at,
        CASE WHEN m + i > $5 THEN 'system' ELSE stream END,
        CASE WHEN m + i > $5 THEN '[log capped at ' || $5 || ' lines; later lines dropped]' ELSE line END,
        printer.n
      FROM last, printer, unnest($2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS l(stream, line, at, i)
      WHERE m + i <= $5 + 1 AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM held))
      RETURNING seq, at, stream, line, attempt)
    SELECT seq, at, stream, line, attempt FROM ins
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL WHERE $6::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM held)`;
  const params = [
    jobId,
    lines.map((l) => l.stream),
    lines.map((l) => capLine(l.line)),
    lines.map((l) => l.at),
    maxLines,
    token,
  ];
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await pool.query<StoredRow | { seq: null }>(sql, params);
      if (rows.some((row) => row.seq === null)) return null;
      return (rows as StoredRow[]).sort((a, b) => a.seq - b.seq).map((row) => ({ ...row, at: row.at.toISOString() }));
    } catch (error) {
      if ((error as { code?: unknown }).code !== UNIQUE_VIOLATION || attempt >= 5) throw error;
    }
  }
}

/** Log lines after `after`, oldest first. */
export async function readLogs(
  pool: Pool,
  t: Tables,
  jobId: string,
  options: { after?: number; limit?: number },
): Promise<LogLine[]> {
  const { rows } = await pool.query<StoredRow>(
    `SELECT seq, at, stream, line, attempt FROM ${t.logs} WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [jobId, options.after ?? 0, options.limit ?? 100_000],
  );
  return rows.map((row) => ({ ...row, at: row.at.toISOString() }));
}

/** Cuts a long line; NUL, which a PostgreSQL text cannot hold, becomes U+FFFD. */
function capLine(raw: string): string {
  return capLogLine(raw.includes('\u0000') ? raw.replaceAll('\u0000', '\uFFFD') : raw);
}
