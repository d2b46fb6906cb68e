import type Database from 'better-sqlite3';
import { capLogLine, logCapNotice } from '../log-lines.ts';
import type { LogLine, NewLogLine } from '../store.ts';

/**
 * Appends lines numbered after the job's last one, marked with `attempt` (the attempt printing
 * them); the line that would pass `maxLines` becomes the one `system` notice and the rest are
 * dropped. Run inside a write transaction.
 */
export function appendLogLines(
  db: Database.Database,
  jobId: string,
  attempt: number | null,
  lines: readonly NewLogLine[],
  maxLines: number,
): LogLine[] {
  const { last } = db
    .prepare('SELECT coalesce(max(seq), 0) AS last FROM underway_logs WHERE job_id = ?')
    .get(jobId) as { last: number };
  const insert = db.prepare(
    'INSERT INTO underway_logs (job_id, seq, at, stream, line, attempt) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const stored: LogLine[] = [];
  let seq = last;
  for (const line of lines) {
    if (seq > maxLines) break; // the cap notice is already there
    const entry: LogLine =
      seq === maxLines
        ? { seq: seq + 1, stream: 'system', at: line.at, line: logCapNotice(maxLines), attempt }
        : { seq: seq + 1, stream: line.stream, at: line.at, line: capLogLine(line.line), attempt };
    insert.run(jobId, entry.seq, Date.parse(entry.at), entry.stream, entry.line, attempt);
    stored.push(entry);
    seq = entry.seq;
  }
  return stored;
}

/** Lines after `after`, oldest first. */
export function readLogLines(
  db: Database.Database,
  jobId: string,
  options: { after?: number; limit?: number },
): LogLine[] {
  const rows = db
    .prepare(
      'SELECT seq, at, stream, line, attempt FROM underway_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?',
    )
    .all(jobId, options.after ?? 0, options.limit ?? 100_000) as (Omit<LogLine, 'at'> & { at: number })[];
  return rows.map((row) => ({ ...row, at: new Date(row.at).toISOString() }));
}
