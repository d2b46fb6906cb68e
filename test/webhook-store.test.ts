/**
 * Where each store's webhook deliveries start and how its sweep finds ended jobs: what the
 * conformance suite cannot say alike for both, because SQLite reads a clock (finished_at, with a
 * minute of overlap) and PostgreSQL reads transaction snapshots (exact).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/job.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';

const URL_A = 'http://127.0.0.1:9/a';
const statuses = ['succeeded', 'failed', 'cancelled'] as const;

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function succeed(store: Store, task = 'demo'): Promise<Job> {
  await store.enqueue({ task, params: {}, maxAttempts: 1 });
  const [claimed] = await store.claim({ workerId: 'w', tasks: [task], limit: 1, leaseMs: 60_000 });
  if (!claimed) throw new Error('expected a claim');
  return (await store.finish(claimed.lease, { status: 'succeeded', result: 1 })) as Job;
}

const record = (store: Store) =>
  (store as Required<Store>).recordWebhookDeliveries({ urls: [URL_A], statuses: [...statuses] });
const recorded = async (store: Store) =>
  ((await (store as Required<Store>).listWebhookDeliveries()) ?? []).map((d) => d.jobId).sort();

/** `tasks` (the e-mail sender's opted-in tasks): only their jobs are recorded, heard of or swept. */
async function recordsOnlyTheTasks(store: Store): Promise<void> {
  const mailed = (jobIds?: string[]) =>
    (store as Required<Store>).recordWebhookDeliveries({
      urls: ['mailto:'],
      statuses: [...statuses],
      tasks: ['mailed'],
      jobIds,
    });
  await mailed(); // the start mark
  const heard = [await succeed(store, 'mailed'), await succeed(store, 'demo')];
  expect(await mailed(heard.map((job) => job.id))).toBe(1);
  const swept = await succeed(store, 'mailed');
  await succeed(store, 'demo');
  expect(await mailed()).toBe(1);
  expect(await recorded(store)).toEqual([heard[0]?.id, swept.id].sort());
}

describe('webhook deliveries on SQLite: a start mark and a sweep on finished_at, a minute of overlap', () => {
  function open() {
    const dir = tempDir('underway-hooks-');
    const file = dir.file('underway.db');
    const store = sqliteStore({ file });
    const db = new Database(file);
    closers.push(
      dir.cleanup,
      () => store.close(),
      () => {
        db.close();
      },
    );
    /** Moves a job's finished_at (as a finish whose write waited for the lock, or an old job). */
    const finishedAgo = (id: string, ms: number) =>
      db.prepare('UPDATE underway_jobs SET finished_at = ? WHERE id = ?').run(Date.now() - ms, id);
    return { store, db, finishedAgo };
  }

  it('announces jobs that ended after the url was first seen (less the overlap), not older ones', async () => {
    const { store, finishedAgo } = open();
    const old = await succeed(store);
    finishedAgo(old.id, 10 * 60_000);
    const recent = await succeed(store);
    finishedAgo(recent.id, 30_000); // within the minute before the url was first seen: announced
    expect(await record(store)).toBe(1);
    expect(await recorded(store)).toEqual([recent.id]);
  });

  it('looks back a minute from its last sweep: a finish that committed late is still found', async () => {
    const { store, finishedAgo } = open();
    await record(store);
    const late = await succeed(store);
    // Its finished_at was read 40 s before it committed (its write waited for the lock), so it
    // carries a time before the last sweep: the overlap finds it.
    finishedAgo(late.id, 40_000);
    expect(await record(store)).toBe(1);
    expect(await recorded(store)).toEqual([late.id]);
  });

  it('records only the jobs of the tasks asked for', async () => {
    await recordsOnlyTheTasks(open().store);
  });

  it('starts afresh for a url that nobody swept for a day', async () => {
    const { store, db, finishedAgo } = open();
    await record(store);
    const meanwhile = await succeed(store);
    finishedAgo(meanwhile.id, 10 * 60_000);
    db.prepare('UPDATE underway_webhook_endpoints SET swept_at = ?').run(Date.now() - 2 * 86_400_000);
    expect(await record(store)).toBe(0);
    const next = await succeed(store);
    expect(await record(store)).toBe(1);
    expect(await recorded(store)).toEqual([next.id]);
  });
});

describe('webhook deliveries on PostgreSQL: snapshots, no clock', async () => {
  const database = await createTestDatabase();
  afterAll(() => database.drop());
  async function open() {
    const schema = database.schema();
    const store = postgresStore({ connectionString: database.url, schema, poolSize: 4 });
    await store.migrate();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    closers.push(
      () => store.close(),
      () => client.end(),
    );
    return { store, client, schema };
  }

  it('announces exactly the jobs whose end committed after the url was first seen, whatever their times say', async () => {
    const { store, client, schema } = await open();
    const before = await succeed(store);
    expect(await record(store)).toBe(0); // first sighting: `before` is history
    // A finish that is slow to commit, with a time from an hour ago: not seen while uncommitted,
    // found once committed, whatever finished_at says.
    await store.enqueue({ task: 'demo', params: {}, maxAttempts: 1 });
    const [claimed] = await store.claim({ workerId: 'w', tasks: ['demo'], limit: 1, leaseMs: 60_000 });
    const slow = claimed?.job.id as string;
    await client.query('BEGIN');
    await client.query(
      `UPDATE "${schema}".jobs SET status = 'succeeded', finished_at = now() - interval '1 hour',
         lease_token = NULL, changed_xid = pg_current_xact_id() WHERE id = $1`,
      [slow],
    );
    const quick = await succeed(store);
    expect(await record(store)).toBe(1);
    await client.query('COMMIT');
    expect(await record(store)).toBe(1);
    expect(await recorded(store)).toEqual([quick.id, slow].sort());
    expect(await recorded(store)).not.toContain(before.id);
  });

  it('records only the jobs of the tasks asked for', async () => {
    await recordsOnlyTheTasks((await open()).store);
  });

  it('starts afresh for a url that nobody swept for a day', async () => {
    const { store, client, schema } = await open();
    await record(store);
    await succeed(store);
    await client.query(`UPDATE "${schema}".webhook_endpoints SET swept_at = now() - interval '2 days'`);
    expect(await record(store)).toBe(0);
    const next = await succeed(store);
    expect(await record(store)).toBe(1);
    expect(await recorded(store)).toEqual([next.id]);
  });
});
