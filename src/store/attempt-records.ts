import type { AttemptRecord } from '../core/job.ts';

/**
 * The `attempts` column as both backends keep it: a JSON array of records with times in epoch
 * milliseconds (the SQL that appends one reads the row's own `started_at` and the clock, and
 * milliseconds are exact in either database's JSON).
 */
interface StoredAttempt {
  attempt: number;
  workerId: string | null;
  startedAt: number | null;
  endedAt: number;
  runAt: number | null;
  outcome: AttemptRecord['outcome'];
  error: AttemptRecord['error'];
}

const iso = (ms: number | string): string => new Date(Number(ms)).toISOString();

/** The column's value (parsed JSON, or null for a job whose every attempt ended it) as records. */
export function toAttemptRecords(stored: unknown): AttemptRecord[] {
  if (!Array.isArray(stored)) return [];
  return (stored as StoredAttempt[]).map((r) => ({
    attempt: r.attempt,
    workerId: r.workerId ?? null,
    startedAt: r.startedAt === null || r.startedAt === undefined ? null : iso(r.startedAt),
    endedAt: iso(r.endedAt),
    outcome: r.outcome,
    runAt: r.runAt === null || r.runAt === undefined ? null : iso(r.runAt),
    error: r.error ? { code: r.error.code, message: r.error.message } : null,
  }));
}
