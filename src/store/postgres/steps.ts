import type pg from 'pg';
import type { JobProgress, Lease } from '../../core/job.ts';
import type { NewStep, RecordedStep } from '../../core/steps.ts';
import { jsonParam } from './rows.ts';
import type { Tables } from './tables.ts';

interface StepRow {
  job_id: string;
  name: string;
  result: unknown;
  attempt: number;
  progress: JobProgress | null;
  recorded_at: Date;
}

/**
 * Records a step in one statement, fenced by the lease without locking the job's row. A share
 * lock here (as log appends take) made the heartbeat, which skips rows another transaction holds,
 * miss its renewals: with a step recorded every ~30 ms, 63 leases were lost by live workers in
 * the steps kill test (docs/reliability.md). Without it, a record can race with its lease's loss
 * and land just after the reap, unseen by the next attempt, which then runs the step again and
 * records it too: the later attempt's record replaces the earlier one, so every attempt after
 * gets the result the latest one used. The attempt number is the row's. False when the lease is
 * lost (the row, read at the statement's start, is no longer running under it).
 */
export async function recordStep(pool: pg.Pool, t: Tables, lease: Lease, step: NewStep): Promise<boolean> {
  const { rows } = await pool.query<{ held: boolean }>(
    `WITH held AS (SELECT attempt FROM ${t.jobs} WHERE id = $1 AND lease_token = $2 AND status = 'running'),
     ins AS (
       INSERT INTO ${t.steps} AS s (job_id, name, result, attempt, progress)
       SELECT $1, $3, $4::jsonb, attempt, $5::jsonb FROM held
       ON CONFLICT (job_id, name) DO UPDATE
         SET result = excluded.result, attempt = excluded.attempt, progress = excluded.progress, recorded_at = now()
         WHERE s.attempt < excluded.attempt)
     SELECT EXISTS (SELECT 1 FROM held) AS held`,
    [lease.jobId, lease.token, step.name, jsonParam(step.result ?? null), step.progress && jsonParam(step.progress)],
  );
  return rows[0]?.held === true;
}

/**
 * The recorded steps of several jobs in one query (attempts claimed together start together),
 * each job's in the order recorded: `recorded_at` is the recording transaction's start, to the
 * microsecond.
 */
export async function listSteps(pool: pg.Pool, t: Tables, jobIds: readonly string[]): Promise<RecordedStep[][]> {
  const { rows } = await pool.query<StepRow>(
    `SELECT job_id, name, result, attempt, progress, recorded_at FROM ${t.steps}
     WHERE job_id = ANY($1::text[]) ORDER BY job_id, recorded_at, name`,
    [jobIds],
  );
  const byJob = new Map<string, RecordedStep[]>();
  for (const row of rows) {
    const list = byJob.get(row.job_id) ?? [];
    if (list.length === 0) byJob.set(row.job_id, list);
    list.push({
      name: row.name,
      result: row.result,
      attempt: row.attempt,
      progress: row.progress,
      recordedAt: row.recorded_at.toISOString(),
    });
  }
  return jobIds.map((id) => byJob.get(id) ?? []);
}
