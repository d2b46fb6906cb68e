import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PermanentJobError } from '../src/core/errors.ts';
import { defineTask } from '../src/core/task.ts';
import { createLogger } from '../src/logger.ts';
import { createQueue } from '../src/queue/queue.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { JobEvent, Store } from '../src/store/store.ts';
import { createWorker, type Worker, type WorkerOptions } from '../src/worker/index.ts';
import { migratedSchemas } from './helpers/migrated-schemas.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';
import { collectEvents, waitForStatus } from './helpers/wait.ts';

const dir = tempDir('underway-worker-');
afterAll(() => dir.cleanup());
let n = 0;
// Created in the background while the SQLite half runs; the PostgreSQL tests wait for it (and fail
// saying how to start the server when it cannot be reached).
const database = createTestDatabase();
/** One per PostgreSQL test below (each opens one store); more tests only cost ~100 ms each to migrate. */
const schemas = migratedSchemas(database, 21);
afterAll(async () => {
  await schemas.settled();
  await (await database).drop();
});
const silent = createLogger({ level: 'silent' });

const open: { stores: Store[]; workers: Worker[] } = { stores: [], workers: [] };
afterEach(async () => {
  await Promise.all(open.workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
  await Promise.all(open.stores.splice(0).map((s) => s.close()));
});

/** Resolves when the signal aborts: what a well-behaved long task does while waiting. */
const aborted = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

let flaky = 0;
/** Opened by the 'late-look' test: when the task looks at its signal, and what it saw. */
let lookNow: (() => void) | undefined;
let lookedAt: ((seen: { aborted: boolean; reason: string | undefined }) => void) | undefined;

const tasks = [
  defineTask({
    name: 'count',
    params: z.object({ to: z.number().int().min(1) }),
    async run({ to }, ctx) {
      for (let i = 1; i <= to; i++) ctx.progress(i, to, `step ${i}`);
      ctx.log('counted to', to);
      return { counted: to };
    },
  }),
  defineTask({
    name: 'flaky',
    params: z.object({ failures: z.number() }),
    maxAttempts: 3,
    backoff: { type: 'fixed', delaySeconds: 0 },
    async run({ failures }, ctx) {
      if (ctx.job.attempt <= failures) throw new Error(`failure ${++flaky}`);
      return { attempt: ctx.job.attempt };
    },
  }),
  defineTask({
    name: 'late-look',
    params: z.object({}),
    maxAttempts: 1,
    // Reads its signal only after the attempt was cancelled and ended without it (the grace period).
    async run(_params, ctx) {
      await new Promise<void>((resolve) => {
        lookNow = resolve;
      });
      lookedAt?.({ aborted: ctx.signal.aborted, reason: (ctx.signal.reason as { kind?: string } | undefined)?.kind });
    },
  }),
  defineTask({
    name: 'hopeless',
    params: z.object({}),
    maxAttempts: 5,
    async run() {
      throw new PermanentJobError('The folder does not exist.');
    },
  }),
  defineTask({
    name: 'wait',
    params: z.object({}),
    async run(_params, ctx) {
      ctx.progress(0, null, 'waiting');
      await aborted(ctx.signal);
    },
  }),
  defineTask({
    name: 'slow',
    params: z.object({}),
    timeoutSeconds: 0.2,
    maxAttempts: 1,
    async run(_params, ctx) {
      await aborted(ctx.signal);
    },
  }),
  defineTask({
    name: 'quiet',
    params: z.object({}),
    stallSeconds: 0.2,
    maxAttempts: 1,
    async run(_params, ctx) {
      await aborted(ctx.signal);
    },
  }),
  defineTask({
    name: 'stubborn',
    params: z.object({}),
    maxAttempts: 1,
    async run() {
      await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
    },
  }),
  defineTask({
    name: 'export',
    queue: 'exports',
    params: z.object({ customer: z.string(), ms: z.number() }),
    concurrencyKey: ({ customer }) => customer,
    async run({ ms }) {
      // The work: long enough that jobs over the limit, had they been claimed, would overlap.
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
  }),
  defineTask({
    name: 'chatty',
    params: z.object({ updates: z.number() }),
    async run({ updates }, ctx) {
      for (let i = 1; i <= updates; i++) {
        ctx.progress(i, updates);
        if (i % 100 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return 'done';
    },
  }),
];

/**
 * Every backend the worker runs on; the store factory is the only difference between the runs.
 * Each store is a fresh one (a new SQLite file, a new PostgreSQL schema); the caller closes it.
 */
const STORES: { name: string; create: () => Promise<Store> }[] = [
  { name: 'sqlite', create: async () => sqliteStore({ file: dir.file(`w${++n}.db`) }) },
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

describe.each(STORES)('worker on $name', ({ create }) => {
  /** A fresh store, closed after the test (afterEach). */
  async function openStore(): Promise<Store> {
    const store = await create();
    open.stores.push(store);
    return store;
  }

  async function setup(options: Partial<WorkerOptions> = {}) {
    const store = await openStore();
    const queue = createQueue({ store, tasks });
    const worker = createWorker({
      store,
      tasks,
      logger: silent,
      concurrency: 4,
      cancelGraceMs: 500,
      ...options,
    }).start();
    open.workers.push(worker);
    return { store, queue, worker };
  }

  it('runs a job to success, with progress and logs persisted and published', async () => {
    const { store, queue } = await setup();
    const events = collectEvents(store, (e) => e.type === 'status' && e.status === 'succeeded');
    const { job } = await queue.start('count', { to: 5 });
    const done = await waitForStatus(store, job.id, 'succeeded');
    expect(done).toMatchObject({ result: { counted: 5 }, attempt: 1, error: null });
    expect(done.progress).toMatchObject({ current: 5, total: 5, percent: 100, message: 'step 5' });
    const kinds = (await events)
      .filter((e) => e.jobId === job.id)
      .map((e) => (e.type === 'status' ? e.status : e.type));
    expect(kinds.filter((k) => k === 'progress')).toHaveLength(5);
    expect(kinds.filter((k) => k !== 'progress' && k !== 'log')).toEqual(['queued', 'running', 'succeeded']);
    expect((await store.readLogs(job.id)).map((l) => l.line)).toEqual(['counted to 5']);
  });

  it("takes a paused task's jobs only once it is resumed, running other tasks meanwhile", async () => {
    const { store, queue } = await setup({ pollMs: 50 });
    const pause = await queue.pause('count', { by: 'ann', reason: 'maintenance' });
    expect(pause).toMatchObject({ kind: 'task', name: 'count', by: 'ann', reason: 'maintenance' });
    const { job: held } = await queue.start('count', { to: 1 });
    const { job: other } = await queue.start('flaky', { failures: 0 });
    // Started after the held job, of the same priority: a claim that took it would have taken the
    // held one first, had that not been paused.
    await waitForStatus(store, other.id, 'succeeded');
    expect((await store.get(held.id))?.status).toBe('queued');
    expect(await store.nextRunAt(['count'])).toBeNull();
    expect(await queue.resume('count')).toBe(true);
    expect(await queue.resume('count')).toBe(false);
    // No event wakes the worker for a resume: its next poll (50 ms here) takes the job.
    expect(await waitForStatus(store, held.id, 'succeeded')).toMatchObject({ attempt: 1 });
    expect(await queue.pauses()).toEqual([]);
  });

  it("holds a queue's limit and its per-key limit across two workers, sampled at every transition", async () => {
    const store = await openStore();
    const queue = createQueue({ store, tasks });
    const queues = { exports: { concurrency: 3, concurrencyPerKey: 2 } };
    let most = 0;
    let mostPerKey = 0;
    const samples: Promise<void>[] = [];
    const off = store.events.listen((event) => {
      if (event.type !== 'status' || event.task !== 'export') return;
      samples.push(
        store.list({ status: 'running', task: 'export', limit: 200 }).then(({ jobs }) => {
          most = Math.max(most, jobs.length);
          const perKey = new Map<string, number>();
          for (const job of jobs) perKey.set(job.concurrencyKey ?? '', (perKey.get(job.concurrencyKey ?? '') ?? 0) + 1);
          mostPerKey = Math.max(mostPerKey, ...perKey.values());
        }),
      );
    });
    const started = await queue.startMany(
      'export',
      Array.from({ length: 24 }, (_, i) => ({ params: { customer: i % 3 === 0 ? 'acme' : `c${i % 4}`, ms: 30 } })),
    );
    expect(started[0]?.job).toMatchObject({ queue: 'exports', concurrencyKey: 'acme' });
    for (let i = 0; i < 2; i++) {
      open.workers.push(createWorker({ store, tasks, logger: silent, concurrency: 4, queues, pollMs: 50 }).start());
    }
    await Promise.all(started.map(({ job }) => waitForStatus(store, job.id, 'succeeded')));
    off();
    await Promise.all(samples);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(3);
    expect(mostPerKey).toBeLessThanOrEqual(2);
    expect(() => createWorker({ store, tasks, queues: { exports: { concurrency: 0 } } })).toThrow(
      /Queue exports: concurrency must be a whole number >= 1/,
    );
  });

  it('runs due jobs of higher priority first', async () => {
    const store = await openStore();
    const queue = createQueue({ store, tasks });
    const { job: low } = await queue.start('count', { to: 1 }, { priority: -1 });
    const { job: normal } = await queue.start('count', { to: 1 });
    const { job: high } = await queue.start('count', { to: 1 }, { priority: 5 });
    const started: string[] = [];
    const off = store.events.listen((event) => {
      if (event.type === 'status' && event.status === 'running') started.push(event.jobId);
    });
    open.workers.push(createWorker({ store, tasks, logger: silent, concurrency: 1 }).start());
    await waitForStatus(store, low.id, 'succeeded');
    off();
    expect(started).toEqual([high.id, normal.id, low.id]);
    await expect(queue.start('count', { to: 1 }, { priority: 1001 })).rejects.toThrow(
      /priority must be a whole number/,
    );
  });

  it('retries a failing job with backoff until it succeeds', async () => {
    const { store, queue } = await setup();
    const { job } = await queue.start('flaky', { failures: 2 });
    const done = await waitForStatus(store, job.id, 'succeeded');
    expect(done).toMatchObject({ attempt: 3, result: { attempt: 3 } });
  });

  it('fails for good when attempts run out, keeping the last error', async () => {
    const { store, queue } = await setup();
    const { job } = await queue.start('flaky', { failures: 5 });
    const done = await waitForStatus(store, job.id, 'failed');
    expect(done.attempt).toBe(3);
    expect(done.error).toMatchObject({ code: 'TASK_ERROR', message: expect.stringMatching(/^failure \d+$/) });
    expect(done.error?.detail).toMatch(/at /);
  });

  it('does not retry a PermanentJobError', async () => {
    const { store, queue } = await setup();
    const { job } = await queue.start('hopeless', {});
    const done = await waitForStatus(store, job.id, 'failed');
    expect(done).toMatchObject({ attempt: 1, error: { message: 'The folder does not exist.' } });
  });

  it('cancels a running job through its signal', async () => {
    const { store, queue } = await setup();
    const { job } = await queue.start('wait', {});
    await waitForStatus(store, job.id, 'running');
    await queue.cancel(job.id);
    const done = await waitForStatus(store, job.id, 'cancelled');
    expect(done.error).toMatchObject({ code: 'CANCELLED' });
    await expect(queue.cancel(job.id)).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('gives a task that reads its signal only after the cancel an aborted one, with the reason', async () => {
    const { store, queue } = await setup({ cancelGraceMs: 50 });
    const seen = new Promise<{ aborted: boolean; reason: string | undefined }>((resolve) => {
      lookedAt = resolve;
    });
    const { job } = await queue.start('late-look', {});
    await waitForStatus(store, job.id, 'running');
    await queue.cancel(job.id);
    expect((await waitForStatus(store, job.id, 'cancelled')).error?.code).toBe('CANCELLED');
    lookNow?.();
    expect(await seen).toEqual({ aborted: true, reason: 'cancel' });
  });

  it('ends an attempt that ignores its signal after the grace period', async () => {
    const { store, queue } = await setup({ cancelGraceMs: 100 });
    const { job } = await queue.start('stubborn', {});
    await waitForStatus(store, job.id, 'running');
    await queue.cancel(job.id);
    expect((await waitForStatus(store, job.id, 'cancelled')).status).toBe('cancelled');
  });

  it('fails a job past its timeout with TIMEOUT, and one that reports nothing with STALLED', async () => {
    const { store, queue } = await setup();
    const slow = (await queue.start('slow', {})).job;
    const quiet = (await queue.start('quiet', {})).job;
    expect((await waitForStatus(store, slow.id, 'failed')).error).toMatchObject({
      code: 'TIMEOUT',
      message: 'Timed out after 0.2 s.',
    });
    expect((await waitForStatus(store, quiet.id, 'failed')).error).toMatchObject({ code: 'STALLED' });
  });

  it('a per-job timeout overrides the task default', async () => {
    const { store, queue } = await setup();
    const { job } = await queue.start('wait', {}, { timeoutSeconds: 0.1, maxAttempts: 1 });
    expect((await waitForStatus(store, job.id, 'failed')).error?.code).toBe('TIMEOUT');
  });

  it('starts a delayed job no earlier than its runAt, woken without waiting for a poll', async () => {
    const { store, queue } = await setup({ pollMs: 60_000 });
    const { job } = await queue.start('count', { to: 1 }, { delaySeconds: 0.3 });
    const done = await waitForStatus(store, job.id, 'succeeded');
    expect(Date.parse(done.startedAt as string)).toBeGreaterThanOrEqual(Date.parse(job.runAt));
  });

  it('wakes on enqueue rather than on the poll', async () => {
    const { store, queue } = await setup({ pollMs: 60_000 });
    await new Promise((resolve) => setImmediate(resolve));
    const { job } = await queue.start('count', { to: 1 });
    expect((await waitForStatus(store, job.id, 'succeeded', 5_000)).status).toBe('succeeded');
  });

  it('publishes every progress update but writes at most ~4 per second', async () => {
    const { store, queue } = await setup();
    const saves: number[] = [];
    const save = store.saveProgress.bind(store);
    // Count writes by wrapping the real store's method (the store itself is untouched).
    store.saveProgress = async (lease, progress) => {
      saves.push(Date.now());
      return save(lease, progress);
    };
    const updates = 3_000;
    const seen = collectEvents(store, (e) => e.type === 'status' && e.status === 'succeeded');
    const started = Date.now();
    const { job } = await queue.start('chatty', { updates });
    await waitForStatus(store, job.id, 'succeeded');
    const seconds = (Date.now() - started) / 1000;
    const progressEvents = (await seen).filter(
      (e): e is Extract<JobEvent, { type: 'progress' }> => e.type === 'progress',
    );
    expect(progressEvents.map((e) => e.progress.current)).toEqual(Array.from({ length: updates }, (_, i) => i + 1));
    expect(saves.length).toBeLessThanOrEqual(Math.ceil(seconds * 4) + 2);
    expect((await store.get(job.id))?.progress?.current).toBe(updates);
  });

  it('graceful stop hands a running job back for another worker', async () => {
    const { store, queue, worker } = await setup();
    const { job } = await queue.start('wait', {});
    await waitForStatus(store, job.id, 'running');
    await worker.stop({ graceMs: 50 });
    expect(await store.get(job.id)).toMatchObject({ status: 'queued', attempt: 0 });
    const second = createWorker({ store, tasks, logger: silent, cancelGraceMs: 500 }).start();
    open.workers.push(second);
    await waitForStatus(store, job.id, 'running');
    await queue.cancel(job.id);
    expect((await waitForStatus(store, job.id, 'cancelled')).attempt).toBe(1);
  });

  it('honours a cancel that arrives while the claim of that job is still in flight', async () => {
    const { store, queue, worker } = await setup({ leaseMs: 60_000 });
    await worker.stop();
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const claim = store.claim.bind(store);
    // The claim has happened in the database, but the worker has not heard back yet.
    store.claim = async (request) => {
      const claimed = await claim(request);
      if (claimed.length > 0) await gate;
      return claimed;
    };
    const late = createWorker({ store, tasks, logger: silent, leaseMs: 60_000, cancelGraceMs: 500 }).start();
    open.workers.push(late);
    const { job } = await queue.start('wait', {});
    await waitForStatus(store, job.id, 'running');
    await queue.cancel(job.id);
    release();
    // Without remembering the cancel, the job would run until the next heartbeat, 20 s away.
    expect((await waitForStatus(store, job.id, 'cancelled', 5_000)).error?.code).toBe('CANCELLED');
  });

  it('frees a slot when the task ends, while its outcome is written, holding at most 100 such jobs', async () => {
    const store = await openStore();
    let release = (): void => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let finishes = 0;
    let hundred = (): void => {};
    const hundredHeld = new Promise<void>((resolve) => {
      hundred = resolve;
    });
    const finish = store.finish.bind(store);
    store.finish = async (lease, outcome) => {
      if (++finishes === 100) hundred();
      await gate;
      return finish(lease, outcome);
    };
    const queue = createQueue({ store, tasks });
    const ids: string[] = [];
    for (let i = 0; i < 103; i++) ids.push((await queue.start('count', { to: 1 })).job.id);
    const worker = createWorker({ store, tasks, logger: silent, concurrency: 1, pollMs: 20 }).start();
    open.workers.push(worker);
    await hundredHeld;
    // A few more polls: the bound, not a lack of wake-ups, is what stops the claims.
    await new Promise((resolve) => setTimeout(resolve, 100));
    // One job at a time ran, 100 outcomes are waiting to be written; then the bound stops the claims.
    expect(finishes).toBe(100);
    expect(worker.running).toBe(100);
    expect((await store.list({ status: 'queued' })).jobs).toHaveLength(3);
    release();
    for (const id of ids) await waitForStatus(store, id, 'succeeded');
  });

  it('prefetch: claims ahead, starts waiting jobs as slots free, cancels and hands back waiting ones', async () => {
    const store = await openStore();
    const started: string[] = [];
    const ends = new Map<string, () => void>();
    const held = defineTask({
      name: 'held',
      params: z.object({}),
      async run(_params, ctx) {
        started.push(ctx.job.id);
        await new Promise<void>((resolve) => ends.set(ctx.job.id, resolve));
      },
    });
    const queue = createQueue({ store, tasks: [held] });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await queue.start('held', {})).job.id);
    const worker = createWorker({ store, tasks: [held], logger: silent, concurrency: 1, prefetch: 3 }).start();
    open.workers.push(worker); // stopped below; afterEach stops it only if the test fails first
    await waitForStatus(store, ids[3] as string, 'running');
    // One runs, three are claimed and wait here, two stay queued for any worker. (The first
    // starts once its attempt has read the job's recorded steps: a moment after its claim.)
    await expect.poll(() => started).toEqual([ids[0]]);
    expect(worker.waiting).toBe(3);
    expect((await store.list({ status: 'queued' })).jobs.map((j) => j.id).sort()).toEqual([ids[4], ids[5]].sort());

    // A waiting job cancelled ends cancelled without running.
    await queue.cancel(ids[2] as string);
    expect((await waitForStatus(store, ids[2] as string, 'cancelled')).error?.code).toBe('CANCELLED');
    // A freed slot starts the oldest waiting job at once.
    ends.get(ids[0] as string)?.();
    await waitForStatus(store, ids[0] as string, 'succeeded');
    await expect.poll(() => started).toEqual([ids[0], ids[1]]);
    // The freed slot also refills the prefetch; the stop below may come while that claim is still
    // in flight (PostgreSQL's claim is slower): stop() waits for it and hands its jobs back too.
    // Before it did, ids[4] was still `running`, attempt 1, after `await stopping`, 1 run in 8.

    // Stopping hands the waiting jobs back, unstarted (their attempt not counted).
    const stopping = worker.stop({ graceMs: 5_000 });
    ends.get(ids[1] as string)?.();
    await stopping;
    expect(started).not.toContain(ids[2]);
    for (const id of [ids[3], ids[4], ids[5]]) {
      const job = await store.get(id as string);
      expect(job).toMatchObject({ status: 'queued', attempt: 0 });
    }
    expect((await store.get(ids[1] as string))?.status).toBe('succeeded');
  });

  it('respects concurrency', async () => {
    const { store, queue, worker } = await setup({ concurrency: 2 });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await queue.start('wait', {})).job.id);
    await waitForStatus(store, ids[1] as string, 'running');
    await waitForStatus(store, ids[0] as string, 'running');
    expect(worker.running).toBe(2);
    expect((await store.list({ status: 'queued' })).jobs).toHaveLength(2);
    for (const id of ids) await queue.cancel(id);
    for (const id of ids) await waitForStatus(store, id, 'cancelled');
  });
});
