import { MAX_ATTEMPT_RECORDS } from '../../core/job.ts';

/**
 * The new value of `attempts` with a record of the attempt that the statement ends appended, for
 * the SET of that same statement (no statement more, and nothing at all when an attempt ends its
 * job). SET reads the row as it was, so `attempt`, `worker_id` and `started_at` are the ending
 * attempt's even beside `attempt = attempt - 1`. The arguments are SQL expressions: the end and
 * the next due time (timestamptz), the outcome (text) and the error (jsonb `{ code, message }` or
 * NULL). Times are kept as epoch milliseconds, as on SQLite (store/attempt-records.ts reads them);
 * the oldest record goes once there are MAX_ATTEMPT_RECORDS (`- 0` drops a jsonb array's first).
 */
export function appendAttempt(endedAt: string, runAt: string, outcome: string, error: string): string {
  const list = `coalesce(attempts, '[]'::jsonb)`;
  const ms = (at: string) => `floor(extract(epoch from (${at})::timestamptz) * 1000)::bigint`;
  return `(CASE WHEN jsonb_array_length(${list}) >= ${MAX_ATTEMPT_RECORDS} THEN ${list} - 0 ELSE ${list} END)
      || jsonb_build_array(jsonb_build_object('attempt', attempt, 'workerId', worker_id, 'startedAt', ${ms('started_at')},
        'endedAt', ${ms(endedAt)}, 'runAt', ${ms(runAt)}, 'outcome', ${outcome}::text, 'error', ${error}::jsonb))`;
}
