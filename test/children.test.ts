import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { WAITING_FOR_CHILDREN_AT } from '../src/core/children.ts';
import { ChildJobError, PermanentJobError } from '../src/core/errors.ts';
import type { Job } from '../src/core/job.ts';
import { defineTask } from '../src/core/task.ts';
import { createUnderway } from '../src/http/index.ts';
import { createLogger } from '../src/logger.ts';
import { createQueue } from '../src/queue/queue.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { createWorker, type Worker, type WorkerOptions } from '../src/worker/index.ts';
import { type SandboxRunner, sandboxRunner } from '../src/worker/sandbox/index.ts';
import { tasks as sandboxedTasks } from './fixtures/children/tasks.ts';
import { json, TOKENS } from './helpers/http.ts';
import { migratedSchemas } from './helpers/migrated-schemas.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';
import { eventually, waitForStatus } from './helpers/wait.ts';

const dir = tempDir('underway-children-');
afterAll(() => dir.cleanup());
let n = 0;
const database = createTestDatabase();
const schemas = migratedSchemas(database, 8);
afterAll(async () => {
  await schemas.settled();
  await (await database).drop();
});
const silent = createLogger({ level: 'silent' });

const open: { stores: Store[]; workers: Worker[]; runners: SandboxRunner[] } = { stores: [], workers: [], runners: [] };
afterEach(async () => {
  await Promise.all(open.workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
  await Promise.all(open.runners.splice(0).map((r) => r.close()));
  await Promise.all(open.stores.splice(0).map((s) => s.close()));
});

/** What the parents saw on each of their runs, by job id. */
const runs = new Map<string, { created: boolean[] }[]>();
const runsOf = (id: string) => runs.get(id) ?? [];
const noted = (id: string, created: boolean[]) => runs.set(id, [...runsOf(id), { created }]);

const square = defineTask({
  name: 'square',
  params: z.object({ n: z.number().int() }),
  async run({ n: x }, ctx) {
    ctx.progress(1, 1);
    return x * x;
  },
});
const boom = defineTask({
  name: 'boom',
  params: z.object({}),
  async run() {
    throw new PermanentJobError('The disk is full.');
  },
});
/**
 * Gates of the `gated` children: each waits until the test opens its own (or it is cancelled).
 * `gate(key)` resolves with a child's opener once that child runs.
 */
const gates = new Map<string, { opener: Promise<() => void>; running: (open: () => void) => void }>();
function gate(key: string) {
  let entry = gates.get(key);
  if (!entry) {
    let running: (open: () => void) => void = () => {};
    const opener = new Promise<() => void>((resolve) => {
      running = resolve;
    });
    entry = { opener, running };
    gates.set(key, entry);
  }
  return entry;
}
const gated = defineTask({
  name: 'gated',
  params: z.object({ key: z.string() }),
  async run({ key }, ctx) {
    ctx.progress(0, 10);
    await new Promise<void>((resolve, reject) => {
      gate(key).running(resolve);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
    });
    return key;
  },
});
/** Spawns four gated children, keyed by its job id, and waits for them. */
const gatedParent = defineTask({
  name: 'gated-parent',
  params: z.object({}),
  async run(_params, ctx) {
    const children = [];
    for (let i = 0; i < 4; i++) children.push(await ctx.spawn(gated, { key: `${ctx.job.id}:${i}` }));
    return ctx.wait(children);
  },
});
/** Runs until cancelled. */
const block = defineTask({
  name: 'block',
  params: z.object({}),
  async run(_params, ctx) {
    ctx.progress(0, 10);
    await new Promise((_, reject) => {
      if (ctx.signal.aborted) reject(ctx.signal.reason);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
    });
  },
});
/** Fans out `count` squares and sums them. */
const fan = defineTask({
  name: 'fan',
  params: z.object({ count: z.number().int() }),
  async run({ count }, ctx) {
    const children = await Promise.all(Array.from({ length: count }, (_, i) => ctx.spawn(square, { n: i })));
    noted(
      ctx.job.id,
      children.map((c) => c.created),
    );
    const results: number[] = await ctx.wait(children);
    return results.reduce((sum, x) => sum + x, 0);
  },
});
/** One child that fails and one that succeeds; `mode` says how the failure is met. */
const risky = defineTask({
  name: 'risky',
  params: z.object({ mode: z.enum(['uncaught', 'caught', 'settle']) }),
  maxAttempts: 3,
  async run({ mode }, ctx) {
    const children = [await ctx.spawn(boom, {}), await ctx.spawn(square, { n: 3 })];
    if (mode === 'settle') {
      const outcomes = await ctx.wait(children, { settle: true });
      return outcomes.map((o) => (o.status === 'succeeded' ? o.result : `${o.status}: ${o.error.message}`));
    }
    try {
      return await ctx.wait(children);
    } catch (error) {
      if (mode === 'caught' && error instanceof ChildJobError) return `handled ${error.child.name}`;
      throw error;
    }
  },
});
/** A child that runs until cancelled and one that fails. */
const doomed = defineTask({
  name: 'doomed',
  params: z.object({}),
  async run(_params, ctx) {
    const children = [await ctx.spawn(block, {}), await ctx.spawn(boom, {})];
    await ctx.wait(children);
  },
});
/** Spawns `count` children that block, then waits for them. */
const parentOfBlockers = defineTask({
  name: 'blockers',
  params: z.object({ count: z.number().int() }),
  async run({ count }, ctx) {
    const children = [];
    for (let i = 0; i < count; i++) children.push(await ctx.spawn(block, {}, { name: `blocker-${i}` }));
    await ctx.wait(children);
  },
});
/** Spawns three children, fails its first attempt, waits on its second: a re-run gets the same children. */
const flakyParent = defineTask({
  name: 'flaky-parent',
  params: z.object({}),
  maxAttempts: 2,
  backoff: { type: 'fixed', delaySeconds: 0 },
  async run(_params, ctx) {
    const children = [
      await ctx.spawn(square, { n: 1 }),
      await ctx.spawn(square, { n: 2 }, { name: 'two' }),
      await ctx.spawn('square', { n: 3 }),
    ];
    noted(
      ctx.job.id,
      children.map((c) => c.created),
    );
    if (ctx.job.attempt === 1) throw new Error('the first attempt fails after spawning');
    return ctx.wait(children);
  },
});
/** Spawns in an order that changes between runs: the second run finds a child of another task under child-0. */
const fickle = defineTask({
  name: 'fickle',
  params: z.object({}),
  maxAttempts: 2,
  backoff: { type: 'fixed', delaySeconds: 0 },
  async run(_params, ctx) {
    if (ctx.job.attempt === 1) {
      await ctx.spawn(square, { n: 1 });
      throw new Error('again');
    }
    await ctx.spawn(boom, {});
  },
});
const tasks = [square, boom, block, gated, gatedParent, fan, risky, doomed, parentOfBlockers, flakyParent, fickle];

const STORES: { name: string; create: () => Promise<Store> }[] = [
  { name: 'sqlite', create: async () => sqliteStore({ file: dir.file(`c${++n}.db`) }) },
  {
    name: 'postgres',
    create: async () => {
      const schema = await schemas.next();
      const store = postgresStore({ connectionString: (await database).url, schema, poolSize: 4 });
      await store.migrate();
      return store;
    },
  },
];

/** The job once `check` holds for it, looked at again after each event of the store. */
function until(store: Store, id: string, check: (job: Job) => boolean, what: string): Promise<Job> {
  return eventually(
    store,
    async () => {
      const job = await store.get(id);
      return job && check(job) ? job : null;
    },
    `job ${id} getting to: ${what}`,
  );
}

describe.each(STORES)('child jobs on $name', ({ create }) => {
  async function setup(options: Partial<WorkerOptions> = {}) {
    const store = await create();
    open.stores.push(store);
    const queue = createQueue({ store, tasks });
    const worker = createWorker({ store, tasks, logger: silent, cancelGraceMs: 500, pollMs: 200, ...options });
    open.workers.push(worker.start());
    return { store, queue, worker };
  }
  const children = async (store: Store, id: string) => {
    const all: Job[] = [];
    let cursor: string | null = null;
    do {
      const page = await store.list({ parent: id, limit: 200, cursor });
      all.push(...page.jobs);
      cursor = page.nextCursor;
    } while (cursor);
    return all;
  };

  it('fans out 100 children and fans in their results, giving its one slot back while they run', async () => {
    // One slot: the children can only run because the parent does not hold it while it waits.
    const { store, queue } = await setup({ concurrency: 1 });
    await queue.pause('square');
    const { job } = await queue.start(fan, { count: 100 }, { owner: 'ann' });
    const asleep = await until(store, job.id, (j) => j.runAt === WAITING_FOR_CHILDREN_AT, 'asleep');
    // Its run is not counted as an attempt: one fewer while it sleeps, counted again when claimed.
    expect(asleep).toMatchObject({ status: 'queued', attempt: 0, startedAt: expect.any(String) });
    expect(await queue.waiting(asleep)).toEqual({ reason: 'children', text: 'waiting for 100 of 100 child jobs' });
    await queue.resume('square');

    const done = await waitForStatus(store, job.id, 'succeeded', 30_000);
    const sum = Array.from({ length: 100 }, (_, i) => i * i).reduce((a, b) => a + b, 0);
    expect(done).toMatchObject({ result: sum, attempt: 1 });
    // Two runs: the first spawned and went to sleep, the second got the same children back, ended.
    expect(runsOf(job.id).map((r) => r.created.filter(Boolean).length)).toEqual([100, 0]);
    const all = await children(store, job.id);
    expect(all).toHaveLength(100);
    expect(new Set(all.map((c) => c.childName)).size).toBe(100);
    expect(all.every((c) => c.status === 'succeeded' && c.owner === 'ann' && c.parentId === job.id)).toBe(true);
  });

  it("while asleep, the parent's bar is the sum of its children's, each counting one", async () => {
    const { store, queue } = await setup({ concurrency: 3 });
    const { job } = await queue.start(gatedParent, {});
    // Three slots: the parent's first, then (given back) three of its four children's.
    const opener = (i: number) => gate(`${job.id}:${i}`).opener;
    (await opener(0))();
    const parent = await until(store, job.id, (j) => j.progress?.message === '1 of 4 child jobs ended', 'its bar');
    expect(parent.progress).toMatchObject({ current: 1, total: 4, percent: 25 });
    expect((await queue.waiting(parent))?.text).toBe('waiting for 3 of 4 child jobs');
    for (const i of [1, 2, 3]) (await opener(i))();
    const done = await waitForStatus(store, job.id, 'succeeded');
    expect(done.result).toEqual([0, 1, 2, 3].map((i) => `${job.id}:${i}`));
  });

  it('cancelling the parent cancels its children: queued ones at once, running ones asked to stop', async () => {
    const { store, queue } = await setup({ concurrency: 3 });
    const { job } = await queue.start(parentOfBlockers, { count: 4 });
    const kids = async () => children(store, job.id);
    // Three of its four children running (three slots: the parent gave its one back), one queued.
    await eventually(
      store,
      async () => ((await kids()).filter((c) => c.status === 'running').length >= 3 ? true : null),
      'three children running',
    );
    // Its slot is free as its task ends, a moment before its sleep is written.
    await until(store, job.id, (j) => j.runAt === WAITING_FOR_CHILDREN_AT, 'asleep');
    const cancelled = await queue.cancel(job.id);
    expect(cancelled.status).toBe('cancelled');
    // When the cancel returns, none is left queued: the queued one ended at once, the running ones
    // were asked to stop (and may have stopped already).
    const now = await kids();
    expect(now).toHaveLength(4);
    expect(now.every((c) => c.status === 'cancelled' || (c.status === 'running' && c.cancelRequested))).toBe(true);
    for (const child of now) await waitForStatus(store, child.id, 'cancelled');
  });

  it('a failing child fails its parent at once (CHILD_FAILED, no retry), its attempts not spent on waiting', async () => {
    const { store, queue } = await setup({ concurrency: 1 });
    const { job } = await queue.start(risky, { mode: 'uncaught' });
    const failed = await waitForStatus(store, job.id, 'failed');
    expect(failed.attempt).toBe(1);
    expect(failed.error).toMatchObject({ code: 'CHILD_FAILED' });
    expect(failed.error?.message).toMatch(/^Child job child-0 \(boom \S+\) failed: The disk is full\.$/);
  });

  it('a failing child wakes its parent at once, though a sibling still runs; the parent fails and the sibling is cancelled', async () => {
    const { store, queue } = await setup({ concurrency: 3 });
    const { job } = await queue.start(doomed, {});
    const failed = await waitForStatus(store, job.id, 'failed');
    expect(failed.error?.message).toMatch(/^Child job child-1 \(boom \S+\) failed: The disk is full\.$/);
    const blocker = (await children(store, job.id)).find((c) => c.task === 'block');
    expect((await waitForStatus(store, blocker?.id as string, 'cancelled')).error?.code).toBe('CANCELLED');
  });

  it.each([
    ['caught', 'handled child-0'],
    ['settle', ['failed: The disk is full.', 9]],
  ] as const)('a failing child handled (%s) lets the parent succeed', async (mode, result) => {
    const { store, queue } = await setup({ concurrency: 1 });
    const { job } = await queue.start(risky, { mode });
    expect((await waitForStatus(store, job.id, 'succeeded')).result).toEqual(result);
  });

  it('a parent that runs again gets the same children back, never a second set', async () => {
    const { store, queue } = await setup({ concurrency: 2 });
    const { job } = await queue.start(flakyParent, {});
    const done = await waitForStatus(store, job.id, 'succeeded');
    expect(done).toMatchObject({ attempt: 2, result: [1, 4, 9] });
    // Attempt 1 made them; attempt 2 (and its run after the wait, if the children had not ended) found them.
    expect(runsOf(job.id)[0]?.created).toEqual([true, true, true]);
    expect(
      runsOf(job.id)
        .slice(1)
        .every((r) => r.created.every((c) => !c)),
    ).toBe(true);
    expect((await children(store, job.id)).map((c) => c.childName).sort()).toEqual(['child-0', 'child-1', 'two']);
  });

  it('a child of another task under a name already taken is an error, not the wrong result', async () => {
    const { store, queue } = await setup();
    const { job } = await queue.start(fickle, {});
    const failed = await waitForStatus(store, job.id, 'failed');
    expect(failed.error?.message).toMatch(/child "child-0" is a job of square, not boom/);
  });
});

describe('child jobs over HTTP and on the job page', () => {
  it('a job says whose child it is and how its children stand; the list filters by parent; the page shows them', async () => {
    const store = sqliteStore({ file: dir.file(`http-${++n}.db`) });
    open.stores.push(store);
    const underway = createUnderway({
      mountPath: '',
      store,
      tasks,
      logger: silent,
      auth: { tokens: [{ token: TOKENS.alice, id: 'alice', roles: [] }] },
    });
    const call = async (path: string) => {
      const response = await underway.app.request(path, { headers: { authorization: `Bearer ${TOKENS.alice}` } });
      expect(response.status).toBe(200);
      return response;
    };
    try {
      open.workers.push(createWorker({ store, tasks, logger: silent, pollMs: 200 }).start());
      const { job } = await underway.queue.start(fan, { count: 3 }, { owner: 'alice' });
      await waitForStatus(store, job.id, 'succeeded');

      const parent = await json(await call(`/api/jobs/${job.id}`));
      expect(parent).toMatchObject({ parentId: null, childName: null, result: 5 });
      expect(parent.children).toEqual({
        total: 3,
        queued: 0,
        running: 0,
        succeeded: 3,
        failed: 0,
        cancelled: 0,
        done: 3,
        url: `/api/jobs?parent=${job.id}`,
      });
      const listed = await json(await call(parent.children.url));
      expect(listed.jobs.map((c: { childName: string }) => c.childName)).toEqual(['child-2', 'child-1', 'child-0']);
      expect(listed.jobs.every((c: { parentId: string }) => c.parentId === job.id)).toBe(true);
      const child = await json(await call(`/api/jobs/${listed.jobs[0].id}`));
      expect(child).toMatchObject({ parentId: job.id, childName: 'child-2', children: null, result: 4 });

      const page = await (await call(`/jobs/${job.id}`)).text();
      expect(page).toContain('Child jobs');
      expect(page).toContain('3 of 3 ended: 3 succeeded');
      for (const name of ['child-0', 'child-1', 'child-2']) expect(page).toContain(`>${name}</a>`);
      const childPage = await (await call(`/jobs/${listed.jobs[0].id}`)).text();
      expect(childPage).toContain('Child of');
    } finally {
      await underway.close();
    }
  });
});

describe('child jobs in the sandbox', () => {
  it('a sandboxed parent spawns over IPC, sleeps and fans in; a bad spawn is its error', async () => {
    const store = sqliteStore({ file: dir.file(`sandbox-${++n}.db`) });
    open.stores.push(store);
    const module = fileURLToPath(new URL('./fixtures/children/tasks.ts', import.meta.url));
    const runner = sandboxRunner({ module, size: 2, termGraceMs: 1_000, logger: silent });
    open.runners.push(runner);
    const queue = createQueue({ store, tasks: sandboxedTasks });
    open.workers.push(
      createWorker({ store, tasks: sandboxedTasks, runner, logger: silent, concurrency: 2, pollMs: 200 }).start(),
    );
    const { job } = await queue.start('sandboxed.fan', { count: 20 });
    const done = await waitForStatus(store, job.id, 'succeeded', 60_000);
    expect(done.result).toBe(Array.from({ length: 20 }, (_, i) => i + 1).reduce((a, b) => a + b, 0));
    expect((await store.list({ parent: job.id, limit: 200 })).jobs).toHaveLength(20);

    const { job: bad } = await queue.start('sandboxed.bad-spawn', {});
    const failed = await waitForStatus(store, bad.id, 'failed', 60_000);
    expect(failed.result).toBeNull();
    expect(failed.error?.message).toMatch(/ValidationError: The params for task "sandboxed.double" are not valid/);
  });
});
