import type { IsoDate, ProgressSample } from '../../core/job.ts';
import { toSamples } from '../progress-samples.ts';
import { MAX_PROGRESS_SAMPLES, QUEUE_SAMPLES_KEPT_MS, type QueueSample } from '../store.ts';
import type { Tables } from './tables.ts';

/** The store's query function (its pool, errors mapped). */
type Query = <R>(sql: string, values: unknown[]) => Promise<R[]>;

/**
 * progress_samples with [at ms, current, total, attempt] appended, from a progress (jsonb) and
 * its time in ms (float8) given as parameters; a full array keeps its odd-numbered elements
 * first (the start stays, the grain halves): a bounded row. The attempt is the row's own.
 */
export function appendSample(progress: string, atMs: string): string {
  return `CASE WHEN jsonb_array_length(coalesce(progress_samples, '[]'::jsonb)) >= ${MAX_PROGRESS_SAMPLES}
      THEN (SELECT jsonb_agg(e ORDER BY i) FROM jsonb_array_elements(progress_samples) WITH ORDINALITY AS x(e, i) WHERE i % 2 = 1)
      ELSE coalesce(progress_samples, '[]'::jsonb) END
      || jsonb_build_array(jsonb_build_array(${atMs}::float8, (${progress}::jsonb)->'current', (${progress}::jsonb)->'total', attempt))`;
}

export async function progressSamples(query: Query, t: Tables, jobId: string): Promise<ProgressSample[]> {
  const [row] = await query<{ progress_samples: unknown }>(`SELECT progress_samples FROM ${t.jobs} WHERE id = $1`, [
    jobId,
  ]);
  return toSamples(row?.progress_samples ?? null);
}

/**
 * The minute's queue depths in one statement, unless a worker wrote them already: the primary
 * key decides between workers sampling the same minute (ON CONFLICT), and the NOT EXISTS keeps
 * the counts from running at all once the minute has its sample. Old samples go in the same
 * statement.
 */
export async function sampleQueues(query: Query, t: Tables, minute: IsoDate): Promise<boolean> {
  const rows = await query<{ queue: string }>(
    `WITH fresh AS (SELECT NOT EXISTS (SELECT 1 FROM ${t.queueSamples} WHERE at = $1::timestamptz AND queue = '*') AS ok),
     pruned AS (DELETE FROM ${t.queueSamples} WHERE at < now() - $2 * interval '1 millisecond' AND (SELECT ok FROM fresh)),
     depth AS (
       SELECT coalesce(queue, task) AS queue, count(*) FILTER (WHERE status = 'queued' AND run_at <= now())::int AS due,
         count(*) FILTER (WHERE status = 'running')::int AS running
       FROM ${t.jobs} WHERE status IN ('queued', 'running') AND (SELECT ok FROM fresh) GROUP BY 1)
     INSERT INTO ${t.queueSamples} (at, queue, due, running)
     SELECT $1::timestamptz, queue, due, running FROM depth
     UNION ALL
     SELECT $1::timestamptz, '*', coalesce(sum(due), 0)::int, coalesce(sum(running), 0)::int FROM depth
       WHERE (SELECT ok FROM fresh)
     ON CONFLICT (at, queue) DO NOTHING
     RETURNING queue`,
    [minute, QUEUE_SAMPLES_KEPT_MS],
  );
  return rows.some((row) => row.queue === '*');
}

export async function queueSamples(query: Query, t: Tables, since: IsoDate, until: IsoDate): Promise<QueueSample[]> {
  const rows = await query<{ at: Date; queue: string; due: number; running: number }>(
    `SELECT at, queue, due, running FROM ${t.queueSamples}
     WHERE at >= $1::timestamptz AND at < $2::timestamptz ORDER BY at, queue`,
    [since, until],
  );
  return rows.map((row) => ({ ...row, at: row.at.toISOString() }));
}
