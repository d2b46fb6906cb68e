import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../src/core/errors.ts';
import { type Job, type JobStatus, MAX_PRIORITY } from '../src/core/job.ts';
import { keyFromSource, revealSecrets, secret } from '../src/core/secrets.ts';
import { defineTask } from '../src/core/task.ts';
import { openApiDocument } from '../src/http/index.ts';
import { type BulkRequest, type BulkResult, bulk, CREATED_AFTER_SLACK_MS } from '../src/queue/bulk.ts';
import { createQueue, type Queue } from '../src/queue/queue.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { json, setup, type TestEnv } from './helpers/http.ts';
import { migratedSchemas } from './helpers/migrated-schemas.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';

const dir = tempDir('underway-bulk-');
afterAll(() => dir.cleanup());
let n = 0;
const database = createTestDatabase();
const schemas = migratedSchemas(database, 8);
afterAll(async () => {
  await schemas.settled();
  await (await database).drop();
});
const stores: Store[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

const KEY = 'b'.repeat(64);
const params = z.object({ n: z.number().int() });
const tasks = [
  defineTask({ name: 'a', params, async run() {} }),
  defineTask({ name: 'b', params, async run() {} }),
  defineTask({ name: 'sealed', params: z.object({ token: secret(z.string()) }), async run() {} }),
];

interface Backend {
  name: string;
  open(): Promise<Store>;
  /** Moves these jobs' createdAt back by `ms`, as if they had been added that much earlier. */
  age(store: Store, ids: readonly string[], ms: number): Promise<void>;
}

const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    async open() {
      const file = dir.file(`b${++n}.db`);
      const store = sqliteStore({ file });
      files.set(store, file);
      return store;
    },
    async age(store, ids, ms) {
      const db = new Database(files.get(store) as string);
      try {
        db.prepare(
          'UPDATE underway_jobs SET created_at = created_at - ? WHERE id IN (SELECT value FROM json_each(?))',
        ).run(ms, JSON.stringify(ids));
      } finally {
        db.close();
      }
    },
  },
  {
    name: 'postgres',
    async open() {
      const schema = await schemas.next();
      const store = postgresStore({ connectionString: (await database).url, schema, poolSize: 2 });
      await store.migrate();
      pgSchemas.set(store, schema);
      return store;
    },
    async age(store, ids, ms) {
      const schema = pgSchemas.get(store) as string;
      await (await database).query(
        `UPDATE "${schema}".jobs SET created_at = created_at - make_interval(secs => $1) WHERE id = ANY($2::text[])`,
        [ms / 1000, ids],
      );
    },
  },
];
const files = new WeakMap<Store, string>();
const pgSchemas = new WeakMap<Store, string>();

/** The queue over a fresh store of this backend, closed after the test. */
async function openQueue(backend: Backend): Promise<Queue> {
  const store = await backend.open();
  stores.push(store);
  return createQueue({ store, tasks, secretKey: KEY });
}

/**
 * Adds `count` jobs of `task` and brings them to `status` (claimed, then finished as it says),
 * without a worker. Those to move are started at the top priority, so the claim takes them and
 * no queued job added before. Returns them newest first, as bulk and list go.
 */
async function make(
  queue: Queue,
  task: string,
  count: number,
  status: JobStatus,
  owner?: string,
  paramsOf: (i: number) => unknown = (i) => ({ n: i }),
): Promise<Job[]> {
  const moving = status !== 'queued';
  const started = await queue.startMany(
    task,
    Array.from({ length: count }, (_, i) => ({ params: paramsOf(i), owner, priority: moving ? MAX_PRIORITY : 0 })),
  );
  if (moving) {
    const claimed = await queue.jobs.claim({ workerId: 'test', tasks: [task], limit: count, leaseMs: 60_000 });
    expect(claimed).toHaveLength(count);
    for (const { lease } of claimed) {
      if (status === 'succeeded') await queue.jobs.finish(lease, { status, result: null });
      if (status === 'failed')
        await queue.jobs.finish(lease, { status, error: { message: 'broke', code: 'TASK_ERROR' } });
      if (status === 'cancelled')
        await queue.jobs.finish(lease, { status, error: { message: 'stop', code: 'CANCELLED' } });
    }
  }
  return Promise.all(started.reverse().map(async ({ job }) => (await queue.jobs.get(job.id)) as Job));
}

