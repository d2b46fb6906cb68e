import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Job, JobStatus } from '../src/core/job.ts';
import { Jobs } from '../src/jobs/jobs.ts';
import { createLogger } from '../src/logger.ts';
import { createQueue } from '../src/queue/queue.ts';
import { type PostgresStore, postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { inProcessRunner } from '../src/worker/in-process-runner.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import type { JobRunner } from '../src/worker/runner.ts';
import { sandboxRunner } from '../src/worker/sandbox/index.ts';
import { tasks } from './fixtures/task-transaction/tasks.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';
import { collectEvents, waitForStatus } from './helpers/wait.ts';

/**
 * `ctx.transaction` (GitHub issue 16, docs/postgres.md#completing-a-job-in-your-transaction): the
 * task's own rows and its job's success commit together, fenced by the lease. On PostgreSQL with
 * a real worker, its task code in the worker's process and in a sandbox child; the store's call
 * on its own; and the refusal on SQLite.
 */

const db = await createTestDatabase();
const dir = tempDir('underway-task-tx-');
const silent = createLogger({ level: 'silent' });
const MODULE = fileURLToPath(new URL('./fixtures/task-transaction/tasks.ts', import.meta.url));
const ENDED: JobStatus[] = ['succeeded', 'failed', 'cancelled'];
let n = 0;

const open: { workers: Worker[]; runners: JobRunner[]; stores: Store[] } = { workers: [], runners: [], stores: [] };
afterEach(async () => {
  await Promise.all(open.workers.splice(0).map((worker) => worker.stop({ graceMs: 0 })));
  await Promise.all(open.runners.splice(0).map((runner) => runner.close()));
  await Promise.all(open.stores.splice(0).map((store) => store.close()));
});
afterAll(async () => {
  await db.drop();
  dir.cleanup();
});

/** A new table for the task's own rows (no unique key: a second commit would show as a second row). */
async function newTable(): Promise<string> {
  const table = `effects_${++n}`;
  await db.query(`CREATE TABLE ${table} (job_id text NOT NULL, attempt integer NOT NULL)`);
  return table;
}

const rowsOf = (table: string, jobId: string) =>
  db.query<{ attempt: number }>(`SELECT attempt FROM ${table} WHERE job_id = $1 ORDER BY attempt`, [jobId]);

async function pgStore(): Promise<PostgresStore> {
  const store = postgresStore({ connectionString: db.url, schema: db.schema(), poolSize: 4 });
  open.stores.push(store);
  await store.migrate();
  await store.listening();
  return store;
}

const runners: { name: string; make(): JobRunner }[] = [
  { name: 'in-process', make: () => inProcessRunner() },
  { name: 'sandboxed', make: () => sandboxRunner({ module: MODULE, size: 1, logger: silent, termGraceMs: 500 }) },
];

/**
 * A worker of one slot with a long lease (its heartbeat, every 20 s, never runs during a test),
 * and the jobs it ends as its Jobs layer's onEnded listeners hear them.
 */
function startWorker(store: Store, runner: JobRunner): { worker: Worker; ended: Job[] } {
  open.runners.push(runner);
  const ended: Job[] = [];
  Jobs.of(store).onEnded((job) => {
    ended.push(job);
  });
  const worker = createWorker({ store, tasks, runner, concurrency: 1, leaseMs: 60_000, pollMs: 100, logger: silent });
  open.workers.push(worker.start());
  return { worker, ended };
}

describe.each(runners)('ctx.transaction on PostgreSQL, task code $name', ({ make }) => {
  it("commits the task's row with the job's success, the result fn's value, logs and progress stored before", async () => {
    const store = await pgStore();
    const { ended } = startWorker(store, make());
    const table = await newTable();
    const { job } = await createQueue({ store, tasks }).start('tx.insert', { table, note: 'hello' });

    const done = await waitForStatus(store, job.id, ENDED);
    expect(done.status).toBe('succeeded');
    expect(done.attempt).toBe(1);
    // What fn returned, not what run returned after the commit.
    expect(done.result).toMatchObject({ note: 'hello' });
    expect(await rowsOf(table, job.id)).toEqual([{ attempt: 1 }]);
    const lines = (await store.readLogs(job.id)).map((line) => line.line);
    expect(lines).toEqual(expect.arrayContaining(['before the transaction', 'inside the transaction']));
    expect(done.progress).toMatchObject({ current: 1, total: 2, message: 'writing' });
    // The worker's process heard of the end once, as of a finish (the run-time metric counts it).
    await expect.poll(() => ended.filter((j) => j.id === job.id).length).toBe(1);
    expect(ended.find((j) => j.id === job.id)?.status).toBe('succeeded');
  });

  it('a throw inside fn rolls the row back and the attempt fails as usual: retried, then it commits once', async () => {
    const store = await pgStore();
    startWorker(store, make());
    const table = await newTable();
    const { job } = await createQueue({ store, tasks }).start('tx.insert', { table, note: 'x', failOnAttempt: 1 });

    const done = await waitForStatus(store, job.id, ENDED);
    expect(done.status).toBe('succeeded');
    expect(done.attempt).toBe(2);
    // Attempt 1 inserted its row, then threw: rolled back with it.
    expect(await rowsOf(table, job.id)).toEqual([{ attempt: 2 }]);
  });

  it('a PermanentJobError inside fn fails the job at once, with nothing written', async () => {
    const store = await pgStore();
    startWorker(store, make());
    const table = await newTable();
    const queue = createQueue({ store, tasks });
    const { job } = await queue.start('tx.insert', { table, note: 'x', failOnAttempt: 1, permanent: true });

    const done = await waitForStatus(store, job.id, ENDED);
    expect(done.status).toBe('failed');
    expect(done.attempt).toBe(1);
    expect(done.error?.message).toBe('refused inside');
    expect(await rowsOf(table, job.id)).toEqual([]);
  });

  it('an attempt whose lease was taken before its commit leaves no row and records nothing', async () => {
    const store = await pgStore();
    const { worker, ended } = startWorker(store, make());
    const table = await newTable();
    const gate = dir.file(`gate-${++n}`);
    const heard = collectEvents(store, (e) => e.type === 'progress' && e.progress.message === 'inserted');
    const { job } = await createQueue({ store, tasks }).start('tx.gated', { table, gate });
    await heard;
    // Stored before the lease goes, so the flush before the commit has nothing to write and the
    // fenced UPDATE in the task's transaction is what finds the lease gone.
    await expect.poll(async () => (await store.get(job.id))?.progress?.message, { timeout: 5_000 }).toBe('inserted');
    // The first attempt holds its row uncommitted. As if its worker had stalled past its lease:
    // the lease expires, the job is reaped, and another worker claims it.
    await expireLease(store, job.id);
    expect((await store.reapExpiredLeases()).map((j) => j.id)).toEqual([job.id]);
    const [thief] = await store.claim({ workerId: 'thief', tasks: ['tx.gated'], limit: 1, leaseMs: 60_000 });
    expect(thief?.job.attempt).toBe(2);

    writeFileSync(gate, '');
    await worker.idle();
    // The first attempt's transaction found the lease gone at its commit and rolled back.
    expect(await rowsOf(table, job.id)).toEqual([]);
    const now = await store.get(job.id);
    expect(now).toMatchObject({ status: 'running', attempt: 2, result: null });
    expect(ended.filter((j) => j.id === job.id)).toEqual([]);

    // The thief's own finish still works: the job ends once, by the holder of the lease.
    if (!thief) throw new Error('unreachable');
    expect(await store.finish(thief.lease, { status: 'succeeded', result: 'thief' })).toMatchObject({
      status: 'succeeded',
    });
  });
});

/** Ends a running job's lease now, as if its worker had stopped renewing it (the schema read from the store's target). */
async function expireLease(store: PostgresStore, jobId: string): Promise<void> {
  const target = store.transactionTarget?.();
  if (!target) throw new Error('a PostgreSQL store has a transaction target');
  const { schema } = target.options as { schema: string };
  await db.query(`UPDATE "${schema}".jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [jobId]);
}

describe("the store's completeInTransaction (PostgreSQL)", () => {
  it('commits fn and the success together; null and nothing kept with a lease taken; a throw rolls back as it is', async () => {
    const store = await pgStore();
    const table = await newTable();
    const enqueue = () => store.enqueue({ task: 'tx.insert', params: {}, maxAttempts: 3 });
    const claim = async (workerId: string) => {
      const [claimed] = await store.claim({ workerId, tasks: ['tx.insert'], limit: 1, leaseMs: 60_000 });
      if (!claimed) throw new Error('nothing to claim');
      return claimed;
    };
    const insert = (jobId: string) => async (client: { query(text: string, values?: unknown[]): Promise<unknown> }) => {
      await client.query(`INSERT INTO ${table} (job_id, attempt) VALUES ($1, 1)`, [jobId]);
      return { inserted: jobId };
    };

    const first = (await enqueue()).job;
    const { lease } = await claim('w1');
    const done = await store.completeInTransaction?.(lease, insert(first.id));
    expect(done?.value).toEqual({ inserted: first.id });
    expect(done?.job).toMatchObject({ id: first.id, status: 'succeeded', result: { inserted: first.id } });
    expect(await rowsOf(table, first.id)).toHaveLength(1);
    // Once ended, the same lease commits nothing more.
    expect(await store.completeInTransaction?.(lease, insert(first.id))).toBeNull();
    expect(await rowsOf(table, first.id)).toHaveLength(1);

    const second = (await enqueue()).job;
    const stale = (await claim('w1')).lease;
    await expireLease(store, second.id);
    await store.reapExpiredLeases();
    await claim('w2');
    expect(await store.completeInTransaction?.(stale, insert(second.id))).toBeNull();
    expect(await rowsOf(table, second.id)).toEqual([]);
    expect(await store.get(second.id)).toMatchObject({ status: 'running', attempt: 2 });

    const third = (await enqueue()).job;
    const held = (await claim('w1')).lease;
    const boom = new Error('boom');
    const failing = async (client: { query(text: string, values?: unknown[]): Promise<unknown> }) => {
      await insert(third.id)(client);
      throw boom;
    };
    await expect(store.completeInTransaction?.(held, failing)).rejects.toBe(boom);
    expect(await rowsOf(table, third.id)).toEqual([]);
    expect(await store.get(third.id)).toMatchObject({ status: 'running' });
  });
});

describe.each(runners)('ctx.transaction on SQLite, task code $name', ({ make }) => {
  it('fails the job at once with TRANSACTION_UNSUPPORTED, saying what to do instead', async () => {
    const store = sqliteStore({ file: dir.file(`s${++n}.db`) });
    open.stores.push(store);
    startWorker(store, make());
    const { job } = await createQueue({ store, tasks }).start('tx.insert', { table: 'nowhere', note: 'x' });

    const done = await waitForStatus(store, job.id, ENDED);
    expect(done.status).toBe('failed');
    expect(done.attempt).toBe(1); // Not retried: no attempt could do better.
    expect(done.error?.code).toBe('TRANSACTION_UNSUPPORTED');
    expect(done.error?.message).toMatch(/needs the PostgreSQL store.*safe to apply twice/);
  });
});
