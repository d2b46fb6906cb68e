import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreError } from '../src/core/errors.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import { APPLICATION_ID, MIGRATIONS } from '../src/store/sqlite/migrations.ts';
import type { JobEvent } from '../src/store/store.ts';
import { progressEvent } from './helpers/events.ts';
import { describeStore } from './store-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'underway-sqlite-'));
let n = 0;
const freshFile = () => join(dir, `store-${++n}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStore('sqlite', { create: async () => sqliteStore({ file: freshFile() }) });

describe('sqlite store, beyond the shared contract', () => {
  it('refuses a file that is not a SQLite database, and leaves it as it was', () => {
    const file = freshFile();
    writeFileSync(file, 'these are my notes, not a database\n'.repeat(200));
    expect(() => sqliteStore({ file })).toThrowError(/is not a SQLite database/);
    try {
      sqliteStore({ file });
    } catch (error) {
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code).toBe('NOT_UNDERWAY_DATABASE');
    }
  });

  it("refuses another program's SQLite database", () => {
    const file = freshFile();
    const other = new Database(file);
    other.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY)');
    other.close();
    expect(() => sqliteStore({ file })).toThrowError(/is a SQLite database, but not underway's/);
  });

  it('says the database is locked when another connection holds the write lock past the timeout', async () => {
    const file = freshFile();
    const store = sqliteStore({ file, busyTimeoutMs: 50 });
    const blocker = new Database(file);
    blocker.exec('BEGIN IMMEDIATE');
    try {
      await expect(store.enqueue({ task: 't', params: {}, maxAttempts: 1 })).rejects.toMatchObject({
        code: 'STORE_BUSY',
        message: expect.stringMatching(/is locked by another process/),
      });
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    // Nothing was lost or half-written: the next attempt works.
    expect((await store.enqueue({ task: 't', params: {}, maxAttempts: 1 })).created).toBe(true);
    await store.close();
  });

  it('upgrades a schema-1 file: its jobs stay, and claims walk the new due index oldest first', async () => {
    const file = freshFile();
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    old.exec(MIGRATIONS[0] as string);
    old.pragma(`application_id = ${APPLICATION_ID}`);
    old.pragma('user_version = 1');
    const insert = old.prepare(
      `INSERT INTO underway_jobs (id, task, status, params, max_attempts, created_at, run_at) VALUES (?, ?, ?, '{}', 1, 0, ?)`,
    );
    // Finished rows ahead of the queued ones, and two tasks whose due times interleave.
    for (let i = 0; i < 500; i++) insert.run(`done-${i}`, 'a', 'succeeded', i);
    for (const [id, task, runAt] of [
      ['b-2', 'b', 2_000],
      ['a-3', 'a', 3_000],
      ['b-1', 'b', 1_000],
      ['c-0', 'c', 0],
    ]) {
      insert.run(id, task, 'queued', runAt);
    }
    old.close();

    const store = sqliteStore({ file });
    const claimed = await store.claim({ workerId: 'w', tasks: ['a', 'b'], limit: 2, leaseMs: 10_000 });
    expect(claimed.map((c) => c.job.id)).toEqual(['b-1', 'b-2']);
    expect(await store.nextRunAt(['a', 'b'])).toBe(new Date(3_000).toISOString());
    await store.close();

    const check = new Database(file, { readonly: true });
    const index = check.prepare("SELECT sql FROM sqlite_master WHERE name = 'underway_jobs_due'").get() as {
      sql: string;
    };
    expect(index.sql).toMatch(/\(run_at\) WHERE status = 'queued'/);
    check.close();
  });

  it('reopens an existing file with its jobs', async () => {
    const file = freshFile();
    const first = sqliteStore({ file });
    const { job } = await first.enqueue({ task: 't', params: { a: 1 }, maxAttempts: 1 });
    await first.close();
    const second = sqliteStore({ file });
    expect(await second.get(job.id)).toEqual(job);
    await second.close();
  });

  it('carries events between two connections to one file, as between two processes', async () => {
    const file = freshFile();
    const writer = sqliteStore({ file });
    const reader = sqliteStore({ file });
    const heard: JobEvent[] = [];
    const done = new Promise<void>((resolve) => {
      reader.subscribe((event) => {
        heard.push(event);
        if (event.type === 'status' && event.status === 'succeeded') resolve();
      });
    });
    await writer.enqueue({ task: 't', params: {}, maxAttempts: 1 });
    const [claimed] = await writer.claim({ workerId: 'w', tasks: ['t'], limit: 1, leaseMs: 10_000 });
    if (!claimed) throw new Error('no claim');
    for (let i = 1; i <= 3; i++) {
      writer.publish(progressEvent({ jobId: claimed.job.id, task: 't', owner: null }, i, 3));
    }
    await writer.finish(claimed.lease, { status: 'succeeded', result: 'ok' });
    await done;
    const kinds = heard.map((e) => (e.type === 'status' ? e.status : `${e.type}`));
    // Progress within one batch is coalesced to the newest; status events all arrive, in order.
    expect(kinds.filter((k) => k !== 'progress')).toEqual(['queued', 'running', 'succeeded']);
    const progress = heard.filter((e) => e.type === 'progress');
    expect(progress.at(-1)).toMatchObject({ progress: { current: 3 } });
    await writer.close();
    await reader.close();
  });
});
