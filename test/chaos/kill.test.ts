/**
 * Kill test: worker processes SIGKILLed at random while they run jobs of random length. Every job
 * must end `succeeded`, its successful attempt must have done its work exactly once, nothing may
 * be left queued or running, and no sandbox child may outlive its worker.
 *
 * Short (npm test): 100 jobs, 2 workers; full (npm run test:chaos): 1,000 jobs, 4 workers. The
 * driver looks every 300 ms for a worker to kill; one becomes killable after finishing 3-20
 * (full: 3-30) jobs, so that each life gets some work done (see KillDriver).
 */
import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { postgresStore } from '../../src/store/postgres/index.ts';
import { sqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/store.ts';
import {
  allFinished,
  chaosFiles,
  childrenGone,
  FULL,
  KillDriver,
  prepareEffects,
  readEffects,
  recordFigures,
} from './fleet.ts';

/** `min..max`, or `-` for none. */
const range = (values: number[]) => (values.length ? `${Math.min(...values)}..${Math.max(...values)}` : '-');

const SIZE = FULL
  ? {
      jobs: 1_000,
      workers: 4,
      everyMs: 300,
      jobsBeforeKill: [3, 30] as [number, number],
      maxMs: 600,
      timeoutMs: 600_000,
    }
  : {
      jobs: 100,
      workers: 2,
      everyMs: 300,
      jobsBeforeKill: [3, 20] as [number, number],
      maxMs: 250,
      timeoutMs: 120_000,
    };

const chaos = chaosFiles('underway-chaos-kill-');
const { dir } = chaos;

interface Backend {
  name: string;
  open(data: string): Promise<{ store: Store; env: Record<string, string> }>;
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    async open(data) {
      return { store: sqliteStore({ file: `${data}/underway.db` }), env: {} };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const db = await chaos.database();
      const schema = db.schema();
      const store = postgresStore({ connectionString: db.url, schema, poolSize: 4 });
      await store.migrate();
      return { store, env: { CHAOS_PG_URL: db.url, CHAOS_PG_SCHEMA: schema } };
    },
  },
];

describe.each(backends)('kill test on $name', (backend) => {
  it(`${SIZE.jobs} jobs on ${SIZE.workers} workers SIGKILLed at random: every job succeeds once, nothing stuck, no child left`, {
    timeout: SIZE.timeoutMs + 30_000,
  }, async () => {
    const data = dir.file(backend.name.toLowerCase());
    mkdirSync(data, { recursive: true });
    const effects = prepareEffects(`${data}/effects.db`);
    const { store, env } = await backend.open(data);
    try {
      const driver = new KillDriver({
        workers: SIZE.workers,
        everyMs: SIZE.everyMs,
        jobsBeforeKill: SIZE.jobsBeforeKill,
        store,
        // Every worker and its children carry this folder: the process-table check finds ours only.
        env: { ...env, UNDERWAY_DATA_DIR: data, CHAOS_LEASE_MS: '1500', CHAOS_CONCURRENCY: '4' },
      });
      await driver.start();
      const started = performance.now();
      driver.chaos();
      const ids: string[] = [];
      for (let i = 0; i < SIZE.jobs; i++) {
        const ms = 20 + Math.floor(Math.random() * (SIZE.maxMs - 20));
        const { job } = await store.enqueue({
          task: 'chaos.effect',
          params: { effects, ms, steps: 5 },
          maxAttempts: 100,
        });
        ids.push(job.id);
      }
      await allFinished(store, SIZE.jobs, SIZE.timeoutMs).catch(async (error: Error) => {
        const last = (await store.list({ limit: 1, status: ['queued'] })).jobs[0]?.error;
        throw new Error(`${error.message}; kills ${driver.kills}; a queued job's last error: ${JSON.stringify(last)}`);
      });
      const seconds = (performance.now() - started) / 1000;
      const exits = await driver.stop();

      const jobs = await Promise.all(ids.map((id) => store.get(id)));
      const rows = readEffects(effects);
      const done = rows.filter((r) => r.kind === 'done');
      const starts = rows.filter((r) => r.kind === 'start');
      const byJob = new Map<string, number>();
      for (const r of done) byJob.set(r.job, (byJob.get(r.job) ?? 0) + 1);
      const lost = jobs.filter((j) => j?.status !== 'succeeded');
      const stuck = jobs.filter((j) => j?.status === 'running' || j?.status === 'queued');
      // The attempt the store recorded as the success did its work exactly once.
      const committedDone = jobs.map((j) => done.filter((r) => r.job === j?.id && r.attempt === j?.attempt).length);
      // A `done` row of any other attempt: the attempt finished its work, then its worker was
      // killed before the store recorded the success (at-least-once execution's window).
      const uncommitted = done.filter((r) => {
        const job = jobs.find((j) => j?.id === r.job);
        return r.attempt !== job?.attempt;
      });
      const orphans = await childrenGone(data);

      recordFigures(`kill test, ${backend.name}`, {
        jobs: SIZE.jobs,
        workers: SIZE.workers,
        seconds: Number(seconds.toFixed(1)),
        kills: driver.kills,
        succeeded: jobs.length - lost.length,
        lost: lost.length,
        stuck: stuck.length,
        starts: starts.length,
        reruns: starts.length - SIZE.jobs,
        doneRows: done.length,
        jobsDoneTwice: [...byJob.values()].filter((n) => n > 1).length,
        doneByKilledAttempt: uncommitted.length,
        doneMsFromKill: range(uncommitted.map((r) => r.at - (driver.killedAt.get(r.worker) ?? 0))),
        maxAttempt: Math.max(...jobs.map((j) => j?.attempt ?? 0)),
        orphanChildren: orphans.length,
      });

      expect(lost.map((j) => `${j?.id} ${j?.status} ${JSON.stringify(j?.error)}`)).toEqual([]);
      expect(stuck).toEqual([]);
      expect(committedDone.every((n) => n === 1)).toBe(true);
      // Only a worker that was killed leaves a done row its store never recorded.
      expect(uncommitted.filter((r) => !driver.killedAt.has(r.worker))).toEqual([]);
      expect(new Set(starts.map((r) => r.job)).size).toBe(SIZE.jobs);
      expect(driver.kills).toBeGreaterThan(0);
      expect(orphans).toEqual([]);
      expect(exits).toEqual(Array(SIZE.workers).fill(0));
    } finally {
      await store.close();
    }
  });
});
