/**
 * Queue-limit test: worker processes on PostgreSQL drain jobs of a queue limited to 2 running at
 * once; at every transition the test reads from the store how many run, and the most it ever saw
 * must be exactly the limit: reached, never exceeded, whichever workers held the jobs.
 *
 * Short (npm test): 40 jobs, 2 workers; full (npm run test:chaos): 200 jobs, 4 workers, each
 * worker with 4 slots (so the limit, not the slots, is what holds them back). Then a rate of 10
 * starts a second: in no one-second window do more jobs start, read from their start times.
 */
import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { postgresStore } from '../../src/store/postgres/index.ts';
import type { Store } from '../../src/store/store.ts';
import { allFinished, chaosFiles, FULL, fleetEnv, prepareEffects, recordFigures, startWorker } from './fleet.ts';

const SIZE = FULL ? { jobs: 200, workers: 4, timeoutMs: 300_000 } : { jobs: 40, workers: 2, timeoutMs: 120_000 };
const LIMIT = 2;

const chaos = chaosFiles('underway-chaos-queue-');
const { dir } = chaos;

/**
 * A fresh schema and data folder, the effects file, and the environment of worker processes on
 * them (4 slots each), with these settings added.
 */
async function fleetSetup(settings: Record<string, string>) {
  const db = await chaos.database();
  const schema = db.schema();
  const store = postgresStore({ connectionString: db.url, schema, poolSize: 4 });
  await store.migrate();
  const data = dir.file(`data-${schema}`);
  mkdirSync(data, { recursive: true });
  const effects = prepareEffects(`${data}/effects.db`);
  const env = fleetEnv({ url: db.url, schema, data, concurrency: 4 }, settings);
  return { store, effects, env };
}

describe('a queue limit over worker processes (PostgreSQL)', () => {
  it(`${SIZE.jobs} jobs of a queue limited to ${LIMIT}, ${SIZE.workers} workers of 4 slots: never more than ${LIMIT} running`, {
    timeout: SIZE.timeoutMs + 30_000,
  }, async () => {
    const { store, effects, env } = await fleetSetup({ CHAOS_QUEUE_LIMIT: String(LIMIT) });
    let most = 0;
    let samples = 0;
    const reads: Promise<void>[] = [];
    const off = store.events.listen((event) => {
      if (event.type !== 'status' || event.task !== 'chaos.effect') return;
      reads.push(
        store.list({ status: 'running', task: 'chaos.effect', limit: 200 }).then(({ jobs }) => {
          samples++;
          most = Math.max(most, jobs.length);
        }),
      );
    });
    try {
      const workers = Array.from({ length: SIZE.workers }, () => startWorker(env));
      await Promise.all(workers.map((worker) => worker.ready));
      const started = performance.now();
      for (let i = 0; i < SIZE.jobs; i++) {
        const ms = 20 + Math.floor(Math.random() * 80);
        await store.enqueue({ task: 'chaos.effect', params: { effects, ms, steps: 2 }, maxAttempts: 3 });
      }
      await allFinished(store, SIZE.jobs, SIZE.timeoutMs);
      const seconds = (performance.now() - started) / 1000;
      for (const worker of workers) worker.child.kill('SIGTERM');
      const exits = await Promise.all(workers.map((worker) => worker.exited));
      off();
      await Promise.all(reads);
      const succeeded = (await store.counts()).find((c) => c.status === 'succeeded')?.count ?? 0;
      recordFigures('queue limit, PostgreSQL', {
        jobs: SIZE.jobs,
        workers: SIZE.workers,
        limit: LIMIT,
        mostRunning: most,
        samples,
        succeeded,
        seconds: Math.round(seconds * 10) / 10,
      });
      expect(exits.map((exit) => exit.code)).toEqual(workers.map(() => 0));
      expect(succeeded).toBe(SIZE.jobs);
      expect(most).toBe(LIMIT);
    } finally {
      off();
      await store.close();
    }
  });
});

/** The most of these start times (ms) in any window of `ms`: a sliding window over the sorted times. */
function mostInWindow(times: number[], ms: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let from = 0;
  for (let to = 0; to < sorted.length; to++) {
    while ((sorted[to] as number) - (sorted[from] as number) >= ms) from++;
    most = Math.max(most, to - from + 1);
  }
  return most;
}

async function allOf(store: Store, task: string) {
  const jobs = [];
  let cursor: string | null = null;
  do {
    const page = await store.list({ task, limit: 200, cursor });
    jobs.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  return jobs;
}

const RATE = 10;
const RATE_JOBS = FULL ? 100 : 30;

describe('a queue rate over worker processes (PostgreSQL)', () => {
  it(`${RATE_JOBS} jobs at ${RATE} starts a second over ${SIZE.workers} workers: no one-second window holds more`, {
    timeout: SIZE.timeoutMs + 30_000,
  }, async () => {
    const { store, effects, env } = await fleetSetup({ CHAOS_QUEUE_RATE: String(RATE) });
    try {
      const workers = Array.from({ length: SIZE.workers }, () => startWorker(env));
      await Promise.all(workers.map((worker) => worker.ready));
      await store.enqueueMany(
        Array.from({ length: RATE_JOBS }, () => ({
          task: 'chaos.effect',
          params: { effects, ms: 10, steps: 1 },
          maxAttempts: 1,
        })),
      );
      await allFinished(store, RATE_JOBS, SIZE.timeoutMs);
      for (const worker of workers) worker.child.kill('SIGTERM');
      const exits = await Promise.all(workers.map((worker) => worker.exited));
      const jobs = await allOf(store, 'chaos.effect');
      const starts = jobs.map((job) => Date.parse(job.startedAt as string));
      const most = mostInWindow(starts, 1_000);
      const seconds = (Math.max(...starts) - Math.min(...starts)) / 1000;
      recordFigures('queue rate, PostgreSQL', {
        jobs: RATE_JOBS,
        workers: SIZE.workers,
        rate: `${RATE}/s`,
        mostStartsInOneSecond: most,
        firstToLastStartSeconds: Math.round(seconds * 10) / 10,
      });
      expect(exits.map((exit) => exit.code)).toEqual(workers.map(() => 0));
      expect(jobs.every((job) => job.status === 'succeeded')).toBe(true);
      expect(most).toBeLessThanOrEqual(RATE);
      // The rate, not the slots, set the pace: 30 jobs at 10/s take at least two seconds.
      expect(seconds).toBeGreaterThanOrEqual(RATE_JOBS / RATE - 1);
    } finally {
      await store.close();
    }
  });
});
