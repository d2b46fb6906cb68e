import type Database from 'better-sqlite3';
import { type ChildSummary, WAITING_FOR_CHILDREN_MS } from '../../core/children.ts';
import type { JobProgress, Lease } from '../../core/job.ts';
import type { ChildInput } from '../store.ts';
import { appendAttempt } from './attempts.ts';
import { insertJob } from './insert-job.ts';
import type { JobRow } from './rows.ts';
import { APPEND_SAMPLE, sampleParams } from './samples.ts';

/**
 * Child jobs on SQLite (docs/children.md), each call inside the store's one write transaction:
 * SQLite has one writer at a time across processes, so what a call reads holds until it writes.
 * A child's end is counted toward its parent by migration 9's trigger, whichever statement ends it.
 */

/** The store's statement cache. */
type Prepare = (sql: string) => Database.Statement;

/**
 * Adds the child unless the parent has one of that name, counting it in the parent's
 * `children_total`; null when the parent no longer runs under the lease.
 */
export function spawnChild(
  prepare: Prepare,
  parent: Lease,
  input: ChildInput,
  now: number,
): { row: JobRow; created: boolean } | null {
  const owner = prepare(`SELECT owner FROM underway_jobs WHERE id = ? AND lease_token = ? AND status = 'running'`).get(
    parent.jobId,
    parent.token,
  ) as { owner: string | null } | undefined;
  if (!owner) return null;
  const existing = prepare('SELECT * FROM underway_jobs WHERE parent_id = ? AND child_name = ?').get(
    parent.jobId,
    input.childName,
  ) as JobRow | undefined;
  if (existing) return { row: existing, created: false };
  // A child's dedupe key and retry_of stay unset, as its parent's spawn never gives them.
  const row = insertJob(prepare, { ...input, dedupeKey: null, retryOf: null }, now, {
    parentId: parent.jobId,
    childName: input.childName,
    owner: owner.owner,
  });
  prepare('UPDATE underway_jobs SET children_total = children_total + 1 WHERE id = ?').run(parent.jobId);
  return { row, created: true };
}

/**
 * Ends the attempt waiting, uncounted: queued, due now if every child has ended or more failed than
 * the attempt saw, else asleep until a child's end moves `run_at` (the trigger); cancelled instead
 * when a cancel was asked.
 */
export function waitForChildren(
  prepare: Prepare,
  lease: Lease,
  failuresSeen: number,
  cancelledError: string,
  now: number,
): JobRow | null {
  const row = prepare(
    `UPDATE underway_jobs SET
         status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END,
         finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END,
         error = CASE WHEN cancel_requested = 1 THEN ? ELSE error END,
         attempt = attempt - 1,
         run_at = CASE WHEN children_ended >= children_total OR children_failed > ? THEN ? ELSE ? END,
         attempts = CASE WHEN cancel_requested = 1 THEN attempts ELSE ${appendAttempt('?', 'NULL', "'waited'", 'NULL')} END,
         lease_token = NULL, lease_expires_at = NULL
       WHERE id = ? AND lease_token = ? AND status = 'running' RETURNING *`,
  ).get(now, cancelledError, failuresSeen, now, WAITING_FOR_CHILDREN_MS, now, lease.jobId, lease.token) as
    | JobRow
    | undefined;
  return row ?? null;
}

export function childSummary(prepare: Prepare, parentId: string): ChildSummary {
  // A running child's share is the fraction its saved bar shows (capped at 1); one without a total counts 0.
  const row = prepare(
    `SELECT count(*) AS total,
         coalesce(sum(status = 'queued'), 0) AS queued,
         coalesce(sum(status = 'running'), 0) AS running,
         coalesce(sum(status = 'succeeded'), 0) AS succeeded,
         coalesce(sum(status = 'failed'), 0) AS failed,
         coalesce(sum(status = 'cancelled'), 0) AS cancelled,
         coalesce(sum(CASE
           WHEN status IN ('succeeded', 'failed', 'cancelled') THEN 1.0
           WHEN status = 'running' AND json_extract(progress, '$.total') > 0
             THEN min(1.0, max(0.0, json_extract(progress, '$.current') * 1.0 / json_extract(progress, '$.total')))
           ELSE 0.0 END), 0.0) AS done
       FROM underway_jobs WHERE parent_id = ?`,
  ).get(parentId) as ChildSummary;
  return row;
}

export function saveWaitingProgress(prepare: Prepare, parentId: string, progress: JobProgress): boolean {
  return (
    prepare(
      `UPDATE underway_jobs SET progress = $progress, progress_samples = ${APPEND_SAMPLE}
       WHERE id = $id AND status = 'queued'`,
    ).run({ ...sampleParams(progress), id: parentId }).changes === 1
  );
}
