import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { ListenerState, PostgresStore } from '../src/store/postgres/index.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { jobQueries } from '../src/store/postgres/queries.ts';
import { tablesFor } from '../src/store/postgres/tables.ts';
import type { JobEvent } from '../src/store/store.ts';
import { progressEvent } from './helpers/events.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { describeStore } from './store-conformance.ts';

const db = await createTestDatabase();
afterAll(() => db.drop());

const open = async (schema = db.schema(), extra: Parameters<typeof postgresStore>[0] = {}): Promise<PostgresStore> => {
  const store = postgresStore({ connectionString: db.url, schema, poolSize: 4, ...extra });
  await store.migrate();
  return store;
};

describeStore('postgres', { create: () => open() });

/**
 * A store on a fresh schema and a session of its own (an app's connection, or another
 * transaction's; one session for BEGIN … COMMIT, SET and PREPARE), both closed after `fn`.
 */
async function withStoreAndSession(
  fn: (store: PostgresStore, session: pg.Client, schema: string) => Promise<void>,
): Promise<void> {
  const schema = db.schema();
  const store = await open(schema);
  const session = new pg.Client({ connectionString: db.url });
  await session.connect();
  try {
    await fn(store, session, schema);
  } finally {
    await session.end();
    await store.close();
  }
}

/**
 * Resolves once `n` sessions of the test database wait for a lock. Lock waits send no event, so
 * this looks at pg_stat_activity until they show, for at most 20 s.
 */
