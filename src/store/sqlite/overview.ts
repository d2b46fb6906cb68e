import type Database from 'better-sqlite3';
import type { IsoDate } from '../../core/job.ts';
import type { JobStats, RunTimes, StatsRequest, WorkerInfo, WorkerRecord } from '../store.ts';

/** The store's statement cache. */
type Prepare = (sql: string) => Database.Statement;

const iso = (ms: number): IsoDate => new Date(ms).toISOString();

/**
 * The Overview's figures (Store.stats). Each part reads through an index: the running jobs
 * (underway_jobs_leases, as many as the workers run) and the jobs finished since `since`
 * (underway_jobs_finished). An attempt started in the window either still runs or finished after
 * it started, so no index on started_at (a write more on every claim) is needed. `+status`
 * keeps the planner off underway_jobs_status, which it otherwise picked for `status IN
 * ('succeeded', 'failed')`: a walk of every finished job ever kept instead of the window's.
 */
export function stats(prepare: Prepare, request: StatsRequest): JobStats {
  const params = {
    since: Date.parse(request.since),
    until: Date.parse(request.until),
    bucket: Math.max(1, Math.round(request.bucketMs)),
  };
  const buckets = prepare(
    // CAST: better-sqlite3 binds a JS number as a REAL, and the division would not be whole.
    `SELECT b, sum(s) AS started, sum(ok) AS succeeded, sum(ko) AS failed FROM (
       SELECT CAST((started_at - $since) / $bucket AS INTEGER) AS b, 1 AS s, 0 AS ok, 0 AS ko FROM underway_jobs
         WHERE status = 'running' AND started_at >= $since AND started_at < $until
       UNION ALL
       SELECT CAST((started_at - $since) / $bucket AS INTEGER), 1, 0, 0 FROM underway_jobs
         WHERE finished_at >= $since AND started_at >= $since AND started_at < $until
       UNION ALL
       SELECT CAST((finished_at - $since) / $bucket AS INTEGER), 0, status = 'succeeded', status = 'failed' FROM underway_jobs
         WHERE finished_at >= $since AND finished_at < $until AND +status IN ('succeeded', 'failed'))
     GROUP BY b ORDER BY b`,
  ).all(params) as { b: number; started: number; succeeded: number; failed: number }[];
  // Nearest rank: the value at rank ceil(p × n) of the task's sorted run times (percentile_disc
  // on PostgreSQL), ceil in integers. SQLite has no percentile function: window functions pick the rows.
  const ranks = prepare(
    `WITH t AS (
       SELECT task, finished_at - started_at AS ms,
         row_number() OVER (PARTITION BY task ORDER BY finished_at - started_at) AS r,
         count(*) OVER (PARTITION BY task) AS n
       FROM underway_jobs
       WHERE finished_at >= $since AND finished_at < $until AND +status IN ('succeeded', 'failed')
         AND started_at IS NOT NULL)
     SELECT task, n,
       max(CASE WHEN r = max(1, (50 * n + 99) / 100) THEN ms END) AS p50,
       max(CASE WHEN r = max(1, (95 * n + 99) / 100) THEN ms END) AS p95,
       max(CASE WHEN r = max(1, (99 * n + 99) / 100) THEN ms END) AS p99
     FROM t GROUP BY task, n ORDER BY task`,
  ).all(params) as { task: string; n: number; p50: number; p95: number; p99: number }[];
  return {
    buckets: buckets.map((row) => ({
      at: iso(params.since + row.b * params.bucket),
      started: row.started,
      succeeded: row.succeeded,
      failed: row.failed,
    })),
    runTimes: ranks.map(
      (row): RunTimes => ({ task: row.task, count: row.n, p50: row.p50, p95: row.p95, p99: row.p99 }),
    ),
  };
}

/** One statement: the worker's row, added or seen now. */
export function touchWorker(prepare: Prepare, worker: WorkerInfo, now: number): void {
  prepare(
    `INSERT INTO underway_workers (id, host, pid, concurrency, tasks, beat_ms, started_at, seen_at)
       VALUES ($id, $host, $pid, $concurrency, $tasks, $beatMs, $startedAt, $now)
     ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, concurrency = excluded.concurrency,
       tasks = excluded.tasks, beat_ms = excluded.beat_ms, seen_at = excluded.seen_at`,
  ).run({
    id: worker.id,
    host: worker.host,
    pid: worker.pid,
    concurrency: worker.concurrency,
    tasks: JSON.stringify(worker.tasks),
    beatMs: Math.round(worker.beatMs),
    startedAt: Date.parse(worker.startedAt),
    now,
  });
}

export function removeWorker(prepare: Prepare, id: string): boolean {
  return prepare('DELETE FROM underway_workers WHERE id = ?').run(id).changes > 0;
}

export function pruneWorkers(prepare: Prepare, before: IsoDate): number {
  return prepare('DELETE FROM underway_workers WHERE seen_at < ?').run(Date.parse(before)).changes;
}

interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  tasks: string;
  beat_ms: number;
  started_at: number;
  seen_at: number;
}

/** The registry, with each worker's running jobs (the running jobs: underway_jobs_leases). */
export function workers(prepare: Prepare): WorkerRecord[] {
  const rows = prepare('SELECT * FROM underway_workers ORDER BY id').all() as WorkerRow[];
  const running = prepare(
    `SELECT worker_id, id, task, started_at FROM underway_jobs
     WHERE status = 'running' AND worker_id IN (SELECT id FROM underway_workers) ORDER BY started_at, seq`,
  ).all() as { worker_id: string; id: string; task: string; started_at: number | null }[];
  return rows.map((row) => ({
    id: row.id,
    host: row.host,
    pid: row.pid,
    concurrency: row.concurrency,
    tasks: JSON.parse(row.tasks) as string[],
    beatMs: row.beat_ms,
    startedAt: iso(row.started_at),
    seenAt: iso(row.seen_at),
    running: running
      .filter((job) => job.worker_id === row.id)
      .map((job) => ({ id: job.id, task: job.task, startedAt: job.started_at === null ? null : iso(job.started_at) })),
  }));
}
