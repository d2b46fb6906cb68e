import type pg from 'pg';
import { type ChildSummary, WAITING_FOR_CHILDREN_AT } from '../../core/children.ts';
import { newJobId } from '../../core/ids.ts';
import type { JobError, JobProgress, Lease } from '../../core/job.ts';
import type { ChildInput } from '../store.ts';
import { appendAttempt } from './attempts.ts';
import { type JobRow, jobColumns, jsonParam } from './rows.ts';
import { appendSample } from './samples.ts';
import type { Tables } from './tables.ts';

/**
 * Child jobs on PostgreSQL (docs/children.md). A child's end is counted toward its parent by
 * migration 10's trigger, in the transaction that ends it, on the parent's row: see there why a
 * count kept on the row, and not one read from the children's rows, cannot miss a wake-up.
 */

/** The child statements of one schema, built once per store. */
export function childQueries(t: Tables) {
  const cols = jobColumns(t);
  return {
    /**
     * The child, added unless the parent has one of that name (then that one), in one statement,
     * fenced by the parent's lease. Always one row: `held` false when the lease is lost; the job's
     * columns null when a spawn of the same name in another transaction inserted it after this
     * statement's snapshot (the caller tries again).
     *
     * Rows are locked child first, parent second, as a child's end locks them (its row, then the
     * trigger's update of its parent): `parent` is read without a lock. Locking it first (against a
     * reap between the check and the insert) deadlocked with the end of a child of the same name,
     * whose row the insert's conflict check waits for. A reap in between costs nothing: the job's
     * next attempt spawns the same name and gets this child.
     */
    spawn: `
      WITH parent AS (
        SELECT id, owner FROM ${t.jobs} WHERE id = $1 AND lease_token = $2 AND status = 'running'),
      ins AS (
        INSERT INTO ${t.jobs} AS j (id, task, status, params, max_attempts, owner, timeout_seconds, run_at, priority,
            queue, concurrency_key, parent_id, child_name)
        SELECT $3, $4, 'queued', $5::jsonb, $6, parent.owner, $7, greatest(coalesce($8::timestamptz, now()), now()),
          $9, coalesce($10, $4), $11, parent.id, $12
        FROM parent
        ON CONFLICT (parent_id, child_name) WHERE parent_id IS NOT NULL DO NOTHING
        RETURNING ${cols}, true AS created),
      counted AS (
        UPDATE ${t.jobs} SET children_total = children_total + 1 WHERE id = $1 AND EXISTS (SELECT 1 FROM ins))
      SELECT r.*, h.held FROM (SELECT EXISTS (SELECT 1 FROM parent) AS held) AS h
      LEFT JOIN (
        SELECT * FROM ins
        UNION ALL
        SELECT ${cols}, false AS created FROM ${t.jobs} j
        WHERE j.parent_id = $1 AND j.child_name = $12 AND NOT EXISTS (SELECT 1 FROM ins)
      ) AS r ON h.held`,

    /**
     * The end of an attempt that waits, uncounted: due at once if every child has ended, or more
     * failed than the attempt saw ($4), else asleep. `run_at` is computed from the row's counts as
     * they are when this statement holds the row: a child's end that committed while it waited for
     * the lock is counted there (see migration 10).
     */
    waitForChildren: `
      UPDATE ${t.jobs} j SET
        status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
        finished_at = CASE WHEN cancel_requested THEN now() ELSE NULL END,
        error = CASE WHEN cancel_requested THEN $3::jsonb ELSE error END,
        attempt = attempt - 1,
        run_at = CASE WHEN children_ended >= children_total OR children_failed > $4::int THEN now()
          ELSE '${WAITING_FOR_CHILDREN_AT}' END,
        attempts = CASE WHEN cancel_requested THEN attempts ELSE ${appendAttempt('now()', 'NULL', "'waited'", 'NULL')} END,
        lease_token = NULL, lease_expires_at = NULL, changed_xid = pg_current_xact_id()
      WHERE id = $1 AND lease_token = $2 AND status = 'running'
      RETURNING ${cols}`,

    /** A running child's share is the fraction its saved bar shows (capped at 1); one without a total counts 0. */
    summary: `
      SELECT count(*)::int AS total,
        count(*) FILTER (WHERE status = 'queued')::int AS queued,
        count(*) FILTER (WHERE status = 'running')::int AS running,
        count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
        count(*) FILTER (WHERE status = 'failed')::int AS failed,
        count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled,
        coalesce(sum(CASE
          WHEN status IN ('succeeded', 'failed', 'cancelled') THEN 1
          WHEN status = 'running' AND (progress->>'total')::float8 > 0
            THEN least(1, greatest(0, (progress->>'current')::float8 / (progress->>'total')::float8))
          ELSE 0 END), 0)::float8 AS done
      FROM ${t.jobs} WHERE parent_id = $1`,

    // A sleeping parent's progress (its children's) is a point of its progress over time too.
    saveWaitingProgress: `UPDATE ${t.jobs} SET progress = $2::jsonb, progress_samples = ${appendSample('$2', '$3')}
      WHERE id = $1 AND status = 'queued' RETURNING id`,
  };
}

export type ChildQueries = ReturnType<typeof childQueries>;

/**
 * Adds a child (or finds the parent's child of that name); null when the parent's lease is lost.
 * A race with a spawn of the same name elsewhere is tried again: the next statement sees its row.
 */
export async function spawnChild(
  pool: pg.Pool,
  sql: ChildQueries,
  parent: Lease,
  input: ChildInput,
): Promise<(JobRow & { created: boolean }) | null> {
  const values = [
    parent.jobId,
    parent.token,
    input.id ?? newJobId(),
    input.task,
    jsonParam(input.params ?? {}),
    input.maxAttempts,
    input.timeoutSeconds ?? null,
    input.runAt ?? null,
    input.priority ?? 0,
    input.queue ?? null,
    input.concurrencyKey ?? null,
    input.childName,
  ];
  for (let attempt = 1; attempt <= 5; attempt++) {
    const { rows } = await pool.query<JobRow & { created: boolean; held: boolean }>(sql.spawn, values);
    const row = rows[0];
    if (!row?.held) return null;
    if (row.id !== null) return row;
  }
  throw new Error(`The child ${JSON.stringify(input.childName)} kept being added elsewhere; try again.`);
}

export async function waitForChildren(
  pool: pg.Pool,
  sql: ChildQueries,
  lease: Lease,
  failuresSeen: number,
  cancelled: JobError,
): Promise<JobRow | null> {
  const values = [lease.jobId, lease.token, jsonParam(cancelled), failuresSeen];
  const { rows } = await pool.query<JobRow>(sql.waitForChildren, values);
  return rows[0] ?? null;
}

export async function childSummary(pool: pg.Pool, sql: ChildQueries, parentId: string): Promise<ChildSummary> {
  const { rows } = await pool.query<ChildSummary>(sql.summary, [parentId]);
  return rows[0] as ChildSummary;
}

export async function saveWaitingProgress(
  pool: pg.Pool,
  sql: ChildQueries,
  parentId: string,
  progress: JobProgress,
): Promise<boolean> {
  const { rows } = await pool.query(sql.saveWaitingProgress, [
    parentId,
    jsonParam(progress),
    Date.parse(progress.updatedAt),
  ]);
  return rows.length === 1;
}