async function lockWaiters(n: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [row] = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if ((row?.n ?? 0) >= n) return;
    if (Date.now() > deadline) throw new Error(`${n} sessions did not wait for a lock within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves with the first event the store hears that matches. */
function heard(store: PostgresStore, match: (event: JobEvent) => boolean): Promise<JobEvent> {
  return new Promise((resolve) => {
    const off = store.events.listen((event) => {
      if (match(event)) {
        off();
        resolve(event);
      }
    });
  });
}

/**
 * Three stores on one schema, as three processes would have them: a worker's and a server's,
 * both listening (the server's events collected), and a third whose enqueue marks a point in time.
 */
async function storesOfThreeProcesses() {
  const schema = db.schema();
  const [worker, server, marker] = [await open(schema), await open(schema), await open(schema)];
  await Promise.all([worker.listening(), server.listening()]);
  const atServer: JobEvent[] = [];
  server.events.listen((e) => atServer.push(e));
  const close = async () => {
    await Promise.all([worker.close(), server.close(), marker.close()]);
  };
  return { worker, server, marker, atServer, close };
}

const statusOf = (id: string, status: string) => (e: JobEvent) =>
  e.type === 'status' && e.jobId === id && e.status === status;
const job = { task: 'demo', params: {}, maxAttempts: 3 };

describe('postgres store, beyond the shared contract', () => {
  it('runs migrations from 4 stores at once without error, once', async () => {
    const schema = db.schema();
    const stores = Array.from({ length: 4 }, () => postgresStore({ connectionString: db.url, schema, poolSize: 1 }));
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      const rows = await db.query<{ version: number }>(`SELECT version FROM "${schema}".migrations ORDER BY version`);
      // 11: the workers registry; 12: the attempt history; 13: log attempts, progress and queue samples;
      // 14: due_jobs() in PL/pgSQL; 15: fewer index entries per status change; 16: the NOTIFY payload as text;
      // 17: due_jobs() returns one row as far as the planner knows (the claim prepared).
      expect(rows).toEqual(Array.from({ length: 17 }, (_, i) => ({ version: i + 1 })));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('enqueues inside the app transaction: the job and its event exist only after commit', () =>
    withStoreAndSession(async (server, app) => {
      await server.listening();
      const events: JobEvent[] = [];
      server.events.listen((e) => events.push(e));

      await app.query('BEGIN');
      const doomed = await server.enqueue({ ...job, owner: 'rolled-back' }, { client: app });
      expect(doomed.created).toBe(true);
      expect(await server.get(doomed.job.id)).toBeNull();
      await app.query('ROLLBACK');

      await app.query('BEGIN');
      const kept = await server.enqueue({ ...job, owner: 'committed' }, { client: app });
      expect(await server.get(kept.job.id)).toBeNull(); // not visible before commit
      const event = heard(server, statusOf(kept.job.id, 'queued'));
      await app.query('COMMIT');
      expect(await event).toMatchObject({ jobId: kept.job.id, owner: 'committed' });
      expect(await server.get(kept.job.id)).toMatchObject({ status: 'queued' });
      expect(await server.get(doomed.job.id)).toBeNull();
      // Notifications arrive in commit order: had the rolled-back one been sent, it would be here already.
      expect(events.filter((e) => e.jobId === doomed.job.id)).toEqual([]);
      expect(events.filter((e) => e.jobId === kept.job.id)).toHaveLength(1);
    }));

  it('enqueueMany inside the app transaction: all of the jobs after commit, none after rollback', () =>
    withStoreAndSession(async (store, app) => {
      const batch = [1, 2, 3].map((n) => ({ ...job, params: { n } }));
      await app.query('BEGIN');
      const dropped = await store.enqueueMany(batch, { client: app });
      await app.query('ROLLBACK');
      for (const { job: gone } of dropped) expect(await store.get(gone.id)).toBeNull();
      await app.query('BEGIN');
      const kept = await store.enqueueMany(batch, { client: app });
      expect(await store.get(kept[0]?.job.id as string)).toBeNull(); // not committed yet
      await app.query('COMMIT');
      for (const { job: added } of kept) expect(await store.get(added.id)).toEqual(added);
    }));

  it('carries events between two stores (two processes), each heard exactly once, in order', async () => {
    const { worker, server, marker, atServer, close } = await storesOfThreeProcesses();
    try {
      const atWorker: JobEvent[] = [];
      worker.events.listen((e) => atWorker.push(e));
      const { job: created } = await worker.enqueue({ ...job, owner: 'ann' });
      const succeeded = heard(server, statusOf(created.id, 'succeeded'));
      const [claimed] = await worker.claim({ workerId: 'w', tasks: ['demo'], limit: 1, leaseMs: 10_000 });
      if (!claimed) throw new Error('no claim');
      for (let i = 1; i <= 5; i++) {
        worker.events.send(progressEvent({ jobId: created.id, task: 'demo', owner: 'ann' }, i, 5));
      }
      const at = new Date().toISOString();
      worker.events.send({
        type: 'log',
        jobId: created.id,
        task: 'demo',
        owner: 'ann',
        stream: 'stdout',
        line: 'hi',
        at,
        seq: 1,
      });
      await worker.finish(claimed.lease, { status: 'succeeded', result: { ok: true } });
      expect(await succeeded).toMatchObject({ owner: 'ann', result: { ok: true } });

      // The worker's own NOTIFYs come back to it, and must be skipped: once a later event from a
      // third store has reached the worker, its own earlier ones have too.
      // (Listen before acting: the event can arrive before the enqueue's own reply.)
      const markerHeard = heard(worker, (e) => e.type === 'status' && e.owner === 'marker');
      await marker.enqueue({ ...job, owner: 'marker' });
      await markerHeard;

      const kinds = (events: JobEvent[]) =>
        events.filter((e) => e.jobId === created.id).map((e) => (e.type === 'status' ? e.status : e.type));
      expect(kinds(atWorker)).toEqual(['queued', 'running', ...Array(5).fill('progress'), 'log', 'succeeded']);
      const remote = kinds(atServer);
      expect(remote.filter((k) => k !== 'progress')).toEqual(['queued', 'running', 'log', 'succeeded']);
      expect(atServer.filter((e) => e.type === 'progress').at(-1)).toMatchObject({ progress: { current: 5 } });
    } finally {
      await close();
    }
  });

  it("a job's last event heard elsewhere is its end, even with its running and progress still being sent", async () => {
    const { worker, server, marker, atServer, close } = await storesOfThreeProcesses();
    try {
      const ids: string[] = [];
      // Many jobs, each ended right after its claim and a progress update: their running and
      // progress events are still in the publisher when the finish's own NOTIFY goes out.
      for (let i = 0; i < 20; i++) ids.push((await worker.enqueue(job)).job.id);
      const claimed = await worker.claim({ workerId: 'w', tasks: ['demo'], limit: 20, leaseMs: 10_000 });
      for (const { job: claimedJob } of claimed) {
        worker.events.send(progressEvent({ jobId: claimedJob.id, task: 'demo', owner: null }, 1, 2));
      }
      await Promise.all(claimed.map(({ lease }) => worker.finish(lease, { status: 'succeeded', result: null })));
      // Closing sends what the worker still had to publish; the marker's NOTIFY commits after it.
      await worker.close();
      const markerHeard = heard(server, (e) => e.type === 'status' && e.owner === 'marker');
      await marker.enqueue({ ...job, owner: 'marker' });
      await markerHeard;
      for (const id of ids) {
        const events = atServer.filter((e) => e.jobId === id);
        expect(events.at(-1)).toMatchObject({ type: 'status', status: 'succeeded' });
        expect(events.filter((e) => e.type === 'status' && e.status === 'succeeded')).toHaveLength(1);
      }
    } finally {
      await close();
    }
  });

  it('a heartbeat does not wait for a row another transaction holds: it counts as held this beat', () =>
    withStoreAndSession(async (store, other, schema) => {
      const { job: first } = await store.enqueue(job);
      const { job: second } = await store.enqueue(job);
      const claimed = await store.claim({ workerId: 'w', tasks: ['demo'], limit: 2, leaseMs: 10_000 });
      const leaseOf = (id: string) => {
        const found = claimed.find((c) => c.job.id === id);
        if (!found) throw new Error(`job ${id} was not claimed`);
        return found.lease;
      };
      await other.query('BEGIN');
      await other.query(`SELECT 1 FROM "${schema}".jobs WHERE id = $1 FOR UPDATE`, [first.id]);
      const beat = await store.heartbeat([leaseOf(first.id), leaseOf(second.id)], 60_000);
      expect(beat).toEqual([
        { jobId: first.id, held: true, cancelRequested: false },
        { jobId: second.id, held: true, cancelRequested: false },
      ]);
      const leases = await db.query<{ id: string; renewed: boolean }>(
        `SELECT id, lease_expires_at > now() + interval '30 seconds' AS renewed FROM "${schema}".jobs ORDER BY id`,
      );
      expect(Object.fromEntries(leases.map((r) => [r.id, r.renewed]))).toEqual({
        [first.id]: false,
        [second.id]: true,
      });
      await other.query('ROLLBACK');
      // A lease that is really gone still says so.
      const stale = { jobId: second.id, token: 'not-the-token' };
      expect(await store.heartbeat([stale], 60_000)).toEqual([
        { jobId: second.id, held: false, cancelRequested: false },
      ]);
    }));

  it('sends what NOTIFY cannot carry by reference: a big result is fetched, a long log line cut', async () => {
    const schema = db.schema();
    const worker = await open(schema);
    const server = await open(schema);
    try {
      await server.listening();
      const { job: created } = await worker.enqueue(job);
      const [claimed] = await worker.claim({ workerId: 'w', tasks: ['demo'], limit: 1, leaseMs: 10_000 });
      if (!claimed) throw new Error('no claim');
      const line = 'é'.repeat(8_000); // 16,000 bytes of UTF-8
      const log = heard(server, (e) => e.type === 'log');
      worker.events.send({
        type: 'log',
        jobId: created.id,
        task: 'demo',
        owner: null,
        stream: 'stdout',
        line,
        at: new Date().toISOString(),
        seq: 1,
      });
      const cut = await log;
      expect(cut.type === 'log' && cut.line).toMatch(/^é+… \[cut for the live view/);
      const result = { rows: Array.from({ length: 2_000 }, (_, i) => `row ${i}`) }; // ~20 KB
      const done = heard(server, statusOf(created.id, 'succeeded'));
      await worker.finish(claimed.lease, { status: 'succeeded', result });
      expect(await done).toMatchObject({ type: 'status', result });
    } finally {
      await Promise.all([worker.close(), server.close()]);
    }
  });

  it('tells another process what it tells its own: the same status event, quotes and all', async () => {
    const schema = db.schema();
    const worker = await open(schema);
    const server = await open(schema);
    try {
      await server.listening();
      const owner = 'o"w\\ner ⓘ';
      const ends = [
        { status: 'succeeded', result: { text: 'a "quoted" line\n\u0001 é', list: [1, null, true] } },
        { status: 'failed', error: { code: 'BOOM', message: 'it "broke"\tthere' } },
        { status: 'succeeded', result: null },
      ] as const;
      for (const end of ends) {
        const { job: created } = await worker.enqueue({ ...job, owner, maxAttempts: 1 });
        const [claimed] = await worker.claim({ workerId: 'w', tasks: ['demo'], limit: 1, leaseMs: 10_000 });
        if (!claimed) throw new Error('no claim');
        const own = heard(worker, statusOf(created.id, end.status));
        const other = heard(server, statusOf(created.id, end.status));
        await worker.finish(claimed.lease, end);
        expect(await other).toEqual(await own);
      }
    } finally {
      await Promise.all([worker.close(), server.close()]);
    }
  });

  it('re-listens after losing its connection and delivers what changed during the gap', async () => {
    const schema = db.schema();
    const states: ListenerState[] = [];
    let onState: (state: ListenerState) => void = () => {};
    const server = await open(schema, {
      reconnectDelayMs: 1_000,
      onListenerState: (state) => {
        states.push(state);
        onState(state);
      },
    });
    const worker = await open(schema);
    const next = (wanted: ListenerState) =>
      new Promise<void>((resolve) => {
        onState = (state) => state === wanted && resolve();
      });
    try {
      await server.listening();
      const lost = next('lost');
      const [killed] = await db.query<{ ok: boolean }>(
        'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
        [`underway listener ${schema}`],
      );
      expect(killed?.ok).toBe(true);
      await lost;
      // The listener is down for ≥ 750 ms (1 s ± 25 %): this change is made during the gap.
      const back = next('listening');
      const caughtUp = heard(server, (e) => e.type === 'status' && e.owner === 'gap');
      const { job: missed } = await worker.enqueue({ ...job, owner: 'gap' });
      await back;
      expect(await caughtUp).toMatchObject({ jobId: missed.id, status: 'queued' });
      // And live events flow again.
      const live = heard(server, (e) => e.type === 'status' && e.owner === 'after');
      await worker.enqueue({ ...job, owner: 'after' });
      await live;
      expect(states).toEqual(['listening', 'lost', 'listening']);
    } finally {
      await Promise.all([server.close(), worker.close()]);
    }
  });

  it('keeps artifacts in the database, in 1 MiB chunks, readable by another store', async () => {
    const schema = db.schema();
    const writer = await open(schema);
    const reader = await open(schema);
    try {
      const { job: created } = await writer.enqueue(job);
      const bytes = Buffer.alloc(2.5 * 1024 * 1024);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) % 251;
      const pieces = Array.from({ length: 40 }, (_, i) => bytes.subarray(i * 65_536, (i + 1) * 65_536));
      const info = await writer.saveArtifact(created.id, {
        name: 'backup.bin',
        contentType: 'application/octet-stream',
        body: Readable.from(pieces),
      });
      expect(info?.size).toBe(bytes.length);
      const [count] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".artifact_chunks`);
      expect(count?.n).toBe(3);
      const opened = await reader.openArtifact(created.id, 'backup.bin');
      expect(opened?.info).toEqual(info);
      expect((await buffer(opened?.body as Readable)).equals(bytes)).toBe(true);
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  it('stores results holding NUL characters, which jsonb refuses as they are', async () => {
    const store = await open();
    try {
      await store.enqueue(job);
      const [claimed] = await store.claim({ workerId: 'w', tasks: ['demo'], limit: 1, leaseMs: 10_000 });
      if (!claimed) throw new Error('no claim');
      const done = await store.finish(claimed.lease, {
        status: 'succeeded',
        result: { text: 'a\u0000b', raw: '\\u0000' },
      });
      expect(done?.result).toEqual({ text: 'a\uFFFDb', raw: '\\u0000' });
    } finally {
      await store.close();
    }
  });

  it('batches finishes made together into one statement, each still fenced', async () => {
    const store = await open();
    try {
      for (let i = 0; i < 20; i++) await store.enqueue(job);
      const claimed = await store.claim({ workerId: 'w', tasks: ['demo'], limit: 20, leaseMs: 10_000 });
      const results = await Promise.all([
        ...claimed.map(({ lease }, i) => store.finish(lease, { status: 'succeeded', result: i })),
        store.finish(
          { jobId: claimed[0]?.job.id as string, token: 'stale' },
          { status: 'failed', error: { code: 'X', message: 'x' } },
        ),
      ]);
      expect(results.slice(0, 20).map((j) => j?.result)).toEqual(claimed.map((_, i) => i));
      expect(results[20]).toBeNull();
    } finally {
      await store.close();
    }
  });

  it('survives its pooled connections being killed: the next call reconnects', async () => {
    const schema = db.schema();
    const store = await open(schema);
    try {
      await store.enqueue(job);
      await db.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'underway' AND datname = current_database()",
      );
      // A query may meet a connection that died while idle before the pool noticed; the call fails
      // as STORE_UNREACHABLE and the next one gets a fresh connection.
      let counts = await store.counts().catch(() => null);
      counts ??= await store.counts();
      expect(counts).toEqual([{ task: 'demo', status: 'queued', count: 1 }]);
    } finally {
      await store.close();
    }
  });

  it('a fenced log append or artifact waits for a finish in flight, then writes nothing and leaves no upload', () =>
    withStoreAndSession(async (store, other, schema) => {
      const { job: created } = await store.enqueue(job);
      const [claimed] = await store.claim({ workerId: 'w', tasks: ['demo'], limit: 1, leaseMs: 30_000 });
      const lease = claimed?.lease as NonNullable<typeof claimed>['lease'];
      // Another transaction ends the job and has not committed yet.
      await other.query('BEGIN');
      await other.query(
        `UPDATE "${schema}".jobs SET status = 'succeeded', lease_token = NULL, finished_at = now() WHERE id = $1`,
        [created.id],
      );
      const at = new Date().toISOString();
      const append = store.appendLogs(lease, [{ stream: 'stdout', line: 'late', at }]);
      const save = store.saveArtifact(lease, { name: 'out.txt', contentType: 'text/plain', body: Buffer.from('late') });
      const returned: string[] = [];
      void append.then(() => returned.push('append'));
      void save.then(() => returned.push('save'));
      // Both wait for that transaction's row lock: their sessions say so (not a guess from time passing).
      await lockWaiters(2);
      expect(returned).toEqual([]);
      await other.query('COMMIT');
      expect(await append).toBeNull();
      expect(await save).toBeNull();
      expect(await store.readLogs(created.id)).toEqual([]);
      const [left] = await db.query<{ artifacts: number; chunks: number }>(
        `SELECT (SELECT count(*)::int FROM "${schema}".artifacts) AS artifacts,
                (SELECT count(*)::int FROM "${schema}".artifact_chunks) AS chunks`,
      );
      expect(left).toEqual({ artifacts: 0, chunks: 0 });
    }));

  it('serves a stored content type that is not valid (saved before types were checked) as application/octet-stream', async () => {
    const schema = db.schema();
    const store = await open(schema);
    try {
      const { job: created } = await store.enqueue(job);
      await store.saveArtifact(created.id, { name: 'a.txt', contentType: 'text/plain', body: Buffer.from('x') });
      await db.query(`UPDATE "${schema}".artifacts SET content_type = $1`, [
        `text/html\r\nSet-Cookie: a=b${'x'.repeat(20_000)}`,
      ]);
      expect((await store.get(created.id))?.artifacts[0]?.contentType).toBe('application/octet-stream');
      const opened = await store.openArtifact(created.id, 'a.txt');
      expect(opened?.info.contentType).toBe('application/octet-stream');
      expect((await buffer(opened?.body as Readable)).toString()).toBe('x');
    } finally {
      await store.close();
    }
  });

  it('a claim says whether the job has recorded steps, plain or limited, so an attempt of one without any reads none', async () => {
    const store = await open();
    try {
      const claim = async (limited: boolean) => {
        const request = { workerId: 'w', tasks: ['demo'], limit: 1, leaseMs: 60_000 };
        const limits = [{ queue: 'demo', concurrency: 5, perKey: null, rate: null, ratePerKey: null }];
        const [claimed] = limited ? await store.claimLimited({ ...request, limits }) : await store.claim(request);
        if (!claimed) throw new Error('expected a claim');
        return claimed;
      };
      await store.enqueue({ task: 'demo', params: {}, maxAttempts: 5 });
      const first = await claim(false);
      expect(first.stepsRecorded).toBe(false);
      await store.recordStep(first.lease, { name: 'a', result: 1, progress: null });
      await store.finish(first.lease, {
        status: 'retry',
        error: { code: 'TASK_ERROR', message: 'x' },
        runAt: new Date(0).toISOString(),
      });
      expect((await claim(false)).stepsRecorded).toBe(true);
      await store.enqueue({ task: 'demo', params: {}, maxAttempts: 5 });
      expect((await claim(true)).stepsRecorded).toBe(false);
    } finally {
      await store.close();
    }
  });

  it("the claim's generic plan, made on a new install, finds each due job by its primary key", () =>
    withStoreAndSession(async (_migrated, client, schema) => {
      // The claim is prepared: its generic plan is made once per connection and kept as the table
      // grows. One made on an empty table must not be a sequential scan of the jobs (migration 17).
      await client.query('SET plan_cache_mode = force_generic_plan');
      await client.query(
        `PREPARE claim(text, text[], integer, double precision) AS ${jobQueries(tablesFor(schema)).claim}`,
      );
      const plan = (await client.query("EXPLAIN EXECUTE claim('w', '{demo}', 1, 60000)")).rows
        .map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN'])
        .join('\n');
      expect(plan).toMatch(/Index Scan using jobs_pkey on jobs j/);
      expect(plan).not.toMatch(/Seq Scan on jobs/);
    }));

  it('says the server cannot be reached, as a StoreError, instead of a bare ECONNREFUSED', async () => {
    const store = postgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/nowhere' });
    await expect(store.get('x')).rejects.toMatchObject({
      code: 'STORE_UNREACHABLE',
      message: expect.stringMatching(/127\.0\.0\.1:1\/nowhere cannot be reached/),
    });
    await store.close();
  });
});