const ids = (jobs: readonly Job[]) => jobs.map((job) => job.id);
const statusOf = async (queue: Queue, id: string) => (await queue.jobs.get(id))?.status;

/** Resolves once the clock has passed `ms` (createdAt has millisecond precision). */
async function clockPast(ms: number): Promise<void> {
  while (Date.now() <= ms) await new Promise((resolve) => setImmediate(resolve));
}

/** Calls bulk again with each nextCursor until there is none; between calls, `between` runs. */
async function drain(
  queue: Queue,
  request: BulkRequest,
  between: () => Promise<unknown> = async () => {},
): Promise<BulkResult[]> {
  const results: BulkResult[] = [];
  let cursor: string | null = null;
  do {
    const result = await bulk(queue, { ...request, cursor });
    results.push(result);
    cursor = result.nextCursor;
    if (cursor) await between();
    expect(results.length).toBeLessThan(100);
  } while (cursor);
  return results;
}

describe.each(BACKENDS)('bulk operations on $name', (backend) => {
  it('filters by task, status and creation time; by default acts on the statuses the action applies to', async () => {
    const queue = await openQueue(backend);
    const aFailed = await make(queue, 'a', 2, 'failed');
    const aSucceeded = await make(queue, 'a', 2, 'succeeded');
    const aRunning = await make(queue, 'a', 1, 'running');
    const bCancelled = await make(queue, 'b', 1, 'cancelled');
    const aQueuedOld = await make(queue, 'a', 2, 'queued');
    await clockPast(Date.parse((aQueuedOld[0] as Job).createdAt));
    const aQueuedNew = await make(queue, 'a', 2, 'queued');
    const bQueued = await make(queue, 'b', 2, 'queued');

    // Dry runs count and change nothing.
    const counted = await bulk(queue, { action: 'cancel', dryRun: true });
    expect(counted).toEqual({ action: 'cancel', dryRun: true, matched: 7, done: [], skipped: [], nextCursor: null });
    expect((await bulk(queue, { action: 'delete', dryRun: true })).matched).toBe(5);
    expect((await bulk(queue, { action: 'retry', dryRun: true, filter: { task: 'a' } })).matched).toBe(2);
    expect(await statusOf(queue, (bQueued[0] as Job).id)).toBe('queued');

    // Time: strictly before and strictly after, by createdAt.
    const boundary = (aQueuedNew.at(-1) as Job).createdAt;
    const before = await bulk(queue, {
      action: 'cancel',
      dryRun: true,
      filter: { task: 'a', status: 'queued', createdBefore: boundary },
    });
    expect(before.matched).toBe(2);
    const after = await bulk(queue, {
      action: 'cancel',
      filter: { task: 'a', createdAfter: (aQueuedOld[0] as Job).createdAt },
    });
    expect(after.done).toEqual(ids(aQueuedNew));
    expect(await statusOf(queue, (aQueuedOld[0] as Job).id)).toBe('queued');

    // Task and status: the running job of a is asked to stop, b's are untouched.
    const running = await bulk(queue, { action: 'cancel', filter: { task: 'a', status: ['running'] } });
    expect(running.done).toEqual(ids(aRunning));
    expect((await queue.jobs.get((aRunning[0] as Job).id))?.cancelRequested).toBe(true);
    const rest = await bulk(queue, { action: 'cancel', filter: { task: 'a' } });
    expect(rest.done).toEqual([...ids(aQueuedOld), (aRunning[0] as Job).id]);
    expect(await statusOf(queue, (bQueued[0] as Job).id)).toBe('queued');

    // Delete only failed ones; a's succeeded and b's cancelled stay.
    const deleted = await bulk(queue, { action: 'delete', filter: { status: 'failed' } });
    expect(deleted.done).toEqual(ids(aFailed));
    expect(await queue.jobs.get((aFailed[0] as Job).id)).toBeNull();
    expect(await statusOf(queue, (aSucceeded[0] as Job).id)).toBe('succeeded');
    expect(await statusOf(queue, (bCancelled[0] as Job).id)).toBe('cancelled');

    // Retry: a's cancelled jobs (the queued ones cancelled above), as new jobs that point back.
    const retried = await bulk(queue, { action: 'retry', filter: { task: 'a', status: 'cancelled' } });
    expect(retried.done).toEqual([...ids(aQueuedNew), ...ids(aQueuedOld)]);
    const page = await queue.jobs.list({ task: 'a', status: 'queued' });
    expect(page.jobs.map((job) => job.retryOf).sort()).toEqual([...ids(aQueuedNew), ...ids(aQueuedOld)].sort());
  });

  it('acts on at most `limit` jobs a call; the cursor carries on exactly there while jobs are added', async () => {
    const queue = await openQueue(backend);
    const original = await make(queue, 'a', 23, 'queued');
    /** Batches added between calls, each newest first: all of them newest first is the batches reversed. */
    let batches: Job[][] = [];
    const adding = (status: JobStatus) => async () => batches.push(await make(queue, 'a', 3, status));
    const newestFirst = (list: Job[][]) => ids([...list].reverse().flat());

    // Without a time filter: pages as long as the limit.
    const cancelled = await drain(queue, { action: 'cancel', limit: 5, filter: { task: 'a' } }, adding('queued'));
    expect(cancelled.map((r) => r.done.length)).toEqual([5, 5, 5, 5, 3]);
    expect(cancelled.flatMap((r) => r.done)).toEqual(ids(original));
    const queuedMeanwhile = batches;
    expect(queuedMeanwhile.flat()).toHaveLength(12);
    for (const job of queuedMeanwhile.flat()) expect(await statusOf(queue, job.id)).toBe('queued');

    // With a time filter: pages of 200 read, then cut short at the limit. Jobs that match are
    // added meanwhile; they are newer than where the cursor stands, so left alone.
    batches = [];
    const far = new Date(Date.now() + 3_600_000);
    const deleted = await drain(
      queue,
      { action: 'delete', limit: 4, filter: { createdBefore: far } },
      adding('cancelled'),
    );
    expect(deleted.map((r) => r.done.length)).toEqual([4, 4, 4, 4, 4, 3]);
    expect(deleted.flatMap((r) => r.done)).toEqual(ids(original));
    for (const job of batches.flat()) expect(await statusOf(queue, job.id)).toBe('cancelled');

    // From a moment on: the jobs queued during the first pass, and none added during this one.
    batches = [];
    const oldest = (queuedMeanwhile[0] as Job[]).at(-1) as Job;
    const since = new Date(Date.parse(oldest.createdAt) - 1);
    const recent = await drain(
      queue,
      { action: 'cancel', limit: 5, filter: { createdAfter: since } },
      adding('queued'),
    );
    const done = recent.flatMap((r) => r.done);
    expect(done).toEqual(newestFirst(queuedMeanwhile));
    expect(new Set(done).size).toBe(12);
    expect(batches.length).toBeGreaterThan(0);
    for (const job of batches.flat()) expect(await statusOf(queue, job.id)).toBe('queued');
  });

  it('skips a job that changed between the read and the act, and carries on', async () => {
    const queue = await openQueue(backend);
    const [first, second, third] = (await make(queue, 'a', 3, 'queued')) as [Job, Job, Job];
    /** The next page read comes back as read, after `change` ran: as if it happened meanwhile. */
    const meanwhile = (change: () => Promise<unknown>) => {
      const list = queue.jobs.list.bind(queue.jobs);
      vi.spyOn(queue.jobs, 'list').mockImplementationOnce(async (filter) => {
        const page = await list(filter);
        await change();
        return page;
      });
    };
    meanwhile(() => queue.jobs.cancel(second.id));
    const result = await bulk(queue, { action: 'cancel' });
    expect(result.done).toEqual([first.id, third.id]);
    expect(result.skipped).toEqual([
      { id: second.id, reason: expect.stringMatching(/has already ended \(cancelled\)/) },
    ]);
    expect(result.matched).toBe(3);

    // Deleting: one is gone meanwhile.
    meanwhile(() => queue.jobs.remove(first.id));
    const deleted = await bulk(queue, { action: 'delete' });
    expect(deleted.done).toEqual([second.id, third.id]);
    expect(deleted.skipped).toEqual([{ id: first.id, reason: `There is no job ${first.id}.` }]);
  });

  it('stops before the first job `admit` refuses; the cursor carries on from that very job', async () => {
    const queue = await openQueue(backend);
    const failed = await make(queue, 'a', 10, 'failed');
    let tokens = 4;
    const take = () => {
      if (tokens <= 0) throw new Error('out of tokens');
      tokens--;
    };
    const first = await bulk(queue, { action: 'retry', admit: take });
    expect(first.done).toEqual(ids(failed.slice(0, 4)));
    expect(first.nextCursor).not.toBeNull();
    // Refused at the very first job: nothing done, the refusal is the answer.
    await expect(bulk(queue, { action: 'retry', admit: take, cursor: first.nextCursor })).rejects.toThrow(
      'out of tokens',
    );
    tokens = 100;
    const second = await bulk(queue, { action: 'retry', admit: take, cursor: first.nextCursor });
    expect(second.done).toEqual(ids(failed.slice(4)));
    expect(second.nextCursor).toBeNull();
    expect(tokens).toBe(94);

    // Refused at the first job of a later page (pages hold 200): the cursor is that page's start.
    const many = await make(queue, 'b', 205, 'queued');
    let allowed = 200;
    const third = await bulk(queue, {
      action: 'cancel',
      filter: { task: 'b' },
      limit: 1_000,
      admit: () => {
        if (allowed-- <= 0) throw new Error('no more');
      },
    });
    expect(third.done).toEqual(ids(many.slice(0, 200)));
    const fourth = await bulk(queue, { action: 'cancel', filter: { task: 'b' }, cursor: third.nextCursor });
    expect(fourth.done).toEqual(ids(many.slice(200)));
  });

  it('retries through the queue: secrets sealed again for the new job, the owner kept', async () => {
    const queue = await openQueue(backend);
    const { job } = await queue.start('sealed', { token: 'hunter2' }, { owner: 'ann' });
    const [claimed] = await queue.jobs.claim({ workerId: 'test', tasks: ['sealed'], limit: 1, leaseMs: 60_000 });
    if (!claimed) throw new Error('nothing claimed');
    await queue.jobs.finish(claimed.lease, { status: 'failed', error: { message: 'x', code: 'TASK_ERROR' } });
    const result = await bulk(queue, { action: 'retry', filter: { owner: 'ann' } });
    expect(result.done).toEqual([job.id]);
    const [again] = (await queue.jobs.list({ task: 'sealed', status: 'queued' })).jobs as [Job];
    expect(again).toMatchObject({ retryOf: job.id, owner: 'ann' });
    expect(JSON.stringify(again.params)).not.toContain('hunter2');
    const opened = revealSecrets(again.params, { jobId: again.id, owner: 'ann' }, keyFromSource(KEY));
    expect(opened.params).toEqual({ token: 'hunter2' });
  });

  it('stops reading at jobs well older than createdAfter', async () => {
    const queue = await openQueue(backend);
    const old = await make(queue, 'a', 250, 'queued');
    await backend.age(queue.store, ids(old), 2 * CREATED_AFTER_SLACK_MS);
    const since = Date.now();
    await clockPast(since);
    const fresh = await make(queue, 'a', 3, 'queued');
    const list = vi.spyOn(queue.jobs, 'list');
    const result = await bulk(queue, { action: 'cancel', filter: { createdAfter: new Date(since) } });
    expect(result).toMatchObject({ done: ids(fresh), nextCursor: null });
    // One page: the 200 read hold the 3 and then jobs far older than the filter.
    expect(list).toHaveBeenCalledTimes(1);
  });

  it('refuses bad input before reading anything', async () => {
    const queue = await openQueue(backend);
    const list = vi.spyOn(queue.jobs, 'list');
    const bad: [BulkRequest, RegExp][] = [
      [{ action: 'restart' as never }, /Unknown bulk action "restart"/],
      [
        { action: 'cancel', filter: { status: 'succeeded' } },
        /Cancel applies to queued and running jobs, not succeeded/,
      ],
      [{ action: 'retry', filter: { status: ['failed', 'queued'] } }, /not queued/],
      [{ action: 'delete', filter: { status: 'running' } }, /succeeded, failed and cancelled jobs, not running/],
      [{ action: 'delete', filter: { status: 'done' as never } }, /Unknown status "done"/],
      [{ action: 'delete', filter: { status: [] } }, /at least one/],
      [{ action: 'cancel', filter: { createdBefore: 'yesterday' } }, /createdBefore "yesterday" is not a date/],
      [
        { action: 'cancel', filter: { createdAfter: '2026-02-01T00:00:00Z', createdBefore: '2026-01-01T00:00:00Z' } },
        /earlier than/,
      ],
      [{ action: 'cancel', limit: 0 }, /limit must be a whole number from 1 to 1000/],
      [{ action: 'cancel', limit: 1_001 }, /limit/],
      [{ action: 'cancel', limit: 2.5 }, /limit/],
      [{ action: 'cancel', filter: { task: '' } }, /filter.task/],
    ];
    for (const [request, message] of bad) {
      const error = await bulk(queue, request).catch((e: unknown) => e);
      expect(error, JSON.stringify(request)).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toMatch(message);
    }
    expect(list).not.toHaveBeenCalled();
    await expect(bulk(queue, { action: 'cancel', cursor: 'not-a-cursor' })).rejects.toThrow(/cursor is not valid/);
  });
});

