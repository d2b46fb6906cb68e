import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TooLargeError, ValidationError } from '../src/core/errors.ts';
import type { Job } from '../src/core/job.ts';
import { isSealed, keyFromSource, sealSecrets, secret } from '../src/core/secrets.ts';
import { defineTask } from '../src/core/task.ts';
import { createLogger } from '../src/logger.ts';
import { createQueue, MAX_PARAMS_BYTES, type Queue } from '../src/queue/queue.ts';
import { type PostgresStore, postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { JobEvent, Store, TransactionClient } from '../src/store/store.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';
import { waitForStatus } from './helpers/wait.ts';

/**
 * `queue.start(task, params, { client })` and `queue.startMany(task, items, { client })` inside
 * the app's own transaction (GitHub issue #14; docs/postgres.md#transactional-start). Each test
 * has two stores on one schema, as two processes would, each with a running worker: "here" (the
 * app's process, whose queue starts the jobs) and "there" (another process). Workers poll once a
 * minute, so a job runs within a test only if its event was heard.
 */

const db = await createTestDatabase();
const dir = tempDir('underway-tx-');
const silent = createLogger({ level: 'silent' });
const KEY = 't'.repeat(64);
/** Its bytes, as core/secrets.ts takes them (the queue finds them from the option). */
const KEY_BYTES = keyFromSource(KEY);
/** The app's own pool, as a real app has one, apart from underway's. */
const app = new pg.Pool({ connectionString: db.url, max: 4 });

beforeAll(async () => {
  await db.query('CREATE TABLE orders (id serial PRIMARY KEY, total integer NOT NULL)');
});
afterAll(async () => {
  await app.end();
  await db.drop();
  dir.cleanup();
});

/** What the workers' task code was given, by job id: secrets opened. */
const runs = new Map<string, unknown>();

const invoice = defineTask({
  name: 'invoice.render',
  params: z.object({
    order: z.number().int(),
    token: secret(z.string()).optional(),
    note: z.string().optional(),
  }),
  async run(params, ctx) {
    runs.set(ctx.job.id, params);
    return { order: params.order };
  },
});

const open: { workers: Worker[]; stores: Store[] } = { workers: [], stores: [] };
afterEach(async () => {
  await Promise.all(open.workers.splice(0).map((worker) => worker.stop({ graceMs: 0 })));
  await Promise.all(open.stores.splice(0).map((store) => store.close()));
});

interface Process {
  store: PostgresStore;
  queue: Queue;
  /** Every event this process's store heard, in order. */
  events: JobEvent[];
}

async function processOn(schema: string, withWorker: boolean): Promise<Process> {
  const store = postgresStore({ connectionString: db.url, schema, poolSize: 4 });
  open.stores.push(store);
  await store.migrate();
  await store.listening();
  const events: JobEvent[] = [];
  store.events.listen((event) => events.push(event));
  if (withWorker) {
    const worker = createWorker({ store, tasks: [invoice], logger: silent, secretKey: KEY, pollMs: 60_000 });
    open.workers.push(worker.start());
  }
  return { store, queue: createQueue({ store, tasks: [invoice], secretKey: KEY }), events };
}

/** The app's process and another one, each with a worker, and a third whose normal starts are sentinels. */
async function threeProcesses() {
  const schema = db.schema();
  const [here, there, marker] = await Promise.all([
    processOn(schema, true),
    processOn(schema, true),
    processOn(schema, false),
  ]);
  return { schema, here, there, marker };
}

/** Runs `fn` on a client of the app's pool between BEGIN and `end` (COMMIT or ROLLBACK). */
async function inTransaction<T>(end: 'COMMIT' | 'ROLLBACK', fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await app.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query(end);
    return result;
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

async function insertOrder(client: TransactionClient, total: number): Promise<number> {
  const { rows } = await client.query('INSERT INTO orders (total) VALUES ($1) RETURNING id', [total]);
  return (rows[0] as { id: number }).id;
}

const orderExists = async (id: number) => (await db.query('SELECT 1 FROM orders WHERE id = $1', [id])).length === 1;
const rowsOf = (schema: string, id: string) => db.query(`SELECT * FROM "${schema}".jobs WHERE id = $1`, [id]);
const eventsOf = (events: JobEvent[], id: string) => events.filter((event) => event.jobId === id);
const queuedAt = (events: JobEvent[], id: string) =>
  events.findIndex((e) => e.type === 'status' && e.jobId === id && e.status === 'queued');

/** Resolves once the store hears that the job was queued. */
function heardQueued(store: Store, id: string): Promise<void> {
  return new Promise((resolve) => {
    const off = store.events.listen((event) => {
      if (event.type === 'status' && event.jobId === id && event.status === 'queued') {
        off();
        resolve();
      }
    });
  });
}

/** A normal start from the third process; resolves once both workers' stores have seen it succeed. */
async function sentinel(env: Awaited<ReturnType<typeof threeProcesses>>): Promise<Job> {
  const { job } = await env.marker.queue.start(invoice, { order: 0 });
  await Promise.all([
    waitForStatus(env.here.store, job.id, 'succeeded'),
    waitForStatus(env.there.store, job.id, 'succeeded'),
  ]);
  return job;
}

describe('queue.start inside the app transaction (PostgreSQL)', () => {
  it('rolled back: no job, no event heard in this process or another, nothing run', async () => {
    const env = await threeProcesses();
    const { here, there } = env;
    let order = 0;
    const doomed = await inTransaction('ROLLBACK', async (client) => {
      order = await insertOrder(client, 100);
      const started = await here.queue.start(invoice, { order, token: 'never-stored' }, { client, owner: 'ann' });
      expect(started.created).toBe(true);
      expect(await here.store.get(started.job.id)).toBeNull(); // not visible outside the transaction
      // Nothing announced before the commit, not even in-process.
      expect(eventsOf(here.events, started.job.id)).toEqual([]);
      return started.job;
    });

    // NOTIFYs reach each listener in commit order: anything the rolled-back start had sent would
    // arrive before the sentinel's events, started later from a third process.
    const mark = await sentinel(env);
    for (const { events } of [here, there]) {
      expect(queuedAt(events, mark.id)).toBeGreaterThanOrEqual(0);
      expect(eventsOf(events, doomed.id)).toEqual([]);
    }
    expect(await rowsOf(env.schema, doomed.id)).toEqual([]);
    expect(await orderExists(order)).toBe(false);
    expect(runs.has(doomed.id)).toBe(false);
    expect(runs.has(mark.id)).toBe(true);
  });

  it('committed: both processes hear of it after the commit; a worker runs it, its secret sealed until then', async () => {
    const { schema, here, there } = await threeProcesses();
    let heard: Promise<unknown> = Promise.resolve();
    let order = 0;
    const job = await inTransaction('COMMIT', async (client) => {
      order = await insertOrder(client, 250);
      const { job, created } = await here.queue.start(
        invoice,
        { order, token: 'tok-4711' },
        { client, owner: 'ann', maxAttempts: 2 },
      );
      expect(created).toBe(true);
      expect(job).toMatchObject({ status: 'queued', owner: 'ann', maxAttempts: 2 });
      // Sealed by queue.start, for this job's id and owner, before the insert.
      expect(isSealed(job.params.token)).toBe(true);
      expect(await here.store.get(job.id)).toBeNull();
      expect(eventsOf(here.events, job.id)).toEqual([]);
      heard = Promise.all([heardQueued(here.store, job.id), heardQueued(there.store, job.id)]);
      return job;
    });
    await heard;

    const done = await waitForStatus(here.store, job.id, 'succeeded');
    expect(done.result).toEqual({ order });
    expect(runs.get(job.id)).toEqual({ order, token: 'tok-4711' }); // opened in the worker
    const rows = await rowsOf(schema, job.id);
    expect(rows).toHaveLength(1);
    expect(isSealed((rows[0] as { params: { token: unknown } }).params.token)).toBe(true);
    expect(JSON.stringify(rows)).not.toContain('tok-4711');
    expect(await orderExists(order)).toBe(true);
    for (const { events } of [here, there]) {
      expect(eventsOf(events, job.id).filter((e) => e.type === 'status' && e.status === 'queued')).toHaveLength(1);
    }
  });

  it('checks everything before any query: a ValidationError leaves the transaction usable', async () => {
    const { here } = await threeProcesses();
    const others = sealSecrets(
      invoice.params,
      { order: 1, token: 'bobs' },
      { jobId: 'other', owner: 'bob' },
      KEY_BYTES,
    ) as {
      token: string;
    };
    let order = 0;
    const job = await inTransaction('COMMIT', async (pgClient) => {
      order = await insertOrder(pgClient, 30);
      // The minimal interface underway needs; counting what reaches the app's connection.
      const sent: string[] = [];
      const client: TransactionClient = {
        query: (text, values) => {
          sent.push(text);
          return pgClient.query(text, values);
        },
      };
      const start = (params: unknown, options = {}) =>
        here.queue.start(invoice, params as never, { client, ...options });
      await expect(start({ order: 'seven' })).rejects.toBeInstanceOf(ValidationError);
      await expect(here.queue.start('no.such.task', {}, { client })).rejects.toBeInstanceOf(ValidationError);
      await expect(start({ order, token: others.token })).rejects.toBeInstanceOf(ValidationError); // an envelope
      await expect(start({ order, note: 'x'.repeat(MAX_PARAMS_BYTES) })).rejects.toBeInstanceOf(TooLargeError);
      await expect(start({ order }, { delaySeconds: -1 })).rejects.toBeInstanceOf(ValidationError);
      expect(sent).toEqual([]);
      // Not aborted: the app goes on and commits, with a good job this time.
      expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
      return (await start({ order })).job;
    });
    expect(await orderExists(order)).toBe(true);
    expect(await waitForStatus(here.store, job.id, 'succeeded')).toMatchObject({ result: { order } });
  });

  it('startMany: all or none with the app transaction', async () => {
    const { schema, here, there } = await threeProcesses();
    const items = (n: number) =>
      [1, 2, 3].map((i) => ({ params: { order: n * 10 + i, token: `tok-${i}` }, owner: 'ann' }));

    const dropped = await inTransaction('ROLLBACK', async (client) => {
      const started = await here.queue.startMany(invoice, items(1), { client });
      expect(started.map((s) => s.created)).toEqual([true, true, true]);
      return started.map((s) => s.job);
    });

    const kept = await inTransaction('COMMIT', async (client) => {
      const bad = here.queue.startMany(invoice, [{ params: { order: 1 } }, { params: { order: 'two' as never } }], {
        client,
      });
      await expect(bad).rejects.toThrow(/^Job 2 of 2: /);
      // A client per item would not be in the transaction: refused, naming the item.
      const perItem = [{ params: { order: 1 } }, { params: { order: 2 }, client }];
      await expect(here.queue.startMany(invoice, perItem as never, { client })).rejects.toThrow(
        /Job 2 of 2 has a client: give it once, as startMany's third argument/,
      );
      expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
      const started = await here.queue.startMany(invoice, items(2), { client });
      for (const { job } of started) {
        expect(isSealed(job.params.token)).toBe(true);
        expect(await here.store.get(job.id)).toBeNull();
      }
      return started.map((s) => s.job);
    });

    for (const [i, job] of kept.entries()) {
      await waitForStatus(here.store, job.id, 'succeeded');
      expect(runs.get(job.id)).toEqual({ order: 20 + i + 1, token: `tok-${i + 1}` });
    }
    // The committed batch's events came after anything the rolled-back one could have sent.
    for (const job of dropped) {
      expect(await rowsOf(schema, job.id)).toEqual([]);
      expect(runs.has(job.id)).toBe(false);
      for (const { events } of [here, there]) expect(eventsOf(events, job.id)).toEqual([]);
    }
    for (const { events } of [here, there]) {
      for (const job of kept) expect(queuedAt(events, job.id)).toBeGreaterThanOrEqual(0);
    }
  });

  it('returns the job holding a dedupe key, committed before or added earlier in the same transaction; a rolled-back key is free', async () => {
    const { schema, here } = await threeProcesses();
    // An hour's delay keeps the holder queued, so that it keeps its key.
    const later = { delaySeconds: 3600 };
    const holder = await inTransaction('COMMIT', async (client) => {
      const { job } = await here.queue.start(invoice, { order: 1 }, { client, dedupeKey: 'order-1', ...later });
      return job;
    });

    await inTransaction('COMMIT', async (client) => {
      const again = await here.queue.start(invoice, { order: 1 }, { client, dedupeKey: 'order-1' });
      expect(again).toEqual({ job: holder, created: false });
      const first = await here.queue.start(invoice, { order: 2 }, { client, dedupeKey: 'order-2', ...later });
      const second = await here.queue.start(invoice, { order: 2 }, { client, dedupeKey: 'order-2' });
      expect(first.created).toBe(true);
      expect(second).toEqual({ job: first.job, created: false });
      const many = await here.queue.startMany(
        invoice,
        [
          { params: { order: 1 }, dedupeKey: 'order-1' },
          { params: { order: 3 }, ...later },
        ],
        { client },
      );
      expect(many[0]).toEqual({ job: holder, created: false });
      expect(many[1]?.created).toBe(true);
    });

    // A key taken in a transaction that rolled back was never taken.
    await inTransaction('ROLLBACK', (client) =>
      here.queue.start(invoice, { order: 9 }, { client, dedupeKey: 'order-9', ...later }),
    );
    expect((await here.queue.start(invoice, { order: 9 }, { dedupeKey: 'order-9', ...later })).created).toBe(true);

    const keys = await db.query<{ dedupe_key: string | null }>(`SELECT dedupe_key FROM "${schema}".jobs ORDER BY seq`);
    expect(keys.map((k) => k.dedupe_key)).toEqual(['order-1', 'order-2', null, 'order-9']);
  });

  it('refuses a pg.Pool or something else as the client, before anything is stored', async () => {
    const { schema, here } = await threeProcesses();
    await expect(here.queue.start(invoice, { order: 1 }, { client: app })).rejects.toThrow(
      /options.client is a pg.Pool, whose queries run outside your transaction/,
    );
    await expect(here.queue.startMany(invoice, [{ params: { order: 1 } }], { client: app })).rejects.toBeInstanceOf(
      TypeError,
    );
    await expect(here.queue.start(invoice, { order: 1 }, { client: {} as never })).rejects.toBeInstanceOf(TypeError);
    expect(await db.query(`SELECT 1 FROM "${schema}".jobs`)).toEqual([]);
  });
});

describe('queue.start with a client on SQLite', () => {
  it('is refused with a TypeError: the SQLite store cannot join the app transaction', async () => {
    const store = sqliteStore({ file: dir.file('tx.db') });
    open.stores.push(store);
    const queue = createQueue({ store, tasks: [invoice], secretKey: KEY });
    const client: TransactionClient = { query: async () => ({ rows: [] }) };
    const refused = /The sqlite store cannot add a job inside your own transaction/;
    await expect(queue.start(invoice, { order: 1 }, { client })).rejects.toBeInstanceOf(TypeError);
    await expect(queue.start(invoice, { order: 1 }, { client })).rejects.toThrow(refused);
    await expect(queue.startMany(invoice, [{ params: { order: 1 } }], { client })).rejects.toThrow(refused);
    expect((await store.list()).jobs).toEqual([]);
    // Without a client, as ever.
    expect((await queue.start(invoice, { order: 1 })).created).toBe(true);
  });
});
