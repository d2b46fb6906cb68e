import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
// From src, as the other suites import: the package's own name ('underway') is typed from dist/
// by tsc, whose Jobs class is not the one src/jobs/jobs.ts declares (it is not a public export).
import { ConflictError, NotFoundError } from '../src/core/errors.ts';
import type { Job, JobProgress, Lease } from '../src/core/job.ts';
import { CANCELLED, NO_ATTEMPTS_LEFT, STALLED_TEMPLATE, stalledMessage } from '../src/core/job-texts.ts';
import { defineTask } from '../src/core/task.ts';
import { Jobs } from '../src/jobs/jobs.ts';
import { createLogger } from '../src/logger.ts';
import { createQueue } from '../src/queue/queue.ts';
import type { JobEvent, NewLogLine, Store } from '../src/store/store.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import { waitForStatus } from './helpers/wait.ts';

export interface JobsStoreUnderTest {
  /** A fresh, migrated, empty store (a new SQLite file, a new PostgreSQL schema). */
  create(): Promise<Store>;
  /** Tests this backend skips, by name, each with the reason. */
  skip?: Readonly<Record<string, string>>;
}

/** Longest any single wait below may take: every wait is for an event or a condition, never a fixed time. */
const WAIT_MS = 15_000;
const silent = createLogger({ level: 'silent' });

/** Rejects when `promise` has not settled within `ms`, naming what was awaited. */
function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Resolves when the signal aborts: what a well-behaved long task does while it waits. */
const aborted = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

