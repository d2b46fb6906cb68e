import { MAX_ATTEMPT_RECORDS } from '../../core/job.ts';

/**
 * The new value of `attempts` with a record of the attempt that the statement ends appended, for
 * the SET of that same statement (no statement more, and nothing at all when an attempt ends its
 * job). SET reads the row as it was, so `attempt`, `worker_id` and `started_at` are the ending
 * attempt's even beside `attempt = attempt - 1`. The arguments are SQL expressions (`?` binds in
 * text order: endedAt, runAt, error); `error` is JSON text `{ code, message }` or NULL. The oldest
 * record goes once there are MAX_ATTEMPT_RECORDS (store/attempt-records.ts reads them back).
 */
export function appendAttempt(endedAt: string, runAt: string, outcome: string, error: string): string {
  const list = `coalesce(attempts, '[]')`;
  return `json_insert(
      CASE WHEN json_array_length(${list}) >= ${MAX_ATTEMPT_RECORDS} THEN json_remove(${list}, '$[0]') ELSE ${list} END,
      '$[#]', json_object('attempt', attempt, 'workerId', worker_id, 'startedAt', started_at, 'endedAt', ${endedAt},
        'runAt', ${runAt}, 'outcome', ${outcome}, 'error', json(${error})))`;
}
