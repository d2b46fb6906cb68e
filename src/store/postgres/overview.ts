import type { IsoDate } from '../../core/job.ts';
import type { JobStats, StatsRequest, WorkerInfo, WorkerRecord } from '../store.ts';
import type { Tables } from './tables.ts';

/** The store's query function (its pool, errors mapped). */
type Query = <R>(sql: string, values: unknown[]) => Promise<R[]>;

const iso = (value: Date): IsoDate => value.toISOString();

/**
 * The Overview's figures (Store.stats), as on SQLite (sqlite/overview.ts): the running jobs (the
 * partial index on running jobs, migration 15) and the jobs finished since `since` (the index on
 * finished_at); an attempt started in the window either still runs or finished after it started,
 * so no index on started_at (a write more on every claim) is needed. Run times are rounded to
 * whole milliseconds, as SQLite stores them.
 */
export async function stats(query: Query, t: Tables, request: StatsRequest): Promise<JobStats> {
  const bucket = Math.max(1, Math.round(request.bucketMs));
  const values = [request.since, request.until, bucket];
  const slot = (column: string) => `floor(extract(epoch FROM ${column} - $1::timestamptz) * 1000 / $3)::int`;
  const [buckets, ranks] = await Promise.all([
    query<{ b: number; started: number; succeeded: number; failed: number }>(
      `SELECT b, sum(s)::int AS started, sum(ok)::int AS succeeded, sum(ko)::int AS failed FROM (
         SELECT ${slot('started_at')} AS b, 1 AS s, 0 AS ok, 0 AS ko FROM ${t.jobs}
           WHERE status = 'running' AND started_at >= $1::timestamptz AND started_at < $2::timestamptz
         UNION ALL
         SELECT ${slot('started_at')}, 1, 0, 0 FROM ${t.jobs}
           WHERE finished_at >= $1::timestamptz AND started_at >= $1::timestamptz AND started_at < $2::timestamptz
         UNION ALL
         SELECT ${slot('finished_at')}, 0, (status = 'succeeded')::int, (status = 'failed')::int FROM ${t.jobs}
           WHERE finished_at >= $1::timestamptz AND finished_at < $2::timestamptz AND status IN ('succeeded', 'failed')
       ) AS x GROUP BY b ORDER BY b`,
      values,
    ),
    query<{ task: string; n: number; p50: number; p95: number; p99: number }>(
      `SELECT task, count(*)::int AS n,
         percentile_disc(0.50) WITHIN GROUP (ORDER BY ms) AS p50,
         percentile_disc(0.95) WITHIN GROUP (ORDER BY ms) AS p95,
         percentile_disc(0.99) WITHIN GROUP (ORDER BY ms) AS p99
       FROM (SELECT task, round(extract(epoch FROM finished_at - started_at) * 1000)::float8 AS ms FROM ${t.jobs}
         WHERE finished_at >= $1::timestamptz AND finished_at < $2::timestamptz
           AND status IN ('succeeded', 'failed') AND started_at IS NOT NULL) AS r
       GROUP BY task ORDER BY task`,
      values.slice(0, 2),
    ),
  ]);
  const since = Date.parse(request.since);
  return {
    buckets: buckets.map((row) => ({
      at: new Date(since + row.b * bucket).toISOString(),
      started: row.started,
      succeeded: row.succeeded,
      failed: row.failed,
    })),
    runTimes: ranks.map((row) => ({ task: row.task, count: row.n, p50: row.p50, p95: row.p95, p99: row.p99 })),
  };
}

/** One statement: the worker's row, added or seen now. */
export async function touchWorker(query: Query, t: Tables, worker: WorkerInfo): Promise<void> {
  await query(
    `INSERT INTO ${t.workers} (id, host, pid, concurrency, tasks, beat_ms, started_at, seen_at)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::timestamptz, now())
     ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, concurrency = excluded.concurrency,
       tasks = excluded.tasks, beat_ms = excluded.beat_ms, seen_at = excluded.seen_at`,
    [
      worker.id,
      worker.host,
      worker.pid,
      worker.concurrency,
      JSON.stringify(worker.tasks),
      Math.round(worker.beatMs),
      worker.startedAt,
    ],
  );
}

export async function removeWorker(query: Query, t: Tables, id: string): Promise<boolean> {
  const rows = await query(`DELETE FROM ${t.workers} WHERE id = $1 RETURNING id`, [id]);
  return rows.length > 0;
}

export async function pruneWorkers(query: Query, t: Tables, before: IsoDate): Promise<number> {
  const rows = await query(`DELETE FROM ${t.workers} WHERE seen_at < $1::timestamptz RETURNING id`, [before]);
  return rows.length;
}

interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  tasks: string[];
  beat_ms: number;
  started_at: Date;
  seen_at: Date;
  running: { id: string; task: string; startedAt: string | null }[] | null;
}

/** The registry, with each worker's running jobs, in one statement (one snapshot). */
export async function workers(query: Query, t: Tables): Promise<WorkerRecord[]> {
  const rows = await query<WorkerRow>(
    `SELECT w.*, (SELECT jsonb_agg(jsonb_build_object('id', j.id, 'task', j.task,
         'startedAt', to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
         ORDER BY j.started_at, j.seq)
       FROM ${t.jobs} j WHERE j.status = 'running' AND j.worker_id = w.id) AS running
     FROM ${t.workers} w ORDER BY w.id`,
    [],
  );
  return rows.map((row) => ({
    id: row.id,
    host: row.host,
    pid: row.pid,
    concurrency: row.concurrency,
    tasks: row.tasks,
    beatMs: row.beat_ms,
    startedAt: iso(row.started_at),
    seenAt: iso(row.seen_at),
    running: row.running ?? [],
  }));
}
