import { appendAttempt } from './attempts.ts';
import { JOB_ROW, jobColumns } from './rows.ts';
import { appendSample } from './samples.ts';
import type { Tables } from './tables.ts';

const FINISHED = `('succeeded', 'failed', 'cancelled')`;
/** worker_id stays: the worker of the latest attempt, shown on the job's page. */
const CLEAR_LEASE = 'lease_token = NULL, lease_expires_at = NULL';
/**
 * Every statement that changes a job's status or cancel request records its transaction, for the
 * listener's catch-up (listener.ts). A BEFORE UPDATE trigger did this until migration 4; set here,
 * it costs nothing per row beyond the column.
 */
const TOUCH = 'changed_xid = pg_current_xact_id()';

/** The job statements of one schema, built once per store. Times come from the database clock, so workers on many machines agree. */
export function jobQueries(t: Tables) {
  const cols = jobColumns(t);
  /**
   * Returned by the claims: whether the job has recorded steps (ctx.step), so that an attempt of
   * a job without any (nearly all) does not read them, a round trip before its task starts.
   * Reading them in every attempt drained no-op jobs 22 % slower (medians of 6 alternating runs
   * of 3,000 jobs, concurrency 10: 1,173 against 1,510 jobs/s); this probe costs nothing visible.
   */
  const hasSteps = `EXISTS (SELECT 1 FROM ${t.steps} s WHERE s.job_id = j.id) AS has_steps`;
  return {
    /**
     * Insert unless a queued or running job holds the dedupe key; then return that one. One
     * statement: the arbiter is the partial unique index, so two racing enqueues cannot both insert.
     * Empty when the holder finished between the conflict and the read: the caller tries again.
     */
    enqueue: `
      WITH ins AS (
        INSERT INTO ${t.jobs} AS j (id, task, status, params, max_attempts, owner, dedupe_key, timeout_seconds, retry_of, run_at, priority, queue, concurrency_key)
        VALUES ($1, $2, 'queued', $3::jsonb, $4, $5, $6, $7, $8, greatest(coalesce($9::timestamptz, now()), now()), $10, coalesce($11, $2), $12)
        ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING
        RETURNING ${cols}, true AS created)
      SELECT * FROM ins
      UNION ALL
      SELECT ${cols}, false AS created FROM ${t.jobs} j
      WHERE $6::text IS NOT NULL AND j.dedupe_key = $6 AND j.status IN ('queued', 'running') AND NOT EXISTS (SELECT 1 FROM ins)`,

    /** The common case, no dedupe key: a plain insert (a new job has no artifacts to read). */
    enqueueNew: `
      INSERT INTO ${t.jobs} AS j (id, task, status, params, max_attempts, owner, timeout_seconds, retry_of, run_at, priority, queue, concurrency_key)
      VALUES ($1, $2, 'queued', $3::jsonb, $4, $5, $6, $7, greatest(coalesce($8::timestamptz, now()), now()), $9, coalesce($10, $2), $11)
      RETURNING ${JOB_ROW}`,

    /**
     * Many jobs in one statement, in input order (seq follows it). A job whose dedupe key a queued
     * or running job holds, or an earlier job of the same batch, is skipped (DO NOTHING): the
     * caller reads the holders.
     */
    enqueueMany: `
      INSERT INTO ${t.jobs} AS j (id, task, status, params, max_attempts, owner, dedupe_key, timeout_seconds, retry_of, run_at, priority,
          queue, concurrency_key)
      SELECT id, task, 'queued', params, max_attempts, owner, dedupe_key, timeout_seconds, retry_of,
        greatest(coalesce(run_at, now()), now()), priority, coalesce(queue, task), concurrency_key
      FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::integer[], $5::text[], $6::text[], $7::float8[], $8::text[],
          $9::timestamptz[], $10::integer[], $11::text[], $12::text[]) WITH ORDINALITY
        AS i(id, task, params, max_attempts, owner, dedupe_key, timeout_seconds, retry_of, run_at, priority, queue, concurrency_key, n)
      ORDER BY n
      ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING
      RETURNING ${JOB_ROW}`,

    /** The queued or running jobs holding these dedupe keys. */
    dedupeHolders: `SELECT ${cols} FROM ${t.jobs} j WHERE j.dedupe_key = ANY($1::text[]) AND j.status IN ('queued', 'running')`,

    /**
     * The claim: one statement, one round trip; why this shape is in docs/postgres.md. The due jobs
     * (`FOR UPDATE SKIP LOCKED`, highest priority then oldest first) come from a function that
     * keeps the plan an index walk (migrations 3 and 6).
     * Its commit does not wait for the WAL flush: a claim lost in a server crash leaves the job
     * queued, to be run again, as when a worker dies (at least once either way); the finish that
     * records a result is a normal commit, and flushing it flushes the claim before it.
     */
    claim: `
      UPDATE ${t.jobs} j
      SET status = 'running', attempt = j.attempt + 1, started_at = now(), worker_id = $1,
          lease_token = replace(gen_random_uuid()::text, '-', ''),
          lease_expires_at = now() + $4 * interval '1 millisecond', progress = NULL, ${TOUCH}
      FROM ${t.dueFunction}($2::text[], $3::integer) AS due(id),
        (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
      WHERE j.id = due.id
      RETURNING ${cols}, ${hasSteps}`,

    /**
     * The limited claim (claimLimited), in one transaction: first a transaction-level advisory lock
     * per limited queue, taken in name order (so two claimers cannot deadlock), which serialises
     * the claims of a queue across every process; then the running counts, the candidates, and
     * the update of the ones that fit. Unlimited queues never take these locks.
     */
    lockQueues: `
      SELECT count(pg_advisory_xact_lock(k)) FROM (
        SELECT hashtextextended('underway:${t.schema}:queue:' || q, 0) AS k FROM unnest($1::text[]) AS q ORDER BY q
      ) AS locks`,
    runningByKey: `
      SELECT queue, concurrency_key AS key, count(*)::int AS n FROM ${t.jobs}
      WHERE status = 'running' AND queue = ANY($1::text[]) GROUP BY queue, concurrency_key`,
    /** Jobs of a queue started in the last $2 seconds: its rate window. */
    startedInWindow: `
      SELECT count(*)::int AS n FROM ${t.jobs} WHERE queue = $1 AND started_at > clock_timestamp() - $2 * interval '1 second'`,
    /** The same per concurrency key (keyless jobs left out), for its per-key rate window. */
    startedByKey: `
      SELECT concurrency_key AS key, count(*)::int AS n FROM ${t.jobs}
      WHERE queue = $1 AND started_at > clock_timestamp() - $2 * interval '1 second' AND concurrency_key IS NOT NULL
      GROUP BY concurrency_key`,
    // A paused queue's check does not depend on the row: a one-time filter, no row is walked.
    limitedCandidates: `
      SELECT id, concurrency_key AS key FROM ${t.jobs}
      WHERE status = 'queued' AND queue = $1 AND run_at <= now()
        AND task = ANY(ARRAY(SELECT unnest($2::text[]) EXCEPT SELECT name FROM ${t.paused} WHERE kind = 'task'))
        AND NOT EXISTS (SELECT 1 FROM ${t.paused} WHERE kind = 'queue' AND name = $1)
      ORDER BY priority DESC, run_at, seq
      LIMIT $3
      FOR UPDATE SKIP LOCKED`,
    // started_at from the clock, not the transaction's start: the rate window counts it, and this
    // transaction may have waited for the queue's lock.
    claimIds: `
      UPDATE ${t.jobs} j
      SET status = 'running', attempt = j.attempt + 1, started_at = clock_timestamp(), worker_id = $1,
          lease_token = replace(gen_random_uuid()::text, '-', ''),
          lease_expires_at = now() + $3 * interval '1 millisecond', progress = NULL, ${TOUCH}
      WHERE j.id = ANY($2::text[]) AND j.status = 'queued'
      RETURNING ${cols}, ${hasSteps}`,

    /**
     * Renews many leases. Rows another transaction holds (a finish of the same worker in flight,
     * a cancel request) are skipped and count as held this beat: the heartbeat never waits for a
     * lock, so it cannot deadlock with a finish batch, which then need not lock its rows in order
     * first (an extra tuple lock and WAL record per finished job, ~35 % of the finish's time).
     */
    heartbeat: `
      WITH l AS (SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS l(id, token, i)),
      locked AS (SELECT id FROM ${t.jobs} WHERE id = ANY($1::text[]) FOR NO KEY UPDATE SKIP LOCKED),
      renewed AS (
        UPDATE ${t.jobs} j SET lease_expires_at = now() + $3 * interval '1 millisecond'
        FROM l WHERE j.id = l.id AND j.lease_token = l.token AND j.status = 'running'
          AND j.id IN (SELECT id FROM locked)
        RETURNING j.id, j.lease_token, j.cancel_requested)
      SELECT l.id,
        r.id IS NOT NULL OR (l.id NOT IN (SELECT id FROM locked) AND EXISTS (SELECT 1 FROM ${t.jobs} x WHERE x.id = l.id)) AS held,
        coalesce(r.cancel_requested, false) AS cancel_requested
      FROM l LEFT JOIN renewed r ON r.id = l.id AND r.lease_token = l.token ORDER BY l.i`,

    saveProgress: `UPDATE ${t.jobs} SET progress = $3::jsonb WHERE id = $1 AND lease_token = $2 AND status = 'running'`,
    // The same write, appending to the progress samples (appendSample).
    saveProgressSample: `UPDATE ${t.jobs} SET progress = $3::jsonb, progress_samples = ${appendSample('$3', '$4')}
      WHERE id = $1 AND lease_token = $2 AND status = 'running'`,

    /**
     * Ends many attempts at once (finish calls arriving together are batched into one statement).
     * A cancel asked for while the attempt was failing wins over the retry.
     */
    finish: `
      UPDATE ${t.jobs} j SET
        status = CASE WHEN o.kind <> 'retry' THEN o.kind WHEN j.cancel_requested THEN 'cancelled' ELSE 'queued' END,
        result = CASE WHEN o.kind = 'succeeded' THEN o.result ELSE j.result END,
        error = CASE WHEN o.kind = 'succeeded' THEN NULL ELSE o.error END,
        finished_at = CASE WHEN o.kind = 'retry' AND NOT j.cancel_requested THEN NULL ELSE now() END,
        run_at = CASE WHEN o.kind = 'retry' THEN o.run_at ELSE j.run_at END,
        attempts = CASE WHEN o.kind = 'retry' AND NOT j.cancel_requested
          THEN ${appendAttempt('now()', 'o.run_at', "'retry'", "jsonb_build_object('code', o.error->'code', 'message', o.error->'message')")}
          ELSE j.attempts END,
        ${CLEAR_LEASE}, ${TOUCH}
      FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::timestamptz[])
        AS o(id, token, kind, result, error, run_at)
      WHERE j.id = o.id AND j.lease_token = o.token AND j.status = 'running'
      RETURNING ${cols}, o.token AS fenced_by`,

    /**
     * A success written inside the task's own transaction (ctx.transaction, task-transaction.ts),
     * fenced as `finish` is: no row means the lease is lost, and the caller rolls back.
     */
    completeInTransaction: `
      UPDATE ${t.jobs} j SET status = 'succeeded', result = $3::jsonb, error = NULL, finished_at = now(),
        ${CLEAR_LEASE}, ${TOUCH}
      WHERE j.id = $1 AND j.lease_token = $2 AND j.status = 'running'
      RETURNING ${cols}`,

    release: `
      UPDATE ${t.jobs} j SET
        status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
        finished_at = CASE WHEN cancel_requested THEN now() ELSE NULL END,
        error = CASE WHEN cancel_requested THEN $3::jsonb ELSE error END,
        attempts = CASE WHEN cancel_requested THEN attempts ELSE ${appendAttempt('now()', 'now()', "'released'", 'NULL')} END,
        attempt = attempt - 1, run_at = now(), ${CLEAR_LEASE}, ${TOUCH}
      WHERE id = $1 AND lease_token = $2 AND status = 'running'
      RETURNING ${cols}`,

    cancel: `
      UPDATE ${t.jobs} j SET cancel_requested = true,
        status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
        finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,
        error = CASE WHEN status = 'queued' THEN $2::jsonb ELSE error END, ${TOUCH}
      WHERE id = $1 AND (status = 'queued' OR (status = 'running' AND NOT cancel_requested))
      RETURNING ${cols}`,

    get: `SELECT ${cols} FROM ${t.jobs} j WHERE j.id = $1`,

    /** The start of `list`'s query; the store adds WHERE, ORDER BY and LIMIT. */
    selectJobs: `SELECT ${cols} FROM ${t.jobs} j`,

    counts: `SELECT task, status, count(*)::int AS count FROM ${t.jobs} GROUP BY task, status ORDER BY task, status`,

    remove: `
      WITH target AS (SELECT id, status FROM ${t.jobs} WHERE id = $1),
      gone AS (DELETE FROM ${t.jobs} WHERE id IN (SELECT id FROM target WHERE status IN ${FINISHED}) RETURNING id),
      logs AS (DELETE FROM ${t.logs} WHERE job_id IN (SELECT id FROM gone)),
      files AS (DELETE FROM ${t.artifacts} WHERE job_id IN (SELECT id FROM gone)),
      steps AS (DELETE FROM ${t.steps} WHERE job_id IN (SELECT id FROM gone))
      SELECT status FROM target`,

    /**
     * Expired leases, re-checked under SKIP LOCKED so that two reapers never reap one job twice.
     * $1–$3: the texts of core/job-texts.ts (cancelled, the stalled template, no attempts left).
     */
    reap: `
      UPDATE ${t.jobs} j SET
        status = CASE WHEN cancel_requested THEN 'cancelled' WHEN attempt < max_attempts THEN 'queued' ELSE 'failed' END,
        error = CASE
          WHEN cancel_requested THEN jsonb_build_object('code', 'CANCELLED', 'message', $1::text)
          ELSE jsonb_build_object('code', 'STALLED', 'message',
            format($2::text, attempt) || CASE WHEN attempt < max_attempts THEN '' ELSE $3::text END) END,
        finished_at = CASE WHEN NOT cancel_requested AND attempt < max_attempts THEN NULL ELSE now() END,
        attempts = CASE WHEN NOT cancel_requested AND attempt < max_attempts
          THEN ${appendAttempt('now()', 'now()', "'stalled'", "jsonb_build_object('code', 'STALLED', 'message', format($2::text, attempt))")}
          ELSE attempts END,
        run_at = now(), ${CLEAR_LEASE}, ${TOUCH}
      WHERE j.id IN (
        SELECT id FROM ${t.jobs} WHERE status = 'running' AND lease_expires_at < now() FOR UPDATE SKIP LOCKED)
      RETURNING ${cols}`,

    /**
     * Deletes up to $6 finished jobs past retention (with logs, artifacts and steps) per call; the store
     * repeats it, so a big backlog is removed in short transactions rather than one long one.
     */
    cleanup: `
      WITH rules AS (SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[]) AS r(task, succeeded_days, failed_days)),
      doomed AS (
        SELECT j.id FROM ${t.jobs} j LEFT JOIN rules r ON r.task = j.task
        WHERE j.status IN ${FINISHED} AND j.finished_at < coalesce($4::timestamptz, now()) - make_interval(secs => 86400 *
          CASE WHEN j.status = 'succeeded' THEN coalesce(r.succeeded_days, $5) ELSE coalesce(r.failed_days, $7) END)
        LIMIT $6),
      gone AS (DELETE FROM ${t.jobs} WHERE id IN (SELECT id FROM doomed) RETURNING id),
      logs AS (DELETE FROM ${t.logs} WHERE job_id IN (SELECT id FROM gone)),
      files AS (DELETE FROM ${t.artifacts} WHERE job_id IN (SELECT id FROM gone)),
      steps AS (DELETE FROM ${t.steps} WHERE job_id IN (SELECT id FROM gone))
      SELECT count(*)::int AS n FROM gone`,

    /** Uploads abandoned half-way (their process died) for a day are deleted with their chunks. */
    cleanupUploads: `DELETE FROM ${t.artifacts} WHERE NOT complete AND created_at < now() - interval '1 day'`,

    /** A pause, or the one already in force (the first pause holds). */
    pause: `
      WITH ins AS (
        INSERT INTO ${t.paused} (kind, name, paused_by, reason) VALUES ($1, $2, $3, $4)
        ON CONFLICT (kind, name) DO NOTHING RETURNING *)
      SELECT * FROM ins
      UNION ALL
      SELECT * FROM ${t.paused} WHERE kind = $1 AND name = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
    resume: `DELETE FROM ${t.paused} WHERE kind = $1 AND name = $2 RETURNING name`,
    listPauses: `SELECT * FROM ${t.paused} ORDER BY paused_at, name`,

    /** A schedule added or updated; next_at kept unless its timing changed (store.ts). */
    saveSchedule: `
      INSERT INTO ${t.schedules} AS s (name, task, cron, every_seconds, timezone, params, owner, priority,
          catch_up_seconds, next_at, source, created_by)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12)
      ON CONFLICT (name) DO UPDATE SET
        next_at = CASE WHEN s.cron IS NOT DISTINCT FROM excluded.cron
          AND s.every_seconds IS NOT DISTINCT FROM excluded.every_seconds
          AND s.timezone IS NOT DISTINCT FROM excluded.timezone THEN s.next_at ELSE excluded.next_at END,
        task = excluded.task, cron = excluded.cron, every_seconds = excluded.every_seconds,
        timezone = excluded.timezone, params = excluded.params, owner = excluded.owner,
        priority = excluded.priority, catch_up_seconds = excluded.catch_up_seconds,
        source = excluded.source, updated_at = now()
      RETURNING *`,
    listSchedules: `SELECT * FROM ${t.schedules} ORDER BY name`,
    removeSchedule: `DELETE FROM ${t.schedules} WHERE name = $1 RETURNING name`,
    /** The compare-and-set of fireSchedule: moves next_at only if nobody moved it first. */
    moveSchedule: `
      UPDATE ${t.schedules} SET next_at = $2, last_tick_at = $3, updated_at = now()
      WHERE name = $1 AND next_at = $4 RETURNING name`,

    nextRunAt: `SELECT min(run_at) AS at FROM ${t.jobs} WHERE status = 'queued'
      AND task = ANY(ARRAY(SELECT unnest($1::text[]) EXCEPT SELECT name FROM ${t.paused} WHERE kind = 'task'))
      AND queue <> ALL(ARRAY(SELECT name FROM ${t.paused} WHERE kind = 'queue'))`,

    /**
     * A queue's counts in one statement (one snapshot), each through a migration 7 index; a null
     * key or window counts 0. $3 and $4: the queue's and the key's rate windows in seconds.
     */
    queueUsage: `
      SELECT due.n AS due, due.oldest AS oldest_due_at,
        (SELECT count(*)::int FROM ${t.jobs} WHERE status = 'running' AND queue = $1) AS running,
        (SELECT count(*)::int FROM ${t.jobs}
          WHERE status = 'running' AND queue = $1 AND concurrency_key = $2::text) AS running_with_key,
        (SELECT count(*)::int FROM ${t.jobs}
          WHERE queue = $1 AND started_at > now() - $3::float8 * interval '1 second') AS started_in_window,
        (SELECT count(*)::int FROM ${t.jobs}
          WHERE queue = $1 AND started_at > now() - $4::float8 * interval '1 second'
            AND concurrency_key = $2::text) AS started_with_key_in_window
      FROM (SELECT count(*)::int AS n, min(run_at) AS oldest FROM ${t.jobs}
        WHERE status = 'queued' AND queue = $1 AND run_at <= now()) AS due`,

    /** Jobs whose status changed in transactions a snapshot could not see (listener catch-up). */
    changedSince: `
      SELECT ${cols} FROM ${t.jobs} j
      WHERE j.changed_xid >= pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(j.changed_xid, $1::pg_snapshot)
      ORDER BY j.seq`,
  };
}

export type JobQueries = ReturnType<typeof jobQueries>;
