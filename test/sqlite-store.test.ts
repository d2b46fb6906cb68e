import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreError } from '../src/core/errors.ts';
import type { Lease } from '../src/core/job.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import { APPLICATION_ID, MIGRATIONS } from '../src/store/sqlite/migrations.ts';
import { JOB_COLUMNS } from '../src/store/sqlite/rows.ts';
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

  it('reads every column of a job in JOB_COLUMNS, which the hot statements read by position', async () => {
    // A migration that adds a column must add it there, or to the columns read on their own
    // (the children's counters, the progress samples), or claims and finishes would drop it.
    const readOnTheirOwn = ['children_total', 'children_ended', 'children_failed', 'progress_samples'];
    const file = freshFile();
    const store = sqliteStore({ file });
    await store.close();
    const db = new Database(file, { readonly: true });
    try {
      const columns = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('underway_jobs');
      expect([...columns].sort()).toEqual([...JOB_COLUMNS, ...readOnTheirOwn].sort());
    } finally {
      db.close();
    }
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
      reader.events.listen((event) => {
        heard.push(event);
        if (event.type === 'status' && event.status === 'succeeded') resolve();
      });
    });
    await writer.enqueue({ task: 't', params: {}, maxAttempts: 1 });
    const [claimed] = await writer.claim({ workerId: 'w', tasks: ['t'], limit: 1, leaseMs: 10_000 });
    if (!claimed) throw new Error('no claim');
    for (let i = 1; i <= 3; i++) {
      writer.events.send(progressEvent({ jobId: claimed.job.id, task: 't', owner: null }, i, 3));
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
  it('a fenced-out artifact leaves no file: none for a stale attempt, no partial when the lease goes mid-write', async () => {
    const file = freshFile();
    const store = sqliteStore({ file });
    const folder = (id: string) => join(`${file}-artifacts`, id);
    const body = (text: string) => ({ name: 'out.txt', contentType: 'text/plain', body: Buffer.from(text) });
    try {
      // Paused past its lease, reaped: the stale attempt writes no byte, not even a folder.
      const stale = await store.enqueue({ task: 't', params: {}, maxAttempts: 3 });
      const [first] = await store.claim({ workerId: 'w', tasks: ['t'], limit: 1, leaseMs: 10_000 });
      if (!first) throw new Error('no claim');
      await store.heartbeat([first.lease], -1_000);
      await store.reapExpiredLeases();
      expect(await store.saveArtifact(first.lease, body('stale'))).toBeNull();
      expect(existsSync(folder(stale.job.id))).toBe(false);

      // The lease is lost while the bytes are written, and the winner saves the same name meanwhile.
      const [second] = await store.claim({ workerId: 'w', tasks: ['t'], limit: 1, leaseMs: 10_000 });
      if (!second) throw new Error('no claim');
      async function* slow() {
        yield Buffer.from('stale, ');
        await store.heartbeat([second?.lease as Lease], -1_000);
        await store.reapExpiredLeases();
        const [third] = await store.claim({ workerId: 'w', tasks: ['t'], limit: 1, leaseMs: 10_000 });
        await store.saveArtifact(third?.lease as Lease, body('winner'));
        yield Buffer.from('half-way');
      }
      const saved = await store.saveArtifact(second.lease, { ...body(''), body: Readable.from(slow()) });
      expect(saved).toBeNull();
      expect(readdirSync(folder(stale.job.id))).toEqual(['out.txt']);
      expect(readFileSync(join(folder(stale.job.id), 'out.txt'), 'utf8')).toBe('winner');
    } finally {
      await store.close();
    }
  });

  it('serves a stored content type that is not valid (saved before types were checked) as application/octet-stream', async () => {
    const file = freshFile();
    const store = sqliteStore({ file });
    try {
      const { job } = await store.enqueue({ task: 't', params: {}, maxAttempts: 1 });
      await store.saveArtifact(job.id, { name: 'a.txt', contentType: 'text/plain', body: Buffer.from('x') });
      const raw = new Database(file);
      raw.prepare('UPDATE underway_artifacts SET content_type = ?').run(`text/html\r\nX: y\u0000${'x'.repeat(20_000)}`);
      raw.close();
      expect((await store.get(job.id))?.artifacts[0]?.contentType).toBe('application/octet-stream');
      const opened = await store.openArtifact(job.id, 'a.txt');
      expect(opened?.info.contentType).toBe('application/octet-stream');
      expect(await text(opened?.body as Readable)).toBe('x');
    } finally {
      await store.close();
    }
  });
});