describe('child jobs on postgres, transactions racing', () => {
  it('children ending at once in separate transactions, and the parent going to sleep meanwhile, never lose the wake-up', async () => {
    const schema = db.schema();
    // Three stores, three pools: each call below is its own transaction on its own connection.
    const [a, b, c] = [await open(schema), await open(schema), await open(schema)];
    try {
      for (let round = 0; round < 12; round++) {
        await a.enqueue({ task: `parent-${round}`, params: {}, maxAttempts: 1 });
        const [parent] = await a.claim({ workerId: 'w', tasks: [`parent-${round}`], limit: 1, leaseMs: 30_000 });
        if (!parent) throw new Error('expected the parent');
        for (const name of ['x', 'y']) {
          await a.spawnChild?.(parent.lease, { task: `kid-${round}`, params: {}, maxAttempts: 1, childName: name });
        }
        const kids = await a.claim({ workerId: 'w', tasks: [`kid-${round}`], limit: 2, leaseMs: 30_000 });
        expect(kids).toHaveLength(2);
        const [x, y] = kids as [(typeof kids)[0], (typeof kids)[0]];
        // The two children's ends and the parent's wait, all at once.
        await Promise.all([
          b.finish(x.lease, { status: 'succeeded', result: 1 }),
          c.finish(y.lease, { status: 'succeeded', result: 2 }),
          a.waitForChildren?.(parent.lease, 0),
        ]);
        const woken = await a.get(parent.job.id);
        expect(woken?.status).toBe('queued');
        expect(Date.parse(woken?.runAt ?? '')).toBeLessThanOrEqual(Date.now());
      }
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});
