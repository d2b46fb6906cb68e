import type Database from 'better-sqlite3';
import type { IsoDate, JobProgress, Lease, ProgressSample } from '../../core/job.ts';
import { toSamples } from '../progress-samples.ts';
import { MAX_PROGRESS_SAMPLES, QUEUE_SAMPLES_KEPT_MS, type QueueSample } from '../store.ts';

/** The store's statement cache. */
type Prepare = (sql: string) => Database.Statement;

const iso = (ms: number): IsoDate => new Date(ms).toISOString();

/**
 * A progress write, and with `sample` the same UPDATE appends [at, current, total, attempt] to
 * the job's samples. When the array is full, the even-numbered ones are kept first (the start
 * stays, the grain halves), so a job of hours keeps its whole shape in a bounded row. The
 * attempt comes from the row itself: it is the one that holds the lease.
 */
export function saveProgress(prepare: Prepare, lease: Lease, progress: JobProgress, sample: boolean): boolean {
  const json = JSON.stringify(progress);
  if (!sample) {
    return (
      prepare(`UPDATE underway_jobs SET progress = ? WHERE id = ? AND lease_token = ? AND status = 'running'`).run(
        json,
        lease.jobId,
        lease.token,
      ).changes === 1
    );
  }
  return (
    prepare(
      `UPDATE underway_jobs SET progress = $progress, progress_samples = ${APPEND_SAMPLE}
       WHERE id = $id AND lease_token = $token AND status = 'running'`,
    ).run({ ...sampleParams(progress), id: lease.jobId, token: lease.token }).changes === 1
  );
}

/**
 * progress_samples with [$at, $current, $total, attempt] appended; when full, the even-numbered
 * ones are kept first (the start stays, the grain halves). The attempt is the row's own.
 */
export const APPEND_SAMPLE = `json_insert(
  CASE WHEN json_array_length(coalesce(progress_samples, '[]')) >= ${MAX_PROGRESS_SAMPLES}
    THEN (SELECT json_group_array(json(value)) FROM json_each(progress_samples) WHERE key % 2 = 0)
    ELSE coalesce(progress_samples, '[]') END,
  '$[#]', json_array($at, $current, $total, attempt))`;

/** The named parameters of APPEND_SAMPLE, and the progress itself as $progress. */
export function sampleParams(progress: JobProgress) {
  return {
    progress: JSON.stringify(progress),
    at: Date.parse(progress.updatedAt),
    current: progress.current,
    total: progress.total,
  };
}

export function progressSamples(prepare: Prepare, jobId: string): ProgressSample[] {
  const row = prepare('SELECT progress_samples FROM underway_jobs WHERE id = ?').get(jobId) as
    | { progress_samples: string | null }
    | undefined;
  return toSamples(row?.progress_samples ? (JSON.parse(row.progress_samples) as unknown) : null);
}

/**
 * The minute's queue depths, unless a worker wrote them already (one read of the primary key),
 * counted through the status indexes: queued jobs due now and running ones, per queue and all.
 * Samples older than QUEUE_SAMPLES_KEPT_MS go first (as on PostgreSQL, where the delete does not
 * see the statement's own insert).
 */
export function sampleQueues(prepare: Prepare, minute: IsoDate, now: number): boolean {
  const at = Date.parse(minute);
  if (prepare(`SELECT 1 FROM underway_queue_samples WHERE at = ? AND queue = '*'`).get(at)) return false;
  prepare('DELETE FROM underway_queue_samples WHERE at < ?').run(now - QUEUE_SAMPLES_KEPT_MS);
  prepare(
    `INSERT OR IGNORE INTO underway_queue_samples (at, queue, due, running)
     SELECT $at, coalesce(queue, task), sum(status = 'queued' AND run_at <= $now), sum(status = 'running')
       FROM underway_jobs WHERE status IN ('queued', 'running') GROUP BY coalesce(queue, task)
     UNION ALL
     SELECT $at, '*', coalesce(sum(status = 'queued' AND run_at <= $now), 0), coalesce(sum(status = 'running'), 0)
       FROM underway_jobs WHERE status IN ('queued', 'running')`,
  ).run({ at, now });
  return true;
}

export function queueSamples(prepare: Prepare, since: IsoDate, until: IsoDate): QueueSample[] {
  const rows = prepare(
    'SELECT at, queue, due, running FROM underway_queue_samples WHERE at >= ? AND at < ? ORDER BY at, queue',
  ).all(Date.parse(since), Date.parse(until)) as { at: number; queue: string; due: number; running: number }[];
  return rows.map((row) => ({ ...row, at: iso(row.at) }));
}
