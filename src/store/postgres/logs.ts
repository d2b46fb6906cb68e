import type { Pool } from 'pg';
import { capLogLine } from '../log-lines.ts';
import { DEFAULT_MAX_LOG_LINES, type LogLine, type NewLogLine } from '../store.ts';
import type { Tables } from './tables.ts';

/** A concurrent append to the same job can take the same numbers; the loser retries (rare: one worker writes a job's log). */
const UNIQUE_VIOLATION = '23505';

/**
 * Appends lines in one statement: numbers follow the job's last line; the line that would pass
 * `maxLines` becomes the one `system` notice and the rest are dropped, as the SQLite store does.
 */
export async function appendLogs(
  pool: Pool,
  t: Tables,
  jobId: string,
  lines: readonly NewLogLine[],
  maxLines = DEFAULT_MAX_LOG_LINES,
): Promise<LogLine[]> {
  if (lines.length === 0) return [];
  const sql = `
    WITH last AS (SELECT coalesce(max(seq), 0) AS m FROM ${t.logs} WHERE job_id = $1)
    INSERT INTO ${t.logs} (job_id, seq, at, stream, line)
    SELECT $1, m + i, at,
      CASE WHEN m + i > $5 THEN 'system' ELSE stream END,
      CASE WHEN m + i > $5 THEN '[log capped at ' || $5 || ' lines; later lines dropped]' ELSE line END
    FROM last, unnest($2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS l(stream, line, at, i)
    WHERE m + i <= $5 + 1
    RETURNING seq, at, stream, line`;
  const params = [
    jobId,
    lines.map((l) => l.stream),
    lines.map((l) => capLine(l.line)),
    lines.map((l) => l.at),
    maxLines,
  ];
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await pool.query<{ seq: number; at: Date; stream: LogLine['stream']; line: string }>(
        sql,
        params,
      );
      return rows.sort((a, b) => a.seq - b.seq).map((row) => ({ ...row, at: row.at.toISOString() }));
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
  const { rows } = await pool.query<{ seq: number; at: Date; stream: LogLine['stream']; line: string }>(
    `SELECT seq, at, stream, line FROM ${t.logs} WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [jobId, options.after ?? 0, options.limit ?? 100_000],
  );
  return rows.map((row) => ({ ...row, at: row.at.toISOString() }));
}

/** Cuts a long line; NUL, which a PostgreSQL text cannot hold, becomes U+FFFD. */
function capLine(raw: string): string {
  return capLogLine(raw.includes('\u0000') ? raw.replaceAll('\u0000', '\uFFFD') : raw);
}
