/**
 * Schedule test: worker processes share a schedule that ticks every second while they are
 * SIGKILLed and restarted at random. Every tick of the measured window must have started exactly
 * one job (none lost, none twice), and every job must succeed.
 *
 * Short (npm test): 8 s, 2 workers; full (npm run test:chaos): 60 s, 4 workers. PostgreSQL, the
 * many-machines store. The kills follow the kill test's driver: a worker is killable once it has
 * run a few of the ticks' jobs.
 */
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/core/job.ts';
import { Jobs } from '../../src/jobs/jobs.ts';
import { postgresStore } from '../../src/store/postgres/index.ts';
import type { Store } from '../../src/store/store.ts';
import { allFinished, chaosFiles, FULL, fleetEnv, KillDriver, recordFigures } from './fleet.ts';

const SIZE = FULL
  ? { seconds: 60, workers: 4, jobsBeforeKill: [3, 10] as [number, number], timeoutMs: 300_000 }
  : { seconds: 8, workers: 2, jobsBeforeKill: [1, 3] as [number, number], timeoutMs: 120_000 };

const chaos = chaosFiles('underway-chaos-schedule-');
const { dir } = chaos;

/** The tick a scheduled job is for, from its dedupe key `schedule:<name>:<tick>`. */
const tickOf = (job: Job) => Date.parse(/^schedule:chaos\.tick:(.+)$/.exec(job.dedupeKey ?? '')?.[1] ?? '');

/** Resolves with the tick of the first `chaos.tick` job heard to be queued at or after `from` (ms). */
function firstTickFrom(store: Store, from: number): Promise<number> {
  return new Promise((resolve) => {
    const off = store.events.listen((event) => {
      if (event.type !== 'status' || event.task !== 'chaos.tick' || event.status !== 'queued') return;
      void store.get(event.jobId).then((job) => {
        if (!job || tickOf(job) < from) return;
        off();
        resolve(tickOf(job));
      });
    });
  });
}

async function allJobs(store: Store): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list({ task: 'chaos.tick', limit: 200, cursor });
    jobs.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  return jobs;
}

describe('a schedule while workers are killed (PostgreSQL)', () => {
  it(`ticking every second for ${SIZE.seconds} s gives exactly ${SIZE.seconds} jobs, one per tick`, {
    timeout: SIZE.timeoutMs,
  }, async () => {
    const db = await chaos.database();
    const schema = db.schema();
    const store = postgresStore({ connectionString: db.url, schema, poolSize: 4 });
    await store.migrate();
    const env = fleetEnv(
      { url: db.url, schema, data: dir.file(`data-${schema}`), leaseMs: 1500 },
      { CHAOS_SCHEDULE_EVERY: '1' },
    );
    const driver = new KillDriver({
      workers: SIZE.workers,
      env,
      everyMs: 300,
      jobsBeforeKill: SIZE.jobsBeforeKill,
      store,
    });
    try {
      const started = Date.now();
      await driver.start();
      // The window: the first tick heard after every worker is up, and the ticks that follow it.
      const first = await firstTickFrom(store, Date.now());
      driver.chaos();
      const last = first + (SIZE.seconds - 1) * 1000;
      await firstTickFrom(store, last);
      // The window's jobs end with the fleet still up and no more kills (a job whose worker was
      // killed is reaped by another). The schedule cannot go first: each restarted worker puts
      // its config's back.
      driver.calm();
      await allFinished(store, 0, 60_000);
      const exits = await driver.stop();
      expect(exits.every((code) => code === 0)).toBe(true);
      await store.removeSchedule('chaos.tick');
      // A worker that ticked while it stopped may have queued a job after the window, which no
      // worker is left to run: cancelled here, and counted apart.
      const jobs = await allJobs(store);
      const unrun = jobs.filter((job) => job.status === 'queued' && tickOf(job) > last);
      for (const job of unrun) await Jobs.of(store).cancel(job.id);
      const inWindow = jobs.filter((job) => tickOf(job) >= first && tickOf(job) <= last);
      const ticks = inWindow.map(tickOf).sort((a, b) => a - b);
      const figures = {
        seconds: SIZE.seconds,
        workers: SIZE.workers,
        kills: driver.kills,
        jobsInWindow: inWindow.length,
        distinctTicks: new Set(ticks).size,
        jobsInAll: jobs.length,
        distinctTicksInAll: new Set(jobs.map(tickOf)).size,
        cancelledAfterWindow: unrun.length,
        notSucceeded: jobs.filter((job) => job.status !== 'succeeded' && !unrun.includes(job)).length,
        runMs: Date.now() - started,
      };
      recordFigures('schedule, PostgreSQL', figures);
      // Exactly one job per tick: none lost, none twice, in the window and outside it.
      expect(ticks).toEqual(Array.from({ length: SIZE.seconds }, (_, i) => first + i * 1000));
      expect(figures.distinctTicksInAll).toBe(jobs.length);
      expect(figures.notSucceeded).toBe(0);
      if (FULL) expect(driver.kills).toBeGreaterThan(0);
    } finally {
      await driver.stop().catch(() => {});
      await store.close();
    }
  });
});
