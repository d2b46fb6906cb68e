import type { IsoDate, JobStatus } from '../core/job.ts';
import { JOB_STATUSES } from '../core/job.ts';
import type { QueueSample, RunTimes, StatsBucket, StatusCount, WorkerRecord } from '../store/store.ts';
import { ALIVE_BEATS } from '../worker/registration.ts';
import type { Deps } from './context.ts';
import { type QueueJson, toQueueJson } from './routes/queues.ts';

/** A series of equal buckets, every one present (zeros too), oldest first. */
export interface SeriesJson {
  bucketMs: number;
  since: IsoDate;
  buckets: StatsBucket[];
  runTimes: RunTimes[];
}

export interface WorkerJson extends Omit<WorkerRecord, 'beatMs'> {
  /** Seen within ALIVE_BEATS of its heartbeat intervals. */
  alive: boolean;
  heartbeatMs: number;
}

/** Queue depth over a window (every queue together), one value per bucket; null where no sample was taken (no worker ran). */
export interface DepthSeriesJson {
  bucketMs: number;
  since: IsoDate;
  /** `due` and `running`: the highest sample in the bucket. */
  buckets: { at: IsoDate; due: number | null; running: number | null }[];
}

/** What the operators' Overview shows, and `GET /stats` answers. */
export interface OverviewJson {
  at: IsoDate;
  /** Jobs per task and status now (every status, zeros too), by task. */
  counts: ({ task: string } & Record<JobStatus, number>)[];
  /** Per minute over the last hour (60 buckets, the last one the current minute). */
  lastHour: SeriesJson;
  /** Per 30 minutes over the last day (48 buckets). */
  lastDay: SeriesJson;
  queues: QueueJson[];
  /** Queue depth per minute over the last hour and per 30 minutes over the last day, from the workers' samples (Store.sampleQueues). */
  depth: { lastHour: DepthSeriesJson; lastDay: DepthSeriesJson };
  /** Alive ones first; dead ones stay until pruned (an hour after they were last seen). */
  workers: WorkerJson[];
}

const MINUTE = 60_000;

/** Where `count` buckets of `bucketMs` start, aligned to whole multiples of it, the last holding `now`. */
const windowStart = (now: number, bucketMs: number, count: number): number =>
  (Math.floor(now / bucketMs) - count + 1) * bucketMs;

/** The overview now: a few indexed reads (the store's `counts`, two `stats`, the queues' usage, the registry). */
export async function overviewOf(deps: Deps, now = Date.now()): Promise<OverviewJson> {
  const daySince = windowStart(now, 30 * MINUTE, 48);
  const [counts, lastHour, lastDay, queues, workers, samples] = await Promise.all([
    deps.jobs.counts(),
    series(deps, now, MINUTE, 60),
    series(deps, now, 30 * MINUTE, 48),
    deps.queue.queues(),
    deps.jobs.workers(),
    deps.jobs.queueSamples(new Date(daySince).toISOString(), new Date(now + MINUTE).toISOString()),
  ]);
  const totals = samples.filter((sample) => sample.queue === '*');
  const shown = workers.map(
    ({ beatMs, ...worker }): WorkerJson => ({
      ...worker,
      heartbeatMs: beatMs,
      alive: Date.parse(worker.seenAt) + ALIVE_BEATS * beatMs >= now,
    }),
  );
  return {
    at: new Date(now).toISOString(),
    counts: countsByTask(counts, deps.tasks.names()),
    lastHour,
    lastDay,
    queues: queues.map(toQueueJson),
    depth: { lastHour: depthSeries(totals, now, MINUTE, 60), lastDay: depthSeries(totals, now, 30 * MINUTE, 48) },
    workers: [...shown.filter((w) => w.alive), ...shown.filter((w) => !w.alive)],
  };
}

/** `count` buckets of `bucketMs` (windowStart), each with the jobs started and ended in it. */
async function series(deps: Deps, now: number, bucketMs: number, count: number): Promise<SeriesJson> {
  const start = windowStart(now, bucketMs, count);
  const since = new Date(start).toISOString();
  const stats = await deps.jobs.stats({ since, until: new Date(start + count * bucketMs).toISOString(), bucketMs });
  const found = new Map(stats.buckets.map((bucket) => [Date.parse(bucket.at), bucket]));
  const buckets = Array.from({ length: count }, (_, i) => {
    const at = start + i * bucketMs;
    return found.get(at) ?? { at: new Date(at).toISOString(), started: 0, succeeded: 0, failed: 0 };
  });
  return { bucketMs, since, buckets, runTimes: stats.runTimes };
}

/** `count` buckets as `series` has them, each with the highest of its samples, null where none. */
function depthSeries(samples: readonly QueueSample[], now: number, bucketMs: number, count: number): DepthSeriesJson {
  const start = windowStart(now, bucketMs, count);
  const buckets: DepthSeriesJson['buckets'] = Array.from({ length: count }, (_, i) => ({
    at: new Date(start + i * bucketMs).toISOString(),
    due: null,
    running: null,
  }));
  for (const sample of samples) {
    const bucket = buckets[Math.floor((Date.parse(sample.at) - start) / bucketMs)];
    if (!bucket) continue;
    bucket.due = Math.max(bucket.due ?? 0, sample.due);
    bucket.running = Math.max(bucket.running ?? 0, sample.running);
  }
  return { bucketMs, since: new Date(start).toISOString(), buckets };
}

/** Every task the app knows, and any other the store holds jobs of, with a count per status. */
function countsByTask(counts: readonly StatusCount[], names: readonly string[]): OverviewJson['counts'] {
  const rows = new Map<string, { task: string } & Record<JobStatus, number>>();
  const row = (task: string) => {
    let found = rows.get(task);
    if (!found) {
      found = { task, ...(Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>) };
      rows.set(task, found);
    }
    return found;
  };
  for (const name of names) row(name);
  for (const count of counts) row(count.task)[count.status] += count.count;
  return [...rows.values()].sort((a, b) => (a.task < b.task ? -1 : a.task > b.task ? 1 : 0));
}
