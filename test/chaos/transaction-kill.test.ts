/**
 * Kill test of ctx.transaction (GitHub issue 16): real `underway worker` processes on PostgreSQL,
 * SIGKILLed at random as in kill.test.ts, running `chaos.pgEffect` jobs whose effect is one row
 * in a table of the store's database, without a unique key. Half the jobs insert it with
 * ctx.transaction (committed with the job's success), half on a connection of their own before
 * returning. Every job must succeed; no job that used ctx.transaction may have its effect applied
 * twice, or by any attempt but the one the store recorded. The other half's figure is the
 * comparison (at-least-once execution: kill.test.ts's `jobsDoneTwice`).
 *
 * Short (npm test): 100 jobs, 2 workers; full (npm run test:chaos): 1,000 jobs, 4 workers.
 */
import { mkdirSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Job } from '../../src/core/job.ts';
import { postgresStore } from '../../src/store/postgres/index.ts';
import { allFinished, chaosFiles, childrenGone, FULL, fleetEnv, KillDriver, recordFigures } from './fleet.ts';

const SIZE = FULL
  ? { jobs: 1_000, workers: 4, jobsBeforeKill: [3, 30] as [number, number], maxMs: 600, timeoutMs: 600_000 }
  : { jobs: 100, workers: 2, jobsBeforeKill: [3, 20] as [number, number], maxMs: 250, timeoutMs: 120_000 };

const chaos = chaosFiles('underway-chaos-tx-kill-');
const { dir } = chaos;
const db = await chaos.database();

interface EffectRow {
  job_id: string;
  attempt: number;
  worker: number;
}

/** Per job of a group: effects applied more than once, and whether the recorded attempt applied it exactly once. */
function tally(jobs: Job[], rows: EffectRow[]) {
  const byJob = new Map<string, EffectRow[]>();
  for (const row of rows) byJob.set(row.job_id, [...(byJob.get(row.job_id) ?? []), row]);
  const of = (job: Job) => byJob.get(job.id) ?? [];
  return {
    appliedTwice: jobs.filter((job) => of(job).length > 1).length,
    extraRows: rows.length - jobs.length,
    recordedOnce: jobs.every((job) => of(job).filter((row) => row.attempt === job.attempt).length === 1),
    /** Rows of an attempt the store did not record as the success. */
    byOtherAttempts: rows.filter((row) => jobs.find((job) => job.id === row.job_id)?.attempt !== row.attempt),
  };
}

it(`${SIZE.jobs} jobs on ${SIZE.workers} workers SIGKILLed at random: an effect committed with ctx.transaction is applied once`, {
  // Room for the start and the enqueues, so that a slow run fails with allFinished's counts, not vitest's timeout.
  timeout: SIZE.timeoutMs + 120_000,
}, async () => {
  const data = dir.file('data');
  mkdirSync(data, { recursive: true });
  await db.query(
    'CREATE TABLE chaos_effects (job_id text NOT NULL, attempt integer NOT NULL, worker integer NOT NULL, in_transaction boolean NOT NULL)',
  );
  const schema = db.schema();
  const store = postgresStore({ connectionString: db.url, schema, poolSize: 4 });
  await store.migrate();
  try {
    const driver = new KillDriver({
      workers: SIZE.workers,
      everyMs: 300,
      jobsBeforeKill: SIZE.jobsBeforeKill,
      store,
      // Every worker and its children carry this folder: the process-table check finds ours only.
      env: fleetEnv({ url: db.url, schema, data, leaseMs: 1500, concurrency: 4 }),
    });
    await driver.start();
    const started = performance.now();
    driver.chaos();
    const ids = { inTransaction: [] as string[], without: [] as string[] };
    for (let i = 0; i < SIZE.jobs; i++) {
      const inTransaction = i % 2 === 0;
      const ms = 20 + Math.floor(Math.random() * (SIZE.maxMs - 20));
      const { job } = await store.enqueue({
        task: 'chaos.pgEffect',
        params: { url: db.url, table: 'chaos_effects', ms, steps: 5, inTransaction },
        maxAttempts: 100,
      });
      (inTransaction ? ids.inTransaction : ids.without).push(job.id);
    }
    await allFinished(store, SIZE.jobs, SIZE.timeoutMs);
    const seconds = (performance.now() - started) / 1000;
    const exits = await driver.stop();

    const read = async (list: string[]) => (await Promise.all(list.map((id) => store.get(id)))) as Job[];
    const [inTransaction, without] = await Promise.all([read(ids.inTransaction), read(ids.without)]);
    const rows = await db.query<EffectRow & { in_transaction: boolean }>('SELECT * FROM chaos_effects');
    const tx = tally(
      inTransaction,
      rows.filter((row) => row.in_transaction),
    );
    const plain = tally(
      without,
      rows.filter((row) => !row.in_transaction),
    );
    const all = [...inTransaction, ...without];
    const lost = all.filter((job) => job.status !== 'succeeded');
    const orphans = await childrenGone(data);

    recordFigures('kill test, ctx.transaction (PostgreSQL)', {
      jobs: SIZE.jobs,
      workers: SIZE.workers,
      seconds: Number(seconds.toFixed(1)),
      kills: driver.kills,
      succeeded: all.length - lost.length,
      lost: lost.length,
      reruns: all.reduce((sum, job) => sum + job.attempt - 1, 0),
      jobsInTransaction: inTransaction.length,
      appliedTwiceInTransaction: tx.appliedTwice,
      jobsWithout: without.length,
      appliedTwiceWithout: plain.appliedTwice,
      extraRowsWithout: plain.extraRows,
      orphanChildren: orphans.length,
    });

    expect(lost.map((job) => `${job.id} ${job.status} ${JSON.stringify(job.error)}`)).toEqual([]);
    // The measure of the issue: with ctx.transaction, no effect twice, none by an unrecorded attempt.
    expect(tx.appliedTwice).toBe(0);
    expect(tx.byOtherAttempts).toEqual([]);
    expect(tx.recordedOnce).toBe(true);
    // Without it, the recorded attempt still applied its effect once (others may have too).
    expect(plain.recordedOnce).toBe(true);
    // Killed attempts did run again (or the test proved nothing).
    expect(driver.kills).toBeGreaterThan(0);
    expect(all.some((job) => job.attempt > 1)).toBe(true);
    expect(orphans).toEqual([]);
    // A graceful stop that failed says why in its worker's log (pino: level 50 and up).
    const why = driver.slots
      .filter((_, slot) => exits[slot] !== 0)
      .flatMap((w) => w.log().split('\n'))
      .filter((line) => /"level":(50|60)/.test(line));
    expect(exits, why.join('\n')).toEqual(Array(SIZE.workers).fill(0));
  } finally {
    await store.close();
  }
});