const tasks = [
  defineTask({
    name: 'echo',
    params: z.object({ n: z.number() }),
    async run({ n }) {
      return { n };
    },
  }),
  defineTask({
    name: 'fail-once',
    params: z.object({}),
    maxAttempts: 3,
    backoff: { type: 'fixed', delaySeconds: 0 },
    async run(_params, ctx) {
      if (ctx.job.attempt === 1) throw new Error('first attempt fails');
      return { attempt: ctx.job.attempt };
    },
  }),
  defineTask({
    name: 'always-fails',
    params: z.object({}),
    maxAttempts: 2,
    backoff: { type: 'fixed', delaySeconds: 0 },
    async run(_params, ctx) {
      throw new Error(`attempt ${ctx.job.attempt} failed`);
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
];

/** Every call of an `onEnded` listener, and a way to wait for a job's. */
function endedRecorder(jobs: Jobs) {
  const calls: Job[] = [];
  const waiters = new Map<string, (job: Job) => void>();
  const off = jobs.onEnded((job) => {
    calls.push(job);
    waiters.get(job.id)?.(job);
  });
  return {
    calls,
    off,
    /** How many times this job was reported ended. */
    count: (id: string) => calls.filter((job) => job.id === id).length,
    /** Resolves with the job when it is (or already was) reported ended. */
    next: (id: string): Promise<Job> => {
      const seen = calls.find((job) => job.id === id);
      if (seen) return Promise.resolve(seen);
      return within(new Promise<Job>((resolve) => waiters.set(id, resolve)), `onEnded for job ${id}`);
    },
  };
}

/** Status events heard through `jobs.subscribe` that match, in order. */
function statusEvents(jobs: Jobs, match: (event: Extract<JobEvent, { type: 'status' }>) => boolean) {
  const heard: Extract<JobEvent, { type: 'status' }>[] = [];
  const off = jobs.subscribe((event) => {
    if (event.type === 'status' && match(event)) heard.push(event);
  });
  return { heard, off, statuses: () => heard.map((event) => event.status) };
}

/** Resolves with the next process warning whose message matches. */
function nextWarning(match: RegExp): Promise<Error> {
  return within(
    new Promise<Error>((resolve) => {
      const on = (warning: Error) => {
        if (!match.test(warning.message)) return;
        process.off('warning', on);
        resolve(warning);
      };
      process.on('warning', on);
    }),
    `a warning matching ${match}`,
  );
}

/**
 * The Jobs layer (src/jobs/jobs.ts) over a real store: one instance per store object, `onEnded`
 * once per ended job whichever way it ended, the rules and words callers meet, and the events it
 * publishes. Each backend's test file calls `describeJobs('sqlite', { create })`.
 */
export function describeJobs(name: string, backend: JobsStoreUnderTest): void {
  describe(`Jobs conformance: ${name}`, () => {
    let stores: Store[] = [];
    let workers: Worker[] = [];

    const test = (title: string, fn: () => Promise<void>) => {
      const reason = backend.skip?.[title];
      if (reason) it.skip(`${title} (skipped: ${reason})`, fn);
      else it(title, fn);
    };

    /** A fresh store, closed after the test. */
    const openStore = async (): Promise<Store> => {
      const store = await backend.create();
      stores.push(store);
      return store;
    };

    /** A worker on the bare store (not the queue's), stopped after the test. */
    const startWorker = (store: Store): Worker => {
      const worker = createWorker({ store, tasks, logger: silent, cancelGraceMs: 2_000 }).start();
      workers.push(worker);
      return worker;
    };

    /** Claims the one due job of `task` without a worker; a lease of `leaseMs`. */
    const claim = async (jobs: Jobs, task: string, leaseMs = 60_000) => {
      const [claimed] = await jobs.claim({ workerId: 'test', tasks: [task], limit: 1, leaseMs });
      if (!claimed) throw new Error(`expected a claim of a ${task} job`);
      return claimed;
    };

    /**
     * Reaps until this job is among the reaped: its lease was claimed short, so this waits for
     * the lease to run out (a condition), not for a fixed time. Returns the reaped job.
     */
    const reapUntil = async (jobs: Jobs, id: string): Promise<Job> => {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const reaped = (await jobs.reapExpiredLeases()).find((job) => job.id === id);
        if (reaped) return reaped;
        if (Date.now() > deadline) throw new Error(`job ${id} was not reaped within ${WAIT_MS} ms`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    };

    const now = () => new Date().toISOString();

    beforeEach(() => {
      stores = [];
      workers = [];
    });
    afterEach(async () => {
      await Promise.all(workers.map((worker) => worker.stop({ graceMs: 0 })));
      await Promise.all(stores.map((store) => store.close()));
    });

    // 1. One instance per store object.

    test('Jobs.of gives one instance per store object, and it is the queue’s `jobs`', async () => {
      const a = await openStore();
      const b = await openStore();
      const jobs = Jobs.of(a);
      expect(Jobs.of(a)).toBe(jobs);
      expect(jobs.store).toBe(a);
      expect(Jobs.of(b)).not.toBe(jobs);
      expect(Jobs.of(b).store).toBe(b);
      const queue = createQueue({ store: a, tasks });
      expect(queue.jobs).toBe(jobs);
      expect(createQueue({ store: a, tasks }).jobs).toBe(jobs);
      expect(createQueue({ store: b, tasks }).jobs).toBe(Jobs.of(b));
    });

    // 2. onEnded: once per ended job, whichever way it ended.

    test('a listener on the queue’s jobs hears a success made by a worker built on the bare store, once', async () => {
      const store = await openStore();
      const queue = createQueue({ store, tasks });
      const ended = endedRecorder(queue.jobs);
      const worker = startWorker(store);
      const { job } = await queue.start('echo', { n: 7 });
      const done = await ended.next(job.id);
      expect(done).toMatchObject({ id: job.id, status: 'succeeded', result: { n: 7 }, attempt: 1 });
      expect(await store.get(job.id)).toMatchObject({ status: 'succeeded' });
      await worker.stop();
      expect(ended.count(job.id)).toBe(1);
      expect(ended.calls).toHaveLength(1);
    });

    test('a retry that goes back to queued is not an end; the success after it is, once', async () => {
      const store = await openStore();
      const queue = createQueue({ store, tasks });
      const ended = endedRecorder(queue.jobs);
      // By task, not id: the worker may claim the job before queue.start's answer is read.
      const events = statusEvents(queue.jobs, (event) => event.task === 'fail-once');
      const worker = startWorker(store);
      const { id } = (await queue.start('fail-once', {})).job;
      const done = await ended.next(id);
      expect(done).toMatchObject({ status: 'succeeded', attempt: 2, result: { attempt: 2 } });
      await worker.stop();
      // The first attempt's failure sent it back to the queue: heard as a status, not as an end.
      expect(events.statuses()).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
      expect(ended.calls.map((job) => [job.id, job.status])).toEqual([[id, 'succeeded']]);
      events.off();
    });

    test('with many retries at once, each job’s states are heard in the order they happened', async () => {
      const store = await openStore();
      const queue = createQueue({ store, tasks });
      const ended = endedRecorder(queue.jobs);
      const events = statusEvents(queue.jobs, (event) => event.task === 'fail-once');
      // A free slot claims a retried job as soon as its finish commits, on another connection
      // whose answer may be read before the finish's: its `running` must not pass the `queued`.
      const worker = createWorker({ store, tasks, logger: silent, concurrency: 8 }).start();
      workers.push(worker);
      const started = await queue.startMany(
        'fail-once',
        Array.from({ length: 40 }, () => ({ params: {} })),
      );
      for (const { job } of started) await ended.next(job.id);
      await worker.stop();
      for (const { job } of started) {
        const statuses = events.heard.filter((event) => event.jobId === job.id).map((event) => event.status);
        expect(statuses, job.id).toEqual(['queued', 'running', 'queued', 'running', 'succeeded']);
      }
      events.off();
    });

    test('a job failing its last attempt is reported once, failed; its earlier failed attempt is not', async () => {
      const store = await openStore();
      const queue = createQueue({ store, tasks });
      const ended = endedRecorder(queue.jobs);
      // By task, not id: the worker may claim the job before queue.start's answer is read.
      const events = statusEvents(queue.jobs, (event) => event.task === 'always-fails');
      const worker = startWorker(store);
      const { id } = (await queue.start('always-fails', {})).job;
      const done = await ended.next(id);
      expect(done).toMatchObject({
        status: 'failed',
        attempt: 2,
        error: { code: 'TASK_ERROR', message: 'attempt 2 failed' },
      });
      await worker.stop();
      expect(events.statuses()).toEqual(['queued', 'running', 'queued', 'running', 'failed']);
      expect(ended.calls.map((job) => [job.id, job.status])).toEqual([[id, 'failed']]);
      events.off();
    });

    test('cancelling a queued job reports it ended at once, with the before-start words', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const ended = endedRecorder(jobs);
      const queue = createQueue({ store, tasks });
      const { job } = await queue.start('echo', { n: 1 });
      const cancelled = await jobs.cancel(job.id);
      expect(cancelled).toMatchObject({
        id: job.id,
        status: 'cancelled',
        cancelRequested: true,
        error: { code: 'CANCELLED', message: CANCELLED.beforeStart },
      });
      // Heard before cancel resolved, and exactly once: asking again is refused and reports nothing.
      expect(ended.calls).toEqual([cancelled]);
      await expect(jobs.cancel(job.id)).rejects.toBeInstanceOf(ConflictError);
      expect(ended.count(job.id)).toBe(1);
    });

    test('a running job cancelled on request ends later, through the worker’s finish, reported once', async () => {
      const store = await openStore();
      const queue = createQueue({ store, tasks });
      const ended = endedRecorder(queue.jobs);
      const worker = startWorker(store);
      const { job } = await queue.start('wait', {});
      await waitForStatus(store, job.id, 'running', WAIT_MS);
      const asked = await queue.jobs.cancel(job.id);
      // Still running: the end comes from the worker, not from the cancel.
      expect(asked).toMatchObject({ status: 'running', cancelRequested: true });
      const done = await ended.next(job.id);
      expect(done).toMatchObject({
        status: 'cancelled',
        cancelRequested: true,
        error: { code: 'CANCELLED', message: CANCELLED.onRequest },
      });
      await worker.stop();
      expect(ended.calls.map((j) => [j.id, j.status])).toEqual([[job.id, 'cancelled']]);
    });

    test('a job whose lease expired with no attempts left is reaped STALLED and reported once', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const ended = endedRecorder(jobs);
      const queue = createQueue({ store, tasks });
      const { job } = await queue.start('echo', { n: 1 }, { maxAttempts: 1 });
      await claim(jobs, 'echo', 1); // a 1 ms lease, and no worker to renew it
      const reaped = await reapUntil(jobs, job.id);
      const message = STALLED_TEMPLATE.replace('%s', '1') + NO_ATTEMPTS_LEFT;
      expect(message).toBe(stalledMessage(1, false));
      expect(reaped).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'STALLED', message } });
      expect(await jobs.get(job.id)).toMatchObject({ status: 'failed', error: { code: 'STALLED', message } });
      expect(ended.calls).toEqual([reaped]);
      // Reaping again finds nothing and reports nothing.
      expect(await jobs.reapExpiredLeases()).toEqual([]);
      expect(ended.count(job.id)).toBe(1);
    });

    test('a job reaped with attempts left goes back to the queue and is not reported', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const ended = endedRecorder(jobs);
      const queue = createQueue({ store, tasks });
      const { job } = await queue.start('echo', { n: 1 }, { maxAttempts: 2 });
      await claim(jobs, 'echo', 1);
      const reaped = await reapUntil(jobs, job.id);
      expect(reaped).toMatchObject({ status: 'queued', error: { code: 'STALLED', message: stalledMessage(1, true) } });
      expect(ended.calls).toEqual([]);
    });

    test('a running job whose cancel was asked and whose worker is gone is reaped cancelled, reported once', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const ended = endedRecorder(jobs);
      const queue = createQueue({ store, tasks });
      const { job } = await queue.start('echo', { n: 1 }, { maxAttempts: 3 });
      await claim(jobs, 'echo', 1);
      expect(await jobs.cancel(job.id)).toMatchObject({ status: 'running', cancelRequested: true });
      expect(ended.calls).toEqual([]);
      const reaped = await reapUntil(jobs, job.id);
      expect(reaped).toMatchObject({
        status: 'cancelled',
        cancelRequested: true,
        error: { code: 'CANCELLED', message: CANCELLED.workerGone },
      });
      expect(ended.calls).toEqual([reaped]);
      expect(await jobs.reapExpiredLeases()).toEqual([]);
      expect(ended.count(job.id)).toBe(1);
    });

    /** A running job whose cancel was asked, handed back by release() (as a worker does at shutdown). */
    const releaseWithCancelAsked = async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const ended = endedRecorder(jobs);
      const queue = createQueue({ store, tasks });
      const { job } = await queue.start('echo', { n: 1 });
      const { lease } = await claim(jobs, 'echo');
      await jobs.cancel(job.id);
      const released = await jobs.release(lease);
      return { jobs, ended, job, released, after: await jobs.get(job.id) };
    };

    test('release() of a running job whose cancel was asked ends it cancelled, with the at-shutdown words', async () => {
      const { released, after } = await releaseWithCancelAsked();
      expect(released).toMatchObject({ status: 'cancelled' });
      expect(after).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED', message: CANCELLED.atShutdown } });
    });

    // A worker reaches this at stop() for a running job whose cancel was asked by another process
    // and not yet heard (its abort is then "shutdown", which releases), and for a claimed-ahead
    // (prefetch) job handed back at stop.
    test('the job release() ends cancelled is reported to onEnded once', async () => {
      const { ended, job } = await releaseWithCancelAsked();
      expect(ended.calls.map((j) => [j.id, j.status])).toEqual([[job.id, 'cancelled']]);
    });

    test('a listener that throws does not disturb the end: the job is ended, others hear it, a warning is emitted', async () => {
      const store = await openStore();
      const queue = createQueue({ store, tasks });
      const offThrower = queue.jobs.onEnded(() => {
        throw new Error('listener broke');
      });
      const ended = endedRecorder(queue.jobs);

      // Through a worker's finish: the attempt's write is not undone, nor retried.
      const worker = startWorker(store);
      const warnedOnFinish = nextWarning(/job-ended listener threw: Error: listener broke/);
      const { job } = await queue.start('echo', { n: 2 });
      expect(await ended.next(job.id)).toMatchObject({ status: 'succeeded', result: { n: 2 } });
      expect((await warnedOnFinish).message).toMatch(/listener broke/);
      expect(await store.get(job.id)).toMatchObject({ status: 'succeeded', result: { n: 2 } });
      await worker.stop();
      expect(ended.count(job.id)).toBe(1);

      // Through a cancel: it still answers with the cancelled job, and does not reject.
      const warnedOnCancel = nextWarning(/job-ended listener threw/);
      const queued = (await queue.start('echo', { n: 3 })).job;
      const cancelled = await queue.jobs.cancel(queued.id);
      expect(cancelled.status).toBe('cancelled');
      await warnedOnCancel;
      expect(ended.count(queued.id)).toBe(1);
      expect(await store.get(queued.id)).toMatchObject({ status: 'cancelled' });
      offThrower();
    });

    test('unsubscribing stops a listener, and only that one', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const queue = createQueue({ store, tasks });
      const first = endedRecorder(jobs);
      const second = endedRecorder(jobs);
      first.off();
      const a = (await queue.start('echo', { n: 1 })).job;
      await jobs.cancel(a.id);
      expect(first.calls).toEqual([]);
      expect(second.calls.map((job) => job.id)).toEqual([a.id]);
      second.off();
      const b = (await queue.start('echo', { n: 2 })).job;
      expect((await jobs.cancel(b.id)).status).toBe('cancelled');
      expect(second.calls.map((job) => job.id)).toEqual([a.id]);
    });

    // 3. The rules callers meet, and their words.

    test('cancel: unknown is NotFound, ended is a Conflict, asking a running job again is no error', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const queue = createQueue({ store, tasks });

      const unknown = jobs.cancel('no-such-job');
      await expect(unknown).rejects.toBeInstanceOf(NotFoundError);
      await expect(unknown).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'There is no job no-such-job.' });
      await expect(queue.cancel('no-such-job')).rejects.toBeInstanceOf(NotFoundError);

      // Ended by a finish: refused, naming how it ended.
      const done = (await queue.start('echo', { n: 1 })).job;
      const { lease } = await claim(jobs, 'echo');
      await jobs.finish(lease, { status: 'succeeded', result: 1 });
      const late = jobs.cancel(done.id);
      await expect(late).rejects.toBeInstanceOf(ConflictError);
      await expect(late).rejects.toMatchObject({
        code: 'CONFLICT',
        message: expect.stringMatching(/already ended \(succeeded\)/),
      });
      expect(await jobs.get(done.id)).toMatchObject({ status: 'succeeded', cancelRequested: false });

      // Running: asked once, then again while it winds down.
      const running = (await queue.start('echo', { n: 2 })).job;
      await claim(jobs, 'echo');
      const ended = endedRecorder(jobs);
      const first = await jobs.cancel(running.id);
      expect(first).toMatchObject({ status: 'running', cancelRequested: true });
      const events = statusEvents(jobs, (event) => event.jobId === running.id);
      const again = await jobs.cancel(running.id);
      expect(again).toEqual(first);
      // Unchanged: no status event for the second ask, and no end.
      expect(events.heard).toEqual([]);
      expect(ended.calls).toEqual([]);
      events.off();
    });

    test('remove: a running or queued job is a Conflict, an unknown one NotFound, a finished one is gone', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const queue = createQueue({ store, tasks });

      const unknown = jobs.remove('no-such-job');
      await expect(unknown).rejects.toBeInstanceOf(NotFoundError);
      await expect(unknown).rejects.toMatchObject({ message: 'There is no job no-such-job.' });

      const { job } = await queue.start('echo', { n: 1 });
      const queuedRemove = jobs.remove(job.id);
      await expect(queuedRemove).rejects.toBeInstanceOf(ConflictError);
      await expect(queuedRemove).rejects.toMatchObject({ message: expect.stringMatching(/still queued or running/) });

      const { lease } = await claim(jobs, 'echo');
      await jobs.appendLogs(job, lease, [{ stream: 'stdout', line: 'kept until removed', at: now() }]);
      const runningRemove = jobs.remove(job.id);
      await expect(runningRemove).rejects.toBeInstanceOf(ConflictError);
      await expect(runningRemove).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await jobs.get(job.id)).toMatchObject({ status: 'running' });

      await jobs.finish(lease, { status: 'succeeded', result: 1 });
      await expect(queue.remove(job.id)).resolves.toBeUndefined();
      expect(await jobs.get(job.id)).toBeNull();
      expect(await jobs.readLogs(job.id)).toEqual([]);
      await expect(jobs.remove(job.id)).rejects.toBeInstanceOf(NotFoundError);
    });

    // 4. Events the layer publishes.

    test('reportProgress reaches subscribers (and is not stored)', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const queue = createQueue({ store, tasks });
      const { job: queued } = await queue.start('echo', { n: 1 }, { owner: 'ann' });
      const { job } = await claim(jobs, 'echo');
      const progress: JobProgress = {
        current: 3,
        total: 10,
        percent: 30,
        message: 'three of ten',
        etaSeconds: null,
        updatedAt: now(),
      };
      const heard = within(
        new Promise<JobEvent>((resolve) => {
          const off = jobs.subscribe((event) => {
            if (event.type === 'progress' && event.jobId === job.id) {
              off();
              resolve(event);
            }
          });
        }),
        'the progress event',
      );
      jobs.reportProgress(job, progress);
      expect(await heard).toEqual({ type: 'progress', jobId: queued.id, task: 'echo', owner: 'ann', progress });
      expect((await jobs.get(job.id))?.progress).toBeNull();
    });

    test('appendLogs publishes the lines as stored, with their seq; with a lost lease, null and nothing published', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const queue = createQueue({ store, tasks });
      await queue.start('echo', { n: 1 }, { owner: 'bob' });
      const { job, lease } = await claim(jobs, 'echo');
      const logs: JobEvent[] = [];
      const off = jobs.subscribe((event) => {
        if (event.type === 'log' && event.jobId === job.id) logs.push(event);
      });
      const at = now();
      const lines: NewLogLine[] = [
        { stream: 'stdout', line: 'first', at },
        { stream: 'stderr', line: 'second', at },
      ];
      const stored = await jobs.appendLogs(job, lease, lines);
      expect(stored?.map((line) => [line.seq, line.stream, line.line])).toEqual([
        [1, 'stdout', 'first'],
        [2, 'stderr', 'second'],
      ]);
      expect(logs).toEqual(
        (stored ?? []).map((line) => ({ type: 'log', jobId: job.id, task: 'echo', owner: 'bob', ...line })),
      );
      expect(await jobs.readLogs(job.id)).toEqual(stored);

      // Another token: the lease is not this caller's.
      const stolen: Lease = { jobId: job.id, token: 'not-the-token' };
      expect(await jobs.appendLogs(job, stolen, [{ stream: 'stdout', line: 'not mine', at: now() }])).toBeNull();
      // The job's own lease, once the job has ended.
      await jobs.finish(lease, { status: 'succeeded', result: null });
      expect(await jobs.appendLogs(job, lease, [{ stream: 'stdout', line: 'too late', at: now() }])).toBeNull();

      // Events are delivered in this process as they are published: a marker published now is
      // heard after anything the refused appends could have published. It names another job: a
      // progress event of this one, ended, would be dropped as late (LateEvents).
      const markerJob = `marker-${job.id}`;
      const marker = within(
        new Promise<void>((resolve) => {
          const offMarker = jobs.subscribe((event) => {
            if (event.type === 'progress' && event.jobId === markerJob) {
              offMarker();
              resolve();
            }
          });
        }),
        'the marker event',
      );
      jobs.publish({
        type: 'progress',
        jobId: markerJob,
        task: 'echo',
        owner: 'bob',
        progress: { current: 1, total: 1, percent: 100, message: null, etaSeconds: null, updatedAt: now() },
      });
      await marker;
      off();
      expect(logs.map((event) => event.type === 'log' && event.line)).toEqual(['first', 'second']);
      expect((await jobs.readLogs(job.id)).map((line) => line.line)).toEqual(['first', 'second']);
    });

    test('status events are heard for the enqueue, the claim and the finish', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const queue = createQueue({ store, tasks });
      let id: string | undefined;
      const all: JobEvent[] = [];
      const offAll = jobs.subscribe((event) => all.push(event));
      const succeeded = within(
        new Promise<void>((resolve) => {
          const off = jobs.subscribe((event) => {
            if (event.type === 'status' && event.jobId === id && event.status === 'succeeded') {
              off();
              resolve();
            }
          });
        }),
        'the succeeded status event',
      );
      const { job } = await queue.start('echo', { n: 5 }, { owner: 'cy' });
      id = job.id;
      const { lease } = await claim(jobs, 'echo');
      await jobs.finish(lease, { status: 'succeeded', result: { n: 5 } });
      await succeeded;
      offAll();
      const statuses = all.filter((event) => event.type === 'status' && event.jobId === job.id);
      expect(statuses).toEqual([
        expect.objectContaining({
          type: 'status',
          task: 'echo',
          owner: 'cy',
          status: 'queued',
          cancelRequested: false,
        }),
        expect.objectContaining({ status: 'running', cancelRequested: false }),
        expect.objectContaining({ status: 'succeeded', result: { n: 5 } }),
      ]);
    });

    test("a job's progress or running heard after its end is dropped for listeners; log lines pass", async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const queue = createQueue({ store, tasks });
      const { job } = await queue.start('echo', { n: 6 });
      const { lease } = await claim(jobs, 'echo');
      await jobs.finish(lease, { status: 'succeeded', result: null });
      const heard: JobEvent[] = [];
      const raw: JobEvent[] = [];
      const offRaw = store.events.listen((event) => raw.push(event));
      const markerJob = `marker-${job.id}`;
      const marker = within(
        new Promise<void>((resolve) => {
          const off = jobs.subscribe((event) => {
            if (event.jobId === markerJob) {
              off();
              resolve();
            } else if (event.jobId === job.id) heard.push(event);
          });
        }),
        'the marker event',
      );
      const progress: JobProgress = {
        current: 1,
        total: 2,
        percent: 50,
        message: null,
        etaSeconds: null,
        updatedAt: now(),
      };
      // As they arrive on PostgreSQL when the claim's batched `running` and a last progress
      // overtake nothing but follow the finishing transaction's NOTIFY.
      const base = { jobId: job.id, task: 'echo', owner: null };
      store.events.send({ type: 'status', ...base, status: 'succeeded', cancelRequested: false, result: null });
      store.events.send({ type: 'status', ...base, status: 'running', cancelRequested: false });
      store.events.send({ type: 'progress', ...base, progress });
      store.events.send({ type: 'log', ...base, stream: 'stdout', line: 'last words', at: now(), seq: 1 });
      store.events.send({ type: 'progress', ...base, jobId: markerJob, progress });
      await marker;
      offRaw();
      expect(heard.map((event) => (event.type === 'status' ? event.status : event.type))).toEqual(['succeeded', 'log']);
      // The channel itself carries everything, in order: the rule is the layer's, for every backend.
      expect(raw.filter((event) => event.jobId === job.id).map((event) => event.type)).toEqual([
        'status',
        'status',
        'progress',
        'log',
      ]);
    });

    // 5. The queue, through the layer.

    test('queue.retry takes an already-read Job as well as an id', async () => {
      const store = await openStore();
      const jobs = Jobs.of(store);
      const queue = createQueue({ store, tasks });
      const { job } = await queue.start('echo', { n: 9 }, { owner: 'dee', maxAttempts: 2 });
      const { lease } = await claim(jobs, 'echo');
      await jobs.finish(lease, { status: 'failed', error: { code: 'TASK_ERROR', message: 'it broke' } });

      const read = await queue.get(job.id);
      if (!read) throw new Error('the failed job is gone');
      const fromObject = await queue.retry(read);
      expect(fromObject).toMatchObject({
        status: 'queued',
        task: 'echo',
        params: { n: 9 },
        owner: 'dee',
        maxAttempts: 2,
        retryOf: job.id,
        attempt: 0,
      });
      expect(fromObject.id).not.toBe(job.id);
      expect(await queue.get(fromObject.id)).toEqual(fromObject);

      const fromId = await queue.retry(job.id, { owner: 'eve' });
      expect(fromId).toMatchObject({ status: 'queued', params: { n: 9 }, owner: 'eve', retryOf: job.id });
      expect(fromId.id).not.toBe(fromObject.id);

      // The same rule either way: only a failed or cancelled job.
      await expect(queue.retry(fromObject)).rejects.toBeInstanceOf(ConflictError);
      await expect(queue.retry(fromObject.id)).rejects.toMatchObject({
        code: 'CONFLICT',
        message: expect.stringMatching(/Only a failed or cancelled job can be retried/),
      });
      await expect(queue.retry('no-such-job')).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: 'There is no job no-such-job.',
      });
    });
  });
}