describe('POST /api/jobs/bulk', () => {
  let env: TestEnv;
  afterEach(async () => {
    await env?.close();
  });

  const call = (as: 'alice' | 'bob' | 'admin' | null, body: unknown) =>
    env.call('/api/jobs/bulk', { method: 'POST', as, body });

  /** Jobs of `owner` brought to `status` through the app's own queue. */
  const makeFor = (owner: string, count: number, status: JobStatus) =>
    make(env.underway.queue, 'echo', count, status, owner, (i) => ({ text: `${owner} ${i}` }));

  it('acts only on the caller’s own jobs; an admin on anyone’s, or one owner’s', async () => {
    env = setup();
    const alice = await makeFor('alice', 3, 'queued');
    const bob = await makeFor('bob', 2, 'queued');
    const queue = env.underway.queue;

    const denied = await call('alice', { action: 'cancel', filter: { owner: 'bob' } });
    expect(denied.status).toBe(403);
    expect((await json(denied)).error.code).toBe('FORBIDDEN');
    expect((await call(null, { action: 'cancel' })).status).toBe(401);

    const dry = await call('alice', { action: 'cancel', dryRun: true });
    expect(await json(dry)).toEqual({
      action: 'cancel',
      dryRun: true,
      matched: 3,
      done: [],
      skipped: [],
      nextCursor: null,
    });
    // Two at a time, on alice's own jobs (naming herself is allowed).
    const first = await json(await call('alice', { action: 'cancel', limit: 2, filter: { owner: 'alice' } }));
    expect(first.done).toEqual(ids(alice.slice(0, 2)));
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await json(await call('alice', { action: 'cancel', limit: 2, cursor: first.nextCursor }));
    expect(second).toMatchObject({ done: ids(alice.slice(2)), nextCursor: null });
    for (const job of bob) expect(await statusOf(queue, job.id)).toBe('queued');

    // Bob cannot delete alice's cancelled jobs; the admin can, naming her.
    expect((await json(await call('bob', { action: 'delete' }))).matched).toBe(0);
    const removed = await json(await call('admin', { action: 'delete', filter: { owner: 'alice' } }));
    expect(removed.done).toEqual(ids(alice));
    // And the admin acts on everyone's without a filter.
    const all = await json(await call('admin', { action: 'cancel' }));
    expect(all.done).toEqual(ids(bob));
  });

  it('answers bad input with 400, naming the problem', async () => {
    env = setup();
    const cases: [unknown, RegExp][] = [
      [{ action: 'restart' }, /action/],
      [{}, /action/],
      [{ action: 'cancel', filter: { status: 'done' } }, /filter\.status/],
      [{ action: 'cancel', filter: { status: 'failed' } }, /Cancel applies to queued and running jobs, not failed/],
      [{ action: 'retry', filter: { status: ['failed', 'running'] } }, /not running/],
      [{ action: 'cancel', filter: { createdBefore: 'yesterday' } }, /filter\.createdBefore/],
      [{ action: 'cancel', filter: { createdAfter: '2026-13-01T00:00:00Z' } }, /filter\.createdAfter/],
      [{ action: 'cancel', limit: 0 }, /limit/],
      [{ action: 'cancel', limit: 1_001 }, /limit/],
      [{ action: 'cancel', limit: '5' }, /limit/],
      [{ action: 'cancel', statuses: ['queued'] }, /statuses|Unrecognized/i],
      [{ action: 'cancel', filter: { statuses: ['queued'] } }, /statuses|Unrecognized/i],
      [{ action: 'cancel', cursor: 'garbage' }, /cursor is not valid/],
    ];
    for (const [body, problem] of cases) {
      const response = await call('alice', body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const { error } = await json(response);
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(`${error.message} ${(error.details ?? []).join(' ')}`, JSON.stringify(body)).toMatch(problem);
    }
    const notJson = await env.call('/api/jobs/bulk', { method: 'POST', body: '{', as: 'alice' });
    expect(notJson.status).toBe(400);
  });

  it('takes one start from the rate limit per job retried, stopping at the first 429', async () => {
    env = setup({ rateLimit: { starts: 3, perSeconds: 3_600 } });
    const failed = await makeFor('alice', 5, 'failed');
    const bobs = await makeFor('bob', 1, 'cancelled');

    const first = await call('alice', { action: 'retry' });
    expect(first.status).toBe(200);
    const body = await json(first);
    expect(body).toMatchObject({ matched: 3, done: ids(failed.slice(0, 3)), skipped: [] });
    expect(body.nextCursor).toEqual(expect.any(String));
    // Not even one more: 429, with when to try again.
    const limited = await call('alice', { action: 'retry', cursor: body.nextCursor });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await json(limited)).error.code).toBe('RATE_LIMITED');
    // Counting costs nothing, and bob's starts are his own.
    expect((await json(await call('alice', { action: 'retry', dryRun: true, cursor: body.nextCursor }))).matched).toBe(
      2,
    );
    expect((await json(await call('bob', { action: 'retry' }))).done).toEqual(ids(bobs));
    // Cancelling and deleting take no start.
    expect((await call('alice', { action: 'delete', limit: 1 })).status).toBe(200);
    const retries = (await env.underway.queue.jobs.list({ owner: 'alice', status: 'queued' })).jobs;
    expect(retries.map((job) => job.retryOf).sort()).toEqual(ids(failed.slice(0, 3)).sort());
  });

  it('is in the OpenAPI document, whose paths stay exactly the routes', async () => {
    env = setup({ dashboard: false });
    const document = await json(await env.call('/api/openapi.json', { as: null }));
    const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    const routed = [
      ...new Set(
        env.underway.app.routes
          .filter((r) => r.method !== 'ALL')
          .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
      ),
    ].sort();
    expect(documented).toEqual(routed);
    expect(documented).toContain('POST /api/jobs/bulk');
    const schema = document.paths['/api/jobs/bulk'].post.requestBody.content['application/json'].schema;
    expect(schema).toMatchObject({ required: ['action'], additionalProperties: false });
    expect(document).toEqual(
      openApiDocument({ basePath: '/api', pagesPath: '', healthPath: '/healthz', metricsPath: '/metrics' }),
    );
  });
});
