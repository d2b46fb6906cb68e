/**
 * Pause test: worker processes on PostgreSQL drain a supply of short jobs; the task is paused
 * while they do. From the store's rows: no job of it started later than the pause plus the
 * workers' poll interval (the promise of `queue.pause`), and how many started in that window is
 * counted: the claim statement itself leaves paused tasks out, so only a claim that began before
 * the pause committed (its start time a few ms past the pause's, which is its transaction's
 * start) shows there. Then a resume, and every job left must finish.
 *
 * Short (npm test): 2 workers; full (npm run test:chaos): 4 (CHAOS_PAUSE_WORKERS overrides).
 * Each worker has 4 slots and 300 jobs are queued up front, so there are always more to claim.
 */
import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/core/job.ts';
import { createQueue } from '../../src/queue/queue.ts';
import { postgresStore } from '../../src/store/postgres/index.ts';
import type { Store } from '../../src/store/store.ts';
import chaosConfig from '../fixtures/chaos/underway.config.ts';
import { allFinished, chaosFiles, FULL, fleetEnv, prepareEffects, recordFigures, startWorker } from './fleet.ts';

const SIZE = {
  workers: Number(process.env.CHAOS_PAUSE_WORKERS ?? (FULL ? 4 : 2)),
  jobs: 300,
  timeoutMs: FULL ? 300_000 : 120_000,
};
/** Jobs heard to succeed before the pause: every worker is claiming by then. */
const BEFORE_PAUSE = 20;
/** The poll interval the workers run with: the same config file they load. */
const POLL_MS = chaosConfig.worker?.pollMs as number;
const TASK = 'chaos.effect';

const chaos = chaosFiles('underway-chaos-pause-');
const { dir } = chaos;

async function allOf(store: Store): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list({ task: TASK, limit: 200, cursor });
    jobs.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  return jobs;
}

/** Resolves once `count` jobs of the task have been heard to succeed. */
function succeeded(store: Store, count: number): Promise<void> {
  return new Promise((resolve) => {
    let heard = 0;
    const off = store.events.listen((event) => {
      if (event.type !== 'status' || event.task !== TASK || event.status !== 'succeeded') return;
      if (++heard < count) return;
      off();
      resolve();
    });
  });
}

/** Polls the store until `holds` is true of its counts, or rejects after `timeoutMs`. */
async function until(store: Store, holds: (count: (status: string) => number) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const counts = (await store.counts()).filter((c) => c.task === TASK);
    const count = (status: string) => counts.find((c) => c.status === status)?.count ?? 0;
    if (holds(count)) return;
    last = JSON.stringify(counts.map((c) => `${c.status}:${c.count}`));
    if (Date.now() > deadline) throw new Error(`the condition did not hold after ${timeoutMs} ms: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('pausing a task over worker processes (PostgreSQL)', () => {
  it(`${SIZE.workers} workers draining ${SIZE.jobs} jobs: after a pause none starts later than one poll interval`, {
    timeout: SIZE.timeoutMs + 30_000,
  }, async () => {
    const db = await chaos.database();
    const schema = db.schema();
    const store = postgresStore({ connectionString: db.url, schema, poolSize: 4 });
    await store.migrate();
    const queue = createQueue({ store, tasks: chaosConfig.tasks });
    const data = dir.file(`data-${schema}`);
    mkdirSync(data, { recursive: true });
    const effects = prepareEffects(`${data}/effects.db`);
    // Nothing is killed here, so a long lease costs nothing; the chaos default (1.5 s) expired
    // under the first jobs of freshly started workers on a loaded machine (STALLED, 12 of 300).
    // One attempt per job: a second would overwrite the start time the test reads.
    const env = fleetEnv({ url: db.url, schema, data, concurrency: 4, leaseMs: 30_000 });
    try {
      const workers = Array.from({ length: SIZE.workers }, () => startWorker(env));
      await Promise.all(workers.map((worker) => worker.ready));
      const draining = succeeded(store, BEFORE_PAUSE);
      await store.enqueueMany(
        Array.from({ length: SIZE.jobs }, () => ({
          task: TASK,
          params: { effects, ms: 40, steps: 1 },
          maxAttempts: 1,
        })),
      );
      await draining;
      const pause = await queue.pause(TASK, { by: 'chaos' });
      const pausedAt = Date.parse(pause.at);

      // The jobs running at the pause end, and a claim made after it would have shown by now:
      // every worker claimed again as its last job ended, and polled once more a poll interval on.
      await until(store, (count) => count('running') === 0 && Date.now() > pausedAt + 2 * POLL_MS, 60_000);
      const atPause = await allOf(store);
      const starts = atPause.filter((job) => job.startedAt).map((job) => Date.parse(job.startedAt as string));
      const inWindow = starts.filter((at) => at > pausedAt && at <= pausedAt + POLL_MS).length;
      const late = starts.filter((at) => at > pausedAt + POLL_MS).length;
      const leftQueued = atPause.filter((job) => job.status === 'queued').length;

      const resumed = performance.now();
      expect(await queue.resume(TASK)).toBe(true);
      await allFinished(store, SIZE.jobs, SIZE.timeoutMs);
      const drainSeconds = (performance.now() - resumed) / 1000;
      for (const worker of workers) worker.child.kill('SIGTERM');
      const exits = await Promise.all(workers.map((worker) => worker.exited));
      const jobs = await allOf(store);
      const figures = {
        jobs: SIZE.jobs,
        workers: SIZE.workers,
        pollMs: POLL_MS,
        startedBeforePause: starts.length - inWindow - late,
        startedWithinPoll: inWindow,
        startedLater: late,
        lastStartAfterPauseMs: Math.max(...starts) - pausedAt,
        queuedAtPause: leftQueued,
        notSucceeded: jobs.filter((job) => job.status !== 'succeeded').length,
        drainAfterResumeSeconds: Math.round(drainSeconds * 10) / 10,
      };
      recordFigures('pause, PostgreSQL', figures);
      expect(exits.map((exit) => exit.code)).toEqual(workers.map(() => 0));
      // The supply held: there were jobs to claim all through the pause, so none starting means something.
      expect(leftQueued).toBeGreaterThan(0);
      expect(late).toBe(0);
      expect(figures.notSucceeded).toBe(0);
    } finally {
      await store.close();
    }
  });
});
