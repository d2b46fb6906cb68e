import type Database from 'better-sqlite3';
import type { JobProgress, Lease } from '../../core/job.ts';
import type { NewStep, RecordedStep } from '../../core/steps.ts';

/** The store's statement cache. */
type Prepare = (sql: string) => Database.Statement;

interface StepRow {
  name: string;
  result: string;
  attempt: number;
  progress: string | null;
  recorded_at: number;
}

/**
 * Records a step, inside the caller's write transaction: the lease is checked and the row added
 * under one write lock, so no finish or reap can come between them. False when the lease is lost.
 * A name recorded by an earlier attempt is replaced, as on PostgreSQL (postgres/steps.ts), though
 * here an attempt always sees the records made before its claim and so never records one again.
 *
 * `recorded_at` is the clock's milliseconds, or 1 µs after the job's previous record when that is
 * later: steps that return in the same millisecond (a loop of quick ones) stay in the order they
 * were recorded, which is how a later attempt finds the last one. The column then holds a REAL
 * (SQLite keeps a value an INTEGER column cannot hold exactly); 10,000 records in one millisecond
 * would move the clock they show by 10 ms at most.
 */
export function recordStep(prepare: Prepare, lease: Lease, step: NewStep, now: number): boolean {
  const held = prepare(`SELECT 1 FROM underway_jobs WHERE id = ? AND lease_token = ? AND status = 'running'`).get(
    lease.jobId,
    lease.token,
  );
  if (held === undefined) return false;
  prepare(
    `INSERT INTO underway_steps (job_id, name, result, attempt, progress, recorded_at)
       SELECT @job, @name, @result, attempt, @progress,
         max(@now, coalesce((SELECT max(recorded_at) FROM underway_steps WHERE job_id = @job) + 0.001, 0))
       FROM underway_jobs WHERE id = @job
     ON CONFLICT (job_id, name) DO UPDATE
       SET result = excluded.result, attempt = excluded.attempt, progress = excluded.progress,
         recorded_at = excluded.recorded_at
       WHERE underway_steps.attempt < excluded.attempt`,
  ).run({
    job: lease.jobId,
    name: step.name,
    result: JSON.stringify(step.result === undefined ? null : step.result),
    progress: step.progress === null ? null : JSON.stringify(step.progress),
    now,
  });
  return true;
}

export function listSteps(prepare: Prepare, jobId: string): RecordedStep[] {
  const rows = prepare(
    'SELECT name, result, attempt, progress, recorded_at FROM underway_steps WHERE job_id = ? ORDER BY recorded_at, name',
  ).all(jobId) as StepRow[];
  return rows.map((row) => ({
    name: row.name,
    result: JSON.parse(row.result),
    attempt: row.attempt,
    progress: row.progress === null ? null : (JSON.parse(row.progress) as JobProgress),
    recordedAt: new Date(Math.floor(row.recorded_at)).toISOString(),
  }));
}
