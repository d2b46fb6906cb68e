import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.ts';
import type { Job, JobError, JobProgress, Lease, Outcome } from '../src/core/job.ts';
import {
  type EnqueueInput,
  type JobEvent,
  type JobFilter,
  MAX_PROGRESS_SAMPLES,
  QUEUE_SAMPLES_KEPT_MS,
  type Store,
} from '../src/store/store.ts';
import { MAX_WEBHOOK_LOG, type RecordWebhookDeliveriesRequest } from '../src/store/webhook-deliveries.ts';
import { progressEvent } from './helpers/events.ts';

export interface StoreUnderTest {
  /** A fresh, migrated, empty store. */
  create(): Promise<Store>;
  /** Tests this backend skips, by name, each with the reason. */
  skip?: Readonly<Record<string, string>>;
}

const failure: JobError = { code: 'TASK_ERROR', message: 'it broke' };
const inOneHour = () => new Date(Date.now() + 3_600_000).toISOString();

/**
 * The one suite every Store passes, against the real database. Each backend's test file calls
 * `describeStore('sqlite', { create })`; a skip must say why.
 */
export function describeStore(name: string, backend: StoreUnderTest): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    const input = (over: Partial<EnqueueInput> = {}): EnqueueInput => ({
      task: 'demo',
      params: { n: 1 },
      maxAttempts: 3,
      ...over,
    });
    const enqueue = async (over: Partial<EnqueueInput> = {}) => (await store.enqueue(input(over))).job;
    const claimOne = async (tasks = ['demo'], leaseMs = 30_000) => {
      const [claimed] = await store.claim({ workerId: 'w1', tasks, limit: 1, leaseMs });
      if (!claimed) throw new Error('expected a claim');
      return claimed;
    };
    const test = (title: string, fn: () => Promise<void>) => {
      const reason = backend.skip?.[title];
      if (reason) it.skip(`${title} (skipped: ${reason})`, fn);
      else it(title, fn);
    };

    beforeEach(async () => {
      store = await backend.create();
    });
    afterEach(async () => {
      await store.close();
    });

    test('enqueue stores a queued job with every field', async () => {
      const job = await enqueue({ owner: 'ann', timeoutSeconds: 30 });
      expect(job).toMatchObject({
        task: 'demo',
        status: 'queued',
        params: { n: 1 },
        result: null,
        error: null,
        progress: null,
        attempt: 0,
        maxAttempts: 3,
        cancelRequested: false,
        owner: 'ann',
        timeoutSeconds: 30,
        priority: 0,
        startedAt: null,
        finishedAt: null,
        artifacts: [],
      });
      expect(job.id).toMatch(/^[A-Za-z0-9_-]{20,}$/);
      expect(Date.parse(job.createdAt)).not.toBeNaN();
      expect(await store.get(job.id)).toEqual(job);
      expect(await store.get('no-such-job')).toBeNull();
    });

    test('dedupe key returns the active job, and frees up once it is finished', async () => {
      const first = await store.enqueue(input({ dedupeKey: 'k' }));
      const second = await store.enqueue(input({ dedupeKey: 'k', params: { n: 2 } }));
      expect(first.created).toBe(true);
      expect(second).toEqual({ job: first.job, created: false });
      const { lease } = await claimOne();
      expect((await store.enqueue(input({ dedupeKey: 'k' }))).created).toBe(false);
      await store.finish(lease, { status: 'succeeded', result: 1 });
      const third = await store.enqueue(input({ dedupeKey: 'k' }));
      expect(third.created).toBe(true);
      expect(third.job.id).not.toBe(first.job.id);
    });

    test('enqueueMany adds jobs in order, each as enqueue would, with one queued event each', async () => {
      expect(await store.enqueueMany([])).toEqual([]);
      const events: JobEvent[] = [];
      const off = store.events.listen((event) => events.push(event));
      const later = inOneHour();
      const results = await store.enqueueMany([
        input({ params: { n: 1 }, owner: 'ann' }),
        input({ params: { n: 2 }, task: 'other', runAt: later }),
        input({ params: { n: 3 }, timeoutSeconds: 5, maxAttempts: 1 }),
      ]);
      off();
      expect(results.map((r) => r.created)).toEqual([true, true, true]);
      expect(results.map((r) => r.job.params)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(results[0]?.job).toMatchObject({ owner: 'ann', status: 'queued', attempt: 0, artifacts: [] });
      expect(results[1]?.job).toMatchObject({ task: 'other', runAt: new Date(later).toISOString() });
      expect(results[2]?.job).toMatchObject({ timeoutSeconds: 5, maxAttempts: 1 });
      for (const { job } of results) expect(await store.get(job.id)).toEqual(job);
      // Newest first, as in the order given.
      expect((await store.list()).jobs.map((j) => j.params)).toEqual([{ n: 3 }, { n: 2 }, { n: 1 }]);
      const queued = events.filter((e) => e.type === 'status' && e.status === 'queued').map((e) => e.jobId);
      expect(queued).toEqual(results.map((r) => r.job.id));
    });

    test('enqueueMany honours dedupe keys, against active jobs and within the batch', async () => {
      const held = await store.enqueue(input({ dedupeKey: 'held' }));
      const results = await store.enqueueMany([
        input({ dedupeKey: 'held', params: { n: 1 } }),
        input({ dedupeKey: 'fresh', params: { n: 2 } }),
        input({ dedupeKey: 'fresh', params: { n: 3 } }),
        input({ params: { n: 4 } }),
      ]);
      expect(results[0]).toEqual({ job: held.job, created: false });
      expect(results[1]?.created).toBe(true);
      expect(results[2]).toEqual({ job: results[1]?.job, created: false });
      expect(results[3]?.created).toBe(true);
      expect((await store.list()).jobs).toHaveLength(3);
    });

    test('a job with a later runAt is not claimed early, and nextRunAt names it', async () => {
      const at = inOneHour();
      await enqueue({ runAt: at });
      expect(await store.claim({ workerId: 'w', tasks: ['demo'], limit: 5, leaseMs: 1000 })).toEqual([]);
      expect(await store.nextRunAt(['demo'])).toBe(new Date(at).toISOString());
      expect(await store.nextRunAt(['other'])).toBeNull();
    });

    test('claim takes due jobs of the named tasks, oldest first, up to the limit', async () => {
      const a = await enqueue();
      const b = await enqueue();
      await enqueue({ task: 'other' });
      await enqueue();
      const claimed = await store.claim({ workerId: 'w1', tasks: ['demo'], limit: 2, leaseMs: 10_000 });
      expect(claimed.map((c) => c.job.id)).toEqual([a.id, b.id]);
      for (const { job, lease } of claimed) {
        expect(job).toMatchObject({ status: 'running', attempt: 1 });
        expect(job.startedAt).not.toBeNull();
        expect(lease.jobId).toBe(job.id);
        expect(lease.token.length).toBeGreaterThan(8);
      }
    });

    test('claim takes higher priority first, then the earliest runAt, then the order added; never a job not yet due', async () => {
      const low = await enqueue({ priority: -5 });
      const first = await enqueue();
      const second = await enqueue();
      const urgent = await enqueue({ priority: 10 });
      const urgentLater = await enqueue({ priority: 100, runAt: new Date(Date.now() + 3_600_000).toISOString() });
      const [batchA, batchB] = await store.enqueueMany([input({ priority: 10 }), input({ priority: 1 })]);
      expect([urgent.priority, low.priority, batchA?.job.priority, batchB?.job.priority]).toEqual([10, -5, 10, 1]);
      const claimed = await store.claim({ workerId: 'w1', tasks: ['demo'], limit: 10, leaseMs: 10_000 });
      expect(claimed.map((c) => c.job.id)).toEqual([
        urgent.id,
        batchA?.job.id,
        batchB?.job.id,
        first.id,
        second.id,
        low.id,
      ]);
      // Not due for an hour: its priority does not bring it forward.
      expect((await store.get(urgentLater.id))?.status).toBe('queued');
      expect(await store.nextRunAt(['demo'])).toBe(urgentLater.runAt);
    });

    test('a paused task is not claimed nor waited for; the first pause holds; resume ends it', async () => {
      const held = await enqueue();
      const free = await enqueue({ task: 'other' });
      const first = await store.pause({ kind: 'task', name: 'demo', by: 'ann', reason: 'disk swap' });
      expect(first).toMatchObject({ kind: 'task', name: 'demo', by: 'ann', reason: 'disk swap' });
      expect(Date.parse(first.at)).not.toBeNaN();
      // Pausing again keeps who paused it first, and when.
      expect(await store.pause({ kind: 'task', name: 'demo', by: 'bob', reason: null })).toEqual(first);
      expect(await store.listPauses()).toEqual([first]);
      const claimed = await store.claim({ workerId: 'w1', tasks: ['demo', 'other'], limit: 10, leaseMs: 10_000 });
      expect(claimed.map((c) => c.job.id)).toEqual([free.id]);
      expect(await store.nextRunAt(['demo'])).toBeNull();
      expect(await store.resume({ kind: 'task', name: 'demo' })).toBe(true);
      expect(await store.resume({ kind: 'task', name: 'demo' })).toBe(false);
      expect(await store.listPauses()).toEqual([]);
      expect(await store.nextRunAt(['demo'])).toBe(held.runAt);
      expect((await claimOne()).job.id).toBe(held.id);
    });

    test('a paused queue is claimed by neither claim, of any task, nor waited for; resume ends it', async () => {
      const held = await enqueue({ queue: 'exports' });
      const sibling = await enqueue({ task: 'other', queue: 'exports' });
      const free = await enqueue({ task: 'other' });
      const pause = await store.pause({ kind: 'queue', name: 'exports', by: 'ann', reason: 'quota' });
      expect(pause).toMatchObject({ kind: 'queue', name: 'exports', by: 'ann', reason: 'quota' });
      expect(await store.listPauses()).toEqual([pause]);
      const tasks = ['demo', 'other'];
      const limits = [{ queue: 'exports', concurrency: 5, perKey: null, rate: null, ratePerKey: null }];
      const claimLimited = (limit: number) =>
        store.claimLimited({ workerId: 'w1', tasks, limits, limit, leaseMs: 10_000 });
      expect((await store.claim({ workerId: 'w1', tasks, limit: 10, leaseMs: 10_000 })).map((c) => c.job.id)).toEqual([
        free.id,
      ]);
      expect(await claimLimited(10)).toEqual([]);
      expect(await store.nextRunAt(tasks)).toBeNull();
      expect(await store.resume({ kind: 'queue', name: 'exports' })).toBe(true);
      expect(await store.resume({ kind: 'queue', name: 'exports' })).toBe(false);
      expect(await store.nextRunAt(tasks)).toBe(held.runAt);
      expect((await claimLimited(1)).map((c) => c.job.id)).toEqual([held.id]);
      expect((await store.claim({ workerId: 'w1', tasks, limit: 10, leaseMs: 10_000 })).map((c) => c.job.id)).toEqual([
        sibling.id,
      ]);
    });

    test("a task's pause and its queue's are separate: resuming the task leaves the queue paused", async () => {
      // The task and its queue share the name "demo": only the kind tells the pauses apart.
      const job = await enqueue();
      await store.pause({ kind: 'task', name: 'demo' });
      await store.pause({ kind: 'queue', name: 'demo' });
      expect((await store.listPauses()).map((p) => `${p.kind} ${p.name}`).sort()).toEqual(['queue demo', 'task demo']);
      expect(await store.resume({ kind: 'task', name: 'demo' })).toBe(true);
      expect(await store.listPauses()).toMatchObject([{ kind: 'queue', name: 'demo' }]);
      expect(await store.claim({ workerId: 'w1', tasks: ['demo'], limit: 10, leaseMs: 10_000 })).toEqual([]);
      expect(await store.nextRunAt(['demo'])).toBeNull();
      expect(await store.resume({ kind: 'queue', name: 'demo' })).toBe(true);
      expect((await claimOne()).job.id).toBe(job.id);
    });

    test('schedules: saved by name, nextAt kept unless the timing changes, removed', async () => {
      const base = {
        name: 'nightly',
        task: 'demo',
        cron: '0 3 * * *',
        everySeconds: null,
        timezone: 'Europe/Paris',
        params: { n: 1 },
        owner: 'ops',
        priority: 2,
        catchUpSeconds: 60,
        nextAt: '2026-12-02T02:00:00.000Z',
        source: 'config' as const,
        createdBy: null,
      };
      const saved = await store.saveSchedule(base);
      expect(saved).toMatchObject({ ...base, lastTickAt: null });
      expect(Date.parse(saved.createdAt)).not.toBeNaN();
      // Saved again by a restarting process with a later nextAt: a due tick is not moved away.
      const again = await store.saveSchedule({ ...base, params: { n: 2 }, nextAt: '2026-12-03T02:00:00.000Z' });
      expect(again).toMatchObject({ params: { n: 2 }, nextAt: base.nextAt });
      // Its timing changed: the new nextAt counts.
      const moved = await store.saveSchedule({ ...base, cron: '0 4 * * *', nextAt: '2026-12-02T03:00:00.000Z' });
      expect(moved.nextAt).toBe('2026-12-02T03:00:00.000Z');
      const interval = await store.saveSchedule({
        ...base,
        name: 'often',
        cron: null,
        everySeconds: 5,
        timezone: null,
        source: 'runtime',
        createdBy: 'ann',
      });
      expect(interval).toMatchObject({ everySeconds: 5, cron: null, source: 'runtime', createdBy: 'ann' });
      expect((await store.listSchedules()).map((schedule) => schedule.name)).toEqual(['nightly', 'often']);
      expect(await store.removeSchedule('often')).toBe(true);
      expect(await store.removeSchedule('often')).toBe(false);
      expect((await store.listSchedules()).map((schedule) => schedule.name)).toEqual(['nightly']);
    });

    test("fireSchedule adds a tick's jobs exactly once: of racing firers one wins, the others write nothing", async () => {
      const tick = '2026-12-01T10:00:00.000Z';
      await store.saveSchedule({
        name: 'every-second',
        task: 'demo',
        cron: null,
        everySeconds: 1,
        timezone: null,
        params: { n: 1 },
        owner: null,
        priority: 0,
        catchUpSeconds: 60,
        nextAt: tick,
        source: 'runtime',
        createdBy: null,
      });
      const fire = () =>
        store.fireSchedule({
          name: 'every-second',
          expectedNextAt: tick,
          nextAt: '2026-12-01T10:00:01.000Z',
          lastTickAt: tick,
          jobs: [input({ dedupeKey: `schedule:every-second:${tick}` })],
        });
      const results = await Promise.all([fire(), fire(), fire(), fire()]);
      const winners = results.filter((jobs) => jobs !== null);
      expect(winners).toHaveLength(1);
      expect(winners[0]?.map((job) => job.dedupeKey)).toEqual([`schedule:every-second:${tick}`]);
      const page = await store.list({ task: 'demo' });
      expect(page.jobs).toHaveLength(1);
      const [schedule] = await store.listSchedules();
      expect(schedule).toMatchObject({ nextAt: '2026-12-01T10:00:01.000Z', lastTickAt: tick });
      // A firer that read the schedule before a removal writes nothing either.
      await store.removeSchedule('every-second');
      expect(await fire()).toBeNull();
      expect((await store.list({ task: 'demo' })).jobs).toHaveLength(1);
    });

    test("a limited claim takes only jobs that fit the queue's limit and each key's, counting every running job", async () => {
      const limits = [{ queue: 'demo', concurrency: 3, perKey: 1, rate: null, ratePerKey: null }];
      const claimLimited = (limit: number, workerId = 'w1') =>
        store.claimLimited({ workerId, tasks: ['demo'], limits, limit, leaseMs: 10_000 });
      const a1 = await enqueue({ concurrencyKey: 'a' });
      const a2 = await enqueue({ concurrencyKey: 'a' });
      const b1 = await enqueue({ concurrencyKey: 'b' });
      const none1 = await enqueue();
      const none2 = await enqueue();
      expect([a1.queue, a1.concurrencyKey, none1.concurrencyKey]).toEqual(['demo', 'a', null]);
      // Key a holds one place, so its second job waits; the queue's third place goes to a keyless job.
      const first = await claimLimited(10);
      expect(first.map((c) => c.job.id)).toEqual([a1.id, b1.id, none1.id]);
      expect(await claimLimited(10, 'w2')).toEqual([]);
      // A place frees (a1 ends): a2 may run now, the queue being at 2 of 3.
      await store.finish(first[0]?.lease as Lease, { status: 'succeeded', result: null });
      expect((await claimLimited(10, 'w2')).map((c) => c.job.id)).toEqual([a2.id]);
      expect(await claimLimited(10, 'w3')).toEqual([]);
      expect((await store.get(none2.id))?.status).toBe('queued');
    });

    test('a rate-limited queue starts at most its rate in a window, whether the jobs still run or not', async () => {
      const limits = [
        { queue: 'demo', concurrency: null, perKey: null, rate: { starts: 2, perSeconds: 60 }, ratePerKey: null },
      ];
      for (let i = 0; i < 5; i++) await enqueue();
      const claimLimited = () =>
        store.claimLimited({ workerId: 'w1', tasks: ['demo'], limits, limit: 10, leaseMs: 10_000 });
      const first = await claimLimited();
      expect(first).toHaveLength(2);
      for (const { lease } of first) await store.finish(lease, { status: 'succeeded', result: null });
      // Ended, they still count: they started within the minute.
      expect(await claimLimited()).toEqual([]);
      expect((await store.list({ status: 'queued' })).jobs).toHaveLength(3);
    });

    test('a per-key rate starts at most its rate per key in a window; jobs without a key are not held by it', async () => {
      const limits = [
        { queue: 'demo', concurrency: null, perKey: null, rate: null, ratePerKey: { starts: 2, perSeconds: 60 } },
      ];
      const claimLimited = () =>
        store.claimLimited({ workerId: 'w1', tasks: ['demo'], limits, limit: 10, leaseMs: 10_000 });
      const a1 = await enqueue({ concurrencyKey: 'a' });
      const a2 = await enqueue({ concurrencyKey: 'a' });
      const a3 = await enqueue({ concurrencyKey: 'a' });
      const b1 = await enqueue({ concurrencyKey: 'b' });
      const none1 = await enqueue();
      const none2 = await enqueue();
      const first = await claimLimited();
      expect(first.map((c) => c.job.id)).toEqual([a1.id, a2.id, b1.id, none1.id, none2.id]);
      for (const { lease } of first) await store.finish(lease, { status: 'succeeded', result: null });
      // Ended, a's two starts still count within the minute; b and keyless jobs go on.
      const b2 = await enqueue({ concurrencyKey: 'b' });
      const none3 = await enqueue();
      expect((await claimLimited()).map((c) => c.job.id)).toEqual([b2.id, none3.id]);
      expect((await store.get(a3.id))?.status).toBe('queued');
    });

    test("queueUsage counts a queue's due, running and started jobs, with a key and without, paused or not", async () => {
      const running = await enqueue({ concurrencyKey: 'a' });
      const ended = await enqueue({ concurrencyKey: 'b' });
      const oldestDue = await enqueue();
      await enqueue({ concurrencyKey: 'a' });
      await enqueue({ concurrencyKey: 'a', runAt: inOneHour() }); // not due
      await enqueue({ task: 'other' }); // another queue
      expect((await claimOne()).job.id).toBe(running.id);
      const second = await claimOne();
      expect(second.job.id).toBe(ended.id);
      await store.finish(second.lease, { status: 'succeeded', result: null });
      await store.pause({ kind: 'queue', name: 'demo' });
      const usage = (key: string | null, rateSeconds: number | null, keyRateSeconds: number | null) =>
        store.queueUsage({ queue: 'demo', key, rateSeconds, keyRateSeconds });
      expect(await usage('a', 60, 60)).toEqual({
        due: 2,
        running: 1,
        runningWithKey: 1,
        startedInWindow: 2,
        startedWithKeyInWindow: 1,
        oldestDueAt: oldestDue.runAt,
      });
      expect(await usage('b', null, 60)).toMatchObject({
        runningWithKey: 0,
        startedInWindow: 0,
        startedWithKeyInWindow: 1,
      });
      expect(await usage('a', 60, null)).toMatchObject({ startedInWindow: 2, startedWithKeyInWindow: 0 });
      expect(await usage(null, null, 60)).toMatchObject({
        due: 2,
        running: 1,
        runningWithKey: 0,
        startedWithKeyInWindow: 0,
      });
      expect(await store.queueUsage({ queue: 'none', key: 'a', rateSeconds: 60, keyRateSeconds: 60 })).toEqual({
        due: 0,
        running: 0,
        runningWithKey: 0,
        startedInWindow: 0,
        startedWithKeyInWindow: 0,
        oldestDueAt: null,
      });
    });

    test('stats counts attempts started, jobs succeeded and failed per bucket, and run-time percentiles per task', async () => {
      const since = new Date(Date.now() - 3_600_000).toISOString();
      const until = new Date(Date.now() + 60_000).toISOString();
      for (let i = 0; i < 5; i++) await enqueue();
      await enqueue({ task: 'other' });
      const cancelledQueued = await enqueue({ task: 'other' });
      await store.requestCancel(cancelledQueued.id); // ended, never started: in no count
      // Three attempts claimed together, ended ≥ 30 ms apart: their run times are in that order.
      const three = await store.claim({ workerId: 'w1', tasks: ['demo'], limit: 3, leaseMs: 30_000 });
      expect(three).toHaveLength(3);
      const pause = () => new Promise((resolve) => setTimeout(resolve, 30));
      await store.finish(three[0]?.lease as Lease, { status: 'succeeded', result: 1 });
      await pause();
      await store.finish(three[1]?.lease as Lease, { status: 'failed', error: failure });
      await pause();
      await store.finish(three[2]?.lease as Lease, { status: 'succeeded', result: 3 });
      await claimOne(); // still running: started, not ended
      const other = await claimOne(['other']);
      await store.finish(other.lease, { status: 'succeeded', result: null });

      // One bucket wide enough for everything.
      const whole = await store.stats({ since, until, bucketMs: 2 * 3_600_000 });
      expect(whole.buckets).toEqual([{ at: since, started: 5, succeeded: 3, failed: 1 }]);
      const [demo, others] = whole.runTimes;
      expect(whole.runTimes.map((r) => [r.task, r.count])).toEqual([
        ['demo', 3],
        ['other', 1],
      ]);
      // Nearest rank of 3: p50 is the 2nd, p95 and p99 the 3rd.
      expect(demo?.p50).toBeGreaterThanOrEqual(30);
      expect(demo?.p95).toBeGreaterThanOrEqual((demo?.p50 ?? 0) + 30);
      expect(demo?.p99).toBe(demo?.p95);
      expect(others?.p50).toBe(others?.p99);

      // Minute buckets: the same sums, each bucket at since + n minutes, oldest first.
      const minutes = await store.stats({ since, until, bucketMs: 60_000 });
      const sum = (key: 'started' | 'succeeded' | 'failed') => minutes.buckets.reduce((n, b) => n + b[key], 0);
      expect([sum('started'), sum('succeeded'), sum('failed')]).toEqual([5, 3, 1]);
      for (const bucket of minutes.buckets) expect((Date.parse(bucket.at) - Date.parse(since)) % 60_000).toBe(0);
      const times = minutes.buckets.map((b) => Date.parse(b.at));
      expect(times).toEqual([...times].sort((a, b) => a - b));

      // A window with nothing in it.
      expect(await store.stats({ since: until, until: inOneHour(), bucketMs: 60_000 })).toEqual({
        buckets: [],
        runTimes: [],
      });
    });

    test('the workers registry: touched rows with what each runs, removed and pruned', async () => {
      const startedAt = new Date(Date.now() - 5_000).toISOString();
      const info = (id: string) => ({
        id,
        host: 'box',
        pid: 42,
        concurrency: 4,
        tasks: ['demo', 'other'],
        beatMs: 10_000,
        startedAt,
      });
      const before = Date.now();
      await store.touchWorker(info('w1'));
      await store.touchWorker(info('w2'));
      await enqueue();
      const claimed = await claimOne(); // by w1
      const [w1, w2] = await store.workers();
      expect(w1).toMatchObject({ ...info('w1'), running: [{ id: claimed.job.id, task: 'demo' }] });
      expect(w1?.running[0]?.startedAt).toBe((await store.get(claimed.job.id))?.startedAt);
      expect(w2).toMatchObject({ ...info('w2'), running: [] });
      expect(Date.parse(w1?.seenAt ?? '')).toBeGreaterThanOrEqual(before - 1_000);

      await store.touchWorker({ ...info('w1'), concurrency: 8 }); // an upsert, not a second row
      const again = await store.workers();
      expect(again.map((w) => [w.id, w.concurrency])).toEqual([
        ['w1', 8],
        ['w2', 4],
      ]);
      expect(Date.parse(again[0]?.seenAt ?? '')).toBeGreaterThanOrEqual(Date.parse(w1?.seenAt ?? ''));

      expect(await store.removeWorker('w2')).toBe(true);
      expect(await store.removeWorker('w2')).toBe(false);
      expect(await store.pruneWorkers(new Date(before - 60_000).toISOString())).toBe(0);
      expect(await store.pruneWorkers(new Date(Date.now() + 60_000).toISOString())).toBe(1);
      expect(await store.workers()).toEqual([]);
    });

    test('limited claims racing for the last places never go over the limit', async () => {
      const limits = [{ queue: 'demo', concurrency: 2, perKey: null, rate: null, ratePerKey: null }];
      for (let i = 0; i < 12; i++) await enqueue();
      const claims = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          store.claimLimited({ workerId: `w${i}`, tasks: ['demo'], limits, limit: 5, leaseMs: 10_000 }),
        ),
      );
      expect(claims.flat()).toHaveLength(2);
      expect(new Set(claims.flat().map((c) => c.job.id)).size).toBe(2);
      // A plain claim knows no limits: the caller (the worker) claims limited queues only with claimLimited.
      expect((await store.list({ status: 'running' })).jobs).toHaveLength(2);
    });

    test('concurrent claims never hand out the same job twice', async () => {
      for (let i = 0; i < 30; i++) await enqueue();
      const rounds = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.claim({ workerId: `w${i}`, tasks: ['demo'], limit: 5, leaseMs: 10_000 }),
        ),
      );
      const ids = rounds.flat().map((c) => c.job.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(30);
    });

    test('heartbeat renews held leases and reports cancel requests', async () => {
      await enqueue();
      const a = await claimOne();
      await enqueue();
      const b = await claimOne();
      await store.requestCancel(b.job.id);
      const stale: Lease = { jobId: a.job.id, token: 'not-the-token' };
      expect(await store.heartbeat([a.lease, b.lease, stale], 10_000)).toEqual([
        { jobId: a.job.id, held: true, cancelRequested: false },
        { jobId: b.job.id, held: true, cancelRequested: true },
        { jobId: a.job.id, held: false, cancelRequested: false },
      ]);
    });

    test('progress is saved only under the current lease', async () => {
      await enqueue();
      const { job, lease } = await claimOne();
      const progress = {
        current: 3,
        total: 40,
        percent: 7.5,
        message: 'Zipping',
        etaSeconds: 52,
        updatedAt: new Date().toISOString(),
      };
      expect(await store.saveProgress(lease, progress)).toBe(true);
      expect((await store.get(job.id))?.progress).toEqual(progress);
      expect(await store.saveProgress({ ...lease, token: 'x' }, { ...progress, current: 4 })).toBe(false);
      expect((await store.get(job.id))?.progress?.current).toBe(3);
    });

    test("progress samples: appended only when asked, fenced, marked with the attempt, halved when full; a waiting parent's too", async () => {
      await enqueue({ maxAttempts: 2 });
      const first = await claimOne();
      const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
      const progress = (current: number, ms: number, total: number | null = 400): JobProgress => ({
        current,
        total,
        percent: total === null ? null : (current / total) * 100,
        message: null,
        etaSeconds: null,
        updatedAt: at(ms),
      });
      expect(await store.saveProgress(first.lease, progress(1, 0))).toBe(true);
      expect(await store.progressSamples(first.job.id)).toEqual([]);
      expect(await store.saveProgress(first.lease, progress(2, 1_000), true)).toBe(true);
      expect(await store.saveProgress({ ...first.lease, token: 'x' }, progress(3, 2_000), true)).toBe(false);
      expect(await store.progressSamples(first.job.id)).toEqual([
        { at: at(1_000), current: 2, total: 400, attempt: 1 },
      ]);
      await store.finish(first.lease, { status: 'retry', error: failure, runAt: new Date().toISOString() });
      const second = await claimOne();
      // Up to the cap, every sample is kept; the next one halves the older ones first.
      for (let i = 1; i < MAX_PROGRESS_SAMPLES; i++) {
        expect(await store.saveProgress(second.lease, progress(i, 1_000 + i * 1_000, null), true)).toBe(true);
      }
      const full = await store.progressSamples(first.job.id);
      expect(full).toHaveLength(MAX_PROGRESS_SAMPLES);
      expect(full.at(-1)).toEqual({ at: at(MAX_PROGRESS_SAMPLES * 1_000), current: 199, total: null, attempt: 2 });
      await store.saveProgress(second.lease, progress(500, 999_000, null), true);
      const halved = await store.progressSamples(first.job.id);
      expect(halved).toHaveLength(MAX_PROGRESS_SAMPLES / 2 + 1);
      expect(halved[0]).toEqual(full[0]);
      expect(halved[1]).toEqual(full[2]);
      expect(halved.at(-1)).toMatchObject({ current: 500, attempt: 2 });
      expect(await store.progressSamples('no-such-job')).toEqual([]);
      // A parent asleep for its children (queued) saves their progress as a sample too.
      if (store.saveWaitingProgress) {
        const parent = await enqueue();
        expect(await store.saveWaitingProgress(parent.id, progress(3, 5_000, 8))).toBe(true);
        expect(await store.progressSamples(parent.id)).toEqual([{ at: at(5_000), current: 3, total: 8, attempt: 0 }]);
      }
      // Claims, lists and gets never carry the samples.
      expect(Object.keys((await store.get(first.job.id)) ?? {})).not.toContain('progressSamples');
    });

    test('a claim says whether the job has recorded steps, so an attempt reads them only then', async () => {
      await enqueue();
      const first = await claimOne();
      expect(first.stepsRecorded).toBe(false);
      expect(await store.recordStep(first.lease, { name: 'list', result: [1], progress: null })).toBe(true);
      await store.finish(first.lease, { status: 'retry', error: failure, runAt: new Date().toISOString() });
      expect((await claimOne()).stepsRecorded).toBe(true);
    });

    test('log lines carry the attempt that printed them', async () => {
      const job = await enqueue({ maxAttempts: 2 });
      const at = new Date().toISOString();
      await store.appendLogs(job.id, [{ stream: 'system', line: 'before any attempt', at }]);
      const first = await claimOne();
      expect(await store.appendLogs(first.lease, [{ stream: 'stdout', line: 'one', at }])).toMatchObject([
        { seq: 2, attempt: 1 },
      ]);
      await store.finish(first.lease, { status: 'retry', error: failure, runAt: new Date().toISOString() });
      const second = await claimOne();
      await store.appendLogs(second.lease, [{ stream: 'stdout', line: 'two', at }]);
      expect(await store.appendLogs(first.lease, [{ stream: 'stdout', line: 'late', at }])).toBeNull();
      expect((await store.readLogs(job.id)).map((l) => [l.line, l.attempt])).toEqual([
        ['before any attempt', 0],
        ['one', 1],
        ['two', 2],
      ]);
    });

    test('queue samples: one per minute whoever asks, due and running per queue and in all, old ones dropped', async () => {
      await enqueue({ task: 'a', queue: 'files' });
      await enqueue({ task: 'a', queue: 'files' });
      await enqueue({ task: 'b' });
      await enqueue({ task: 'b', runAt: inOneHour() });
      await claimOne(['b']);
      const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
      const [one, two] = await Promise.all([store.sampleQueues(minute), store.sampleQueues(minute)]);
      expect([one, two].filter(Boolean)).toHaveLength(1);
      await enqueue({ task: 'b' }); // after the sample: the minute keeps what it saw
      expect(await store.sampleQueues(minute)).toBe(false);
      const until = new Date(Date.parse(minute) + 60_000).toISOString();
      expect(await store.queueSamples(minute, until)).toEqual([
        { at: minute, queue: '*', due: 2, running: 1 },
        { at: minute, queue: 'b', due: 0, running: 1 },
        { at: minute, queue: 'files', due: 2, running: 0 },
      ]);
      const old = new Date(Date.now() - QUEUE_SAMPLES_KEPT_MS - 120_000).toISOString();
      expect(await store.sampleQueues(old)).toBe(true);
      expect(await store.queueSamples(old, minute)).toHaveLength(3);
      const next = new Date(Date.parse(minute) + 60_000).toISOString();
      expect(await store.sampleQueues(next)).toBe(true);
      expect(await store.queueSamples(old, minute)).toEqual([]);
    });

    test('finish is fenced: a finished job never changes again', async () => {
      await enqueue();
      const { job, lease } = await claimOne();
      expect(await store.finish({ ...lease, token: 'wrong' }, { status: 'succeeded', result: 0 })).toBeNull();
      const done = await store.finish(lease, { status: 'succeeded', result: { files: 3 } });
      expect(done).toMatchObject({ status: 'succeeded', result: { files: 3 }, error: null });
      expect(done?.finishedAt).not.toBeNull();
      expect(await store.finish(lease, { status: 'failed', error: failure })).toBeNull();
      expect(await store.release(lease)).toBeNull();
      expect(await store.requestCancel(job.id)).toEqual({ job: done, changed: false });
      expect(
        await store.saveProgress(lease, {
          current: 1,
          total: 1,
          percent: 100,
          message: null,
          etaSeconds: 0,
          updatedAt: new Date().toISOString(),
        }),
      ).toBe(false);
      expect(await store.get(job.id)).toEqual(done);
    });

    test('failed and cancelled outcomes keep their error', async () => {
      await enqueue();
      const a = await claimOne();
      expect(await store.finish(a.lease, { status: 'failed', error: failure })).toMatchObject({
        status: 'failed',
        error: failure,
      });
      await enqueue();
      const b = await claimOne();
      const cancelled: JobError = { code: 'CANCELLED', message: 'Cancelled.' };
      expect(await store.finish(b.lease, { status: 'cancelled', error: cancelled })).toMatchObject({
        status: 'cancelled',
        error: cancelled,
      });
    });

    test('retry sends the job back to the queue for a later attempt', async () => {
      await enqueue();
      const first = await claimOne();
      const runAt = new Date(Date.now() - 1).toISOString();
      const requeued = await store.finish(first.lease, { status: 'retry', error: failure, runAt });
      expect(requeued).toMatchObject({ status: 'queued', attempt: 1, error: failure, finishedAt: null });
      const second = await claimOne();
      expect(second.job).toMatchObject({ id: first.job.id, attempt: 2, status: 'running' });
      expect(await store.finish(first.lease, { status: 'succeeded', result: 1 })).toBeNull();
    });

    test('a retry of a job whose cancel was asked ends it cancelled', async () => {
      await enqueue();
      const { job, lease } = await claimOne();
      await store.requestCancel(job.id);
      const ended = await store.finish(lease, { status: 'retry', error: failure, runAt: new Date().toISOString() });
      expect(ended?.status).toBe('cancelled');
    });

    test('release hands a running job back without counting the attempt', async () => {
      await enqueue();
      const { job, lease } = await claimOne();
      expect(await store.release(lease)).toMatchObject({ status: 'queued', attempt: 0 });
      expect(await store.get(job.id)).toMatchObject({ status: 'queued', attempt: 0 });
      expect((await claimOne()).job.attempt).toBe(1);
    });

    test('attempt history: a retried job keeps the first attempt and its error; a first-time success has none', async () => {
      const job = await enqueue();
      const first = await claimOne();
      const before = Date.now();
      const runAt = new Date(Date.now() - 1).toISOString();
      const error: JobError = { code: 'TASK_ERROR', message: 'first <img src=x onerror=alert(1)>', detail: 'at x:1' };
      const requeued = await store.finish(first.lease, { status: 'retry', error, runAt });
      const record = {
        attempt: 1,
        workerId: 'w1',
        startedAt: first.job.startedAt,
        outcome: 'retry',
        runAt,
        error: { code: 'TASK_ERROR', message: error.message }, // the detail (stack) is not kept
      };
      expect(requeued?.attempts).toEqual([{ ...record, endedAt: expect.any(String) }]);
      const endedAt = Date.parse(requeued?.attempts[0]?.endedAt ?? '');
      expect(endedAt).toBeGreaterThanOrEqual(before - 1_000); // PostgreSQL's clock, not this process's
      expect(endedAt).toBeLessThanOrEqual(Date.now() + 1_000);
      const second = await claimOne();
      const done = await store.finish(second.lease, { status: 'succeeded', result: 2 });
      // The final attempt is the row itself: its start, end and worker.
      expect(done).toMatchObject({ status: 'succeeded', attempt: 2, workerId: 'w1', error: null });
      expect(done?.attempts).toEqual(requeued?.attempts);
      expect(await store.get(job.id)).toEqual(done);

      const easy = await enqueue();
      const only = await claimOne();
      expect(await store.finish(only.lease, { status: 'succeeded', result: 1 })).toMatchObject({
        id: easy.id,
        attempts: [],
        workerId: 'w1',
      });
      expect((await store.get(easy.id))?.attempts).toEqual([]);
    });

    test('attempt history: a reaped stall and a release are recorded; a stall that ends the job is the row', async () => {
      const job = await enqueue({ maxAttempts: 2 });
      const released = await claimOne();
      const handedBack = await store.release(released.lease);
      expect(handedBack?.attempts).toMatchObject([{ attempt: 1, workerId: 'w1', outcome: 'released', error: null }]);
      const first = await claimOne(['demo'], 60_000);
      expect(first.job.attempt).toBe(1); // the release did not count
      await store.heartbeat([first.lease], -1_000);
      const [reaped] = await store.reapExpiredLeases();
      expect(reaped).toMatchObject({ id: job.id, status: 'queued' });
      expect(reaped?.attempts).toEqual([
        expect.objectContaining({ outcome: 'released' }),
        {
          attempt: 1,
          workerId: 'w1',
          startedAt: first.job.startedAt,
          endedAt: expect.any(String),
          outcome: 'stalled',
          runAt: expect.any(String),
          error: { code: 'STALLED', message: expect.stringMatching(/attempt 1 stopped responding/) },
        },
      ]);
      const second = await claimOne(['demo'], 60_000);
      await store.heartbeat([second.lease], -1_000);
      const [failed] = await store.reapExpiredLeases();
      expect(failed).toMatchObject({ status: 'failed', attempt: 2, error: { code: 'STALLED' } });
      expect(failed?.attempts).toHaveLength(2);
    });

    test('attempt history keeps the last 50 attempts', async () => {
      const job = await enqueue({ maxAttempts: 100 });
      const past = new Date(Date.now() - 1).toISOString();
      for (let i = 1; i <= 52; i++) {
        const { lease } = await claimOne();
        await store.finish(lease, { status: 'retry', error: { code: 'TASK_ERROR', message: `try ${i}` }, runAt: past });
      }
      const attempts = (await store.get(job.id))?.attempts ?? [];
      expect(attempts).toHaveLength(50);
      expect(attempts.map((a) => a.attempt)).toEqual(Array.from({ length: 50 }, (_, i) => i + 3));
      expect(attempts.at(-1)?.error?.message).toBe('try 52');
    });

    test('cancel: a queued job ends at once, a running one is asked, an unknown one is null', async () => {
      const queued = await enqueue();
      const cancelled = await store.requestCancel(queued.id);
      expect(cancelled).toMatchObject({
        job: { status: 'cancelled', cancelRequested: true, error: { code: 'CANCELLED' } },
        changed: true,
      });
      expect(cancelled?.job.finishedAt).not.toBeNull();
      expect(await store.requestCancel(queued.id)).toMatchObject({ job: { status: 'cancelled' }, changed: false });
      await enqueue();
      const { job } = await claimOne();
      const asked = await store.requestCancel(job.id);
      expect(asked).toMatchObject({ job: { status: 'running', cancelRequested: true }, changed: true });
      // Asked again: nothing changes, and nobody else is told.
      expect(await store.requestCancel(job.id)).toMatchObject({ job: { status: 'running' }, changed: false });
      expect(await store.requestCancel('nope')).toBeNull();
    });

    test('list: newest first, filtered, paged by cursor without gaps or repeats', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++)
        ids.push((await enqueue({ task: i % 2 ? 'odd' : 'even', owner: i < 3 ? 'ann' : 'bob' })).id);
      const all: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await store.list({ limit: 3, cursor });
        expect(page.jobs.length).toBeLessThanOrEqual(3);
        all.push(...page.jobs.map((j) => j.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(all).toEqual([...ids].reverse());
      expect((await store.list({ task: 'odd' })).jobs.map((j) => j.id)).toEqual([ids[5], ids[3], ids[1]]);
      expect((await store.list({ owner: 'ann' })).jobs).toHaveLength(3);
      expect((await store.list({ status: 'running' })).jobs).toHaveLength(0);
      expect((await store.list({ status: ['queued', 'running'] })).jobs).toHaveLength(7);
      expect((await store.list({ limit: 7 })).nextCursor).toBeNull();
      await expect(store.list({ cursor: 'garbage' })).rejects.toBeInstanceOf(ValidationError);
    });

    test('list: a search finds jobs by the start of their id or by text in their params, any case', async () => {
      const report = await enqueue({ task: 'search', params: { title: 'Q3 Numbers', ratio: '50%' } });
      const other = await enqueue({ task: 'search', params: { title: 'Q4 summary', ratio: '50 of 70' } });
      const ids = async (search: string, more: JobFilter = {}) =>
        (await store.list({ task: 'search', search, ...more })).jobs.map((job) => job.id);
      expect(await ids('q3 numbers')).toEqual([report.id]);
      expect(await ids(report.id.slice(0, 8))).toEqual([report.id]);
      expect(await ids('Q')).toEqual([other.id, report.id]);
      // % and _ are themselves, not wildcards.
      expect(await ids('50%')).toEqual([report.id]);
      expect(await ids('Q_')).toEqual([]);
      expect(await ids('summary', { owner: 'nobody' })).toEqual([]);
      expect(await ids('no such text')).toEqual([]);
    });

    test('counts jobs by task and status', async () => {
      await enqueue();
      await enqueue();
      await enqueue({ task: 'other' });
      await claimOne();
      const counts = await store.counts();
      expect(counts).toEqual(
        expect.arrayContaining([
          { task: 'demo', status: 'queued', count: 1 },
          { task: 'demo', status: 'running', count: 1 },
          { task: 'other', status: 'queued', count: 1 },
        ]),
      );
      expect(counts).toHaveLength(3);
    });

    test('remove forgets only finished jobs, with their logs and artifacts', async () => {
      const queued = await enqueue();
      expect(await store.remove(queued.id)).toBe('unfinished');
      const { job, lease } = await claimOne();
      expect(await store.remove(job.id)).toBe('unfinished');
      await store.appendLogs(job.id, [{ stream: 'stdout', line: 'hi', at: new Date().toISOString() }]);
      await store.saveArtifact(job.id, { name: 'out.txt', contentType: 'text/plain', body: Buffer.from('x') });
      await store.finish(lease, { status: 'succeeded', result: null });
      expect(await store.remove(job.id)).toBe('removed');
      expect(await store.get(job.id)).toBeNull();
      expect(await store.readLogs(job.id)).toEqual([]);
      expect(await store.openArtifact(job.id, 'out.txt')).toBeNull();
      expect(await store.remove(job.id)).toBe('not-found');
    });

    test('logs are numbered, read after a point, capped with a notice, long lines cut', async () => {
      const job = await enqueue();
      const at = new Date().toISOString();
      const stored = await store.appendLogs(job.id, [
        { stream: 'stdout', line: 'one', at },
        { stream: 'stderr', line: 'two', at },
      ]);
      expect(stored?.map((l) => l.seq)).toEqual([1, 2]);
      await store.appendLogs(job.id, [{ stream: 'stdout', line: 'x'.repeat(20_000), at }]);
      const lines = await store.readLogs(job.id);
      expect(lines.map((l) => [l.seq, l.stream])).toEqual([
        [1, 'stdout'],
        [2, 'stderr'],
        [3, 'stdout'],
      ]);
      expect(lines[2]?.line.length).toBeLessThan(9_000);
      expect((await store.readLogs(job.id, { after: 2 })).map((l) => l.seq)).toEqual([3]);
      const capped = await store.appendLogs(
        job.id,
        Array.from({ length: 5 }, (_, i) => ({ stream: 'stdout' as const, line: `l${i}`, at })),
        5,
      );
      expect(capped?.map((l) => l.line)).toEqual(['l0', 'l1', '[log capped at 5 lines; later lines dropped]']);
      expect(await store.appendLogs(job.id, [{ stream: 'stdout', line: 'more', at }], 5)).toEqual([]);
      expect(await store.readLogs(job.id)).toHaveLength(6);
    });

    test('artifacts are stored from bytes or streams, replaced by name, listed on the job', async () => {
      const job = await enqueue();
      await store.saveArtifact(job.id, { name: 'a.txt', contentType: 'text/plain', body: Buffer.from('first') });
      const info = await store.saveArtifact(job.id, {
        name: 'a.txt',
        contentType: 'text/plain',
        body: Readable.from(['sec', 'ond!']),
      });
      expect(info).toMatchObject({ name: 'a.txt', size: 7, contentType: 'text/plain' });
      const opened = await store.openArtifact(job.id, 'a.txt');
      expect(opened?.info).toEqual(info);
      expect(await text(opened?.body as Readable)).toBe('second!');
      expect((await store.get(job.id))?.artifacts).toEqual([info]);
      expect(await store.openArtifact(job.id, 'b.txt')).toBeNull();
      await expect(
        store.saveArtifact(job.id, { name: '../escape', contentType: 'x', body: Buffer.from('') }),
      ).rejects.toBeInstanceOf(ValidationError);
    });

    test('an artifact content type must be a MIME type: CR, LF, NUL or a 20 KB one is refused, nothing stored', async () => {
      const job = await enqueue();
      const bad = ['text/plain\r\nSet-Cookie: a=b', 'text/pl\u0000ain', `text/${'x'.repeat(20_000)}`, 'text', ''];
      for (const contentType of bad) {
        await expect(
          store.saveArtifact(job.id, { name: 'a.txt', contentType, body: Buffer.from('x') }),
          JSON.stringify(contentType.slice(0, 40)),
        ).rejects.toBeInstanceOf(ValidationError);
      }
      expect(await store.openArtifact(job.id, 'a.txt')).toBeNull();
      const fine = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; charset="utf-8"';
      const info = await store.saveArtifact(job.id, { name: 'a.xlsx', contentType: fine, body: Buffer.from('x') });
      expect(info?.contentType).toBe(fine);
    });

    test('log appends and artifacts under a lease are fenced: an old lease writes nothing after a reap and re-claim, nor after the finish', async () => {
      const at = new Date().toISOString();
      const line = (text: string) => [{ stream: 'stdout' as const, line: text, at }];
      const file = (text: string) => ({ name: 'out.txt', contentType: 'text/plain', body: Buffer.from(text) });
      const job = await enqueue();
      const { lease: old } = await claimOne();
      expect((await store.appendLogs(old, line('first attempt')))?.map((l) => l.seq)).toEqual([1]);
      expect(await store.saveArtifact(old, file('first attempt'))).toMatchObject({ name: 'out.txt', size: 13 });

      // The first worker pauses past its lease: the job is reaped and claimed again.
      await store.heartbeat([old], -1_000);
      expect((await store.reapExpiredLeases()).map((j) => j.id)).toEqual([job.id]);
      expect(await store.appendLogs(old, line('stale, queued'))).toBeNull();
      expect(await store.saveArtifact(old, file('stale, queued'))).toBeNull();
      const { lease: winner } = await claimOne();
      expect(winner.token).not.toBe(old.token);
      expect(await store.appendLogs(old, line('stale, re-claimed'))).toBeNull();
      expect(await store.saveArtifact(old, file('stale, re-claimed'))).toBeNull();

      // The new lease writes, replacing the first attempt's file; the old one still cannot.
      expect((await store.appendLogs(winner, line('winner')))?.map((l) => l.seq)).toEqual([2]);
      const info = await store.saveArtifact(winner, file('winner'));
      expect(info).toMatchObject({ name: 'out.txt', size: 6 });
      expect(await store.saveArtifact(old, { ...file(''), body: Readable.from(['stale ', 'stream']) })).toBeNull();

      // After the finish, not even the winner's lease writes.
      await store.finish(winner, { status: 'succeeded', result: 1 });
      expect(await store.appendLogs(winner, line('after the end'))).toBeNull();
      expect(await store.saveArtifact(winner, file('after the end'))).toBeNull();
      expect(await store.appendLogs(old, line('after the end'))).toBeNull();
      expect(await store.saveArtifact(old, file('after the end'))).toBeNull();

      expect((await store.readLogs(job.id)).map((l) => l.line)).toEqual(['first attempt', 'winner']);
      const opened = await store.openArtifact(job.id, 'out.txt');
      expect(opened?.info).toEqual(info);
      expect(await text(opened?.body as Readable)).toBe('winner');
      expect((await store.get(job.id))?.artifacts).toEqual([info]);
      // By job id (no lease) a write is not fenced: what the system itself adds after the end.
      expect((await store.appendLogs(job.id, [{ stream: 'system', line: 'note', at }]))?.map((l) => l.seq)).toEqual([
        3,
      ]);
    });

    test('an artifact whose lease is lost while its bytes are written is not saved and leaves no trace', async () => {
      const job = await enqueue();
      const { lease: old } = await claimOne();
      await store.saveArtifact(old, { name: 'keep.txt', contentType: 'text/plain', body: Buffer.from('old') });
      let next: Lease | null = null;
      async function* slowBody() {
        yield Buffer.from('stale part one, ');
        // Meanwhile the lease expires, the job is reaped, re-claimed, and the winner saves its file.
        await store.heartbeat([old], -1_000);
        await store.reapExpiredLeases();
        next = (await claimOne()).lease;
        await store.saveArtifact(next, { name: 'out.txt', contentType: 'text/plain', body: Buffer.from('winner') });
        yield Buffer.from('stale part two');
      }
      expect(
        await store.saveArtifact(old, { name: 'out.txt', contentType: 'text/plain', body: Readable.from(slowBody()) }),
      ).toBeNull();
      expect(next).not.toBeNull();
      expect(await text((await store.openArtifact(job.id, 'out.txt'))?.body as Readable)).toBe('winner');
      expect((await store.get(job.id))?.artifacts.map((a) => [a.name, a.size])).toEqual([
        ['keep.txt', 3],
        ['out.txt', 6],
      ]);
    });

    test('steps are recorded under the lease in the order they come, each name once, and read back as JSON', async () => {
      const job = await enqueue();
      const { lease } = await claimOne();
      expect(await store.listSteps(job.id)).toEqual([]);
      const progress = {
        current: 2,
        total: 20,
        percent: 10,
        message: 'file 2',
        etaSeconds: 9,
        updatedAt: new Date().toISOString(),
      };
      const before = Date.now();
      const result = { ids: [1, 2], name: 'é \u2028 "quoted"', nested: { deep: [true, null] } };
      expect(await store.recordStep(lease, { name: 'list', result, progress })).toBe(true);
      expect(await store.recordStep(lease, { name: 'nothing', result: undefined, progress: null })).toBe(true);
      // Quick steps land in the same millisecond: the order recorded still holds.
      for (let i = 0; i < 30; i++) {
        expect(await store.recordStep(lease, { name: `file-${i}`, result: i, progress: null })).toBe(true);
      }
      // A name recorded already keeps its first record.
      expect(await store.recordStep(lease, { name: 'list', result: 'second', progress: null })).toBe(true);

      const steps = await store.listSteps(job.id);
      const files = Array.from({ length: 30 }, (_, i) => `file-${i}`);
      expect(steps.map((s) => s.name)).toEqual(['list', 'nothing', ...files]);
      expect(steps[0]).toEqual({ name: 'list', result, attempt: 1, progress, recordedAt: expect.any(String) });
      expect(steps[1]).toMatchObject({ name: 'nothing', result: null, progress: null });
      expect(steps.slice(2).map((s) => s.result)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      for (const step of steps) {
        expect(Date.parse(step.recordedAt)).toBeGreaterThanOrEqual(before - 1_000);
        expect(Date.parse(step.recordedAt)).toBeLessThanOrEqual(Date.now() + 1_000);
      }
      expect(await store.listSteps('no-such-job')).toEqual([]);
    });

    test('a step record is fenced: a stale attempt records nothing and learns it; a later attempt replaces an earlier one', async () => {
      const job = await enqueue();
      const { lease: old } = await claimOne();
      expect(await store.recordStep(old, { name: 'a', result: 1, progress: null })).toBe(true);
      expect(await store.recordStep({ ...old, token: 'not-the-token' }, { name: 'x', result: 1, progress: null })).toBe(
        false,
      );

      // The first worker pauses past its lease: the job is reaped and claimed again.
      await store.heartbeat([old], -1_000);
      await store.reapExpiredLeases();
      expect(await store.recordStep(old, { name: 'b', result: 'stale, queued', progress: null })).toBe(false);
      const { lease: winner } = await claimOne();
      expect(await store.recordStep(old, { name: 'b', result: 'stale, re-claimed', progress: null })).toBe(false);
      expect(await store.recordStep(winner, { name: 'b', result: 'winner', progress: null })).toBe(true);
      // A later attempt that ran a step an earlier one recorded (it did not see the record) replaces it.
      expect(await store.recordStep(winner, { name: 'a', result: 2, progress: null })).toBe(true);

      await store.finish(winner, { status: 'succeeded', result: 1 });
      expect(await store.recordStep(winner, { name: 'c', result: 'after the end', progress: null })).toBe(false);
      expect((await store.listSteps(job.id)).map((s) => [s.name, s.result, s.attempt])).toEqual([
        ['b', 'winner', 2],
        ['a', 2, 2],
      ]);
    });

    test('steps go with their job: remove and cleanup delete them, and only them', async () => {
      const step = { name: 'a', result: 1, progress: null };
      const removed = await enqueue();
      const first = await claimOne();
      await store.recordStep(first.lease, step);
      await store.finish(first.lease, { status: 'succeeded', result: 1 });
      const cleaned = await enqueue();
      const second = await claimOne();
      await store.recordStep(second.lease, step);
      await store.finish(second.lease, { status: 'failed', error: failure });
      const kept = await enqueue();
      const third = await claimOne();
      await store.recordStep(third.lease, step);

      expect(await store.remove(removed.id)).toBe('removed');
      expect(await store.listSteps(removed.id)).toEqual([]);
      const inAYear = new Date(Date.now() + 400 * 86_400_000);
      expect(await store.cleanup({ succeededDays: 7, failedDays: 30, now: inAYear })).toBe(1);
      expect(await store.listSteps(cleaned.id)).toEqual([]);
      expect((await store.listSteps(kept.id)).map((s) => s.name)).toEqual(['a']);
    });

    test('expired leases: queued again, or failed STALLED when attempts are spent, or cancelled if asked', async () => {
      const a = await enqueue({ maxAttempts: 2 });
      const b = await enqueue({ maxAttempts: 1 });
      const c = await enqueue({ maxAttempts: 3 });
      const claimed = await store.claim({ workerId: 'w', tasks: ['demo'], limit: 3, leaseMs: 60_000 });
      await store.requestCancel(c.id);
      const live = await enqueue();
      const kept = await claimOne();
      expect(kept.job.id).toBe(live.id);
      // Expire the first three leases: a heartbeat with a negative duration moves the deadline into the past.
      await store.heartbeat(
        claimed.map((x) => x.lease),
        -1_000,
      );
      const reaped = await store.reapExpiredLeases();
      expect(Object.fromEntries(reaped.map((j) => [j.id, j.status]))).toEqual({
        [a.id]: 'queued',
        [b.id]: 'failed',
        [c.id]: 'cancelled',
      });
      expect(await store.get(b.id)).toMatchObject({ error: { code: 'STALLED' } });
      expect(await store.get(live.id)).toMatchObject({ status: 'running' });
      const old = claimed.find((x) => x.job.id === a.id) as (typeof claimed)[number];
      expect(await store.finish(old.lease, { status: 'succeeded', result: 1 })).toBeNull();
      expect(await store.reapExpiredLeases()).toEqual([]);
    });

    test('cleanup deletes finished jobs past retention and never an unfinished one', async () => {
      const done = await enqueue({ task: 'demo' });
      await store.finish((await claimOne()).lease, { status: 'succeeded', result: 1 });
      const broke = await enqueue({ task: 'demo' });
      await store.finish((await claimOne()).lease, { status: 'failed', error: failure });
      const keep = await enqueue({ task: 'keep' });
      await store.finish((await claimOne(['keep'])).lease, { status: 'succeeded', result: 1 });
      const waiting = await enqueue();
      const running = await enqueue();
      await claimOne();
      const inTenDays = new Date(Date.now() + 10 * 86_400_000);
      const removed = await store.cleanup({
        succeededDays: 7,
        failedDays: 30,
        tasks: { keep: { succeededDays: 365 } },
        now: inTenDays,
      });
      expect(removed).toBe(1);
      expect(await store.get(done.id)).toBeNull();
      for (const id of [broke.id, keep.id, waiting.id, running.id]) expect(await store.get(id)).not.toBeNull();
      const inAYear = new Date(Date.now() + 400 * 86_400_000);
      expect(await store.cleanup({ succeededDays: 7, failedDays: 30, now: inAYear })).toBe(2);
      expect(await store.get(waiting.id)).not.toBeNull();
      expect(await store.get(running.id)).not.toBeNull();
    });

    test('subscribers hear every status change and every published event; unsubscribe stops it', async () => {
      const events: JobEvent[] = [];
      const off = store.events.listen((event) => events.push(event));
      const job = await enqueue({ owner: 'ann' });
      const { lease } = await claimOne();
      store.events.send(progressEvent({ jobId: job.id, task: 'demo', owner: 'ann' }, 1, 2));
      await store.finish(lease, { status: 'succeeded', result: { ok: true } });
      off();
      await enqueue();
      expect(events.map((e) => (e.type === 'status' ? e.status : e.type))).toEqual([
        'queued',
        'running',
        'progress',
        'succeeded',
      ]);
      expect(events[3]).toMatchObject({
        type: 'status',
        jobId: job.id,
        task: 'demo',
        owner: 'ann',
        result: { ok: true },
      });
    });

    // Webhook deliveries (store/webhook-deliveries.ts): optional members, which both stores have.
    const hooks = () => store as Required<Store>;
    const HOOK = 'http://127.0.0.1:9/hook';
    const OTHER = 'http://127.0.0.1:9/other';
    /** Ends one new job as given: succeeded, failed (through finish), or cancelled while queued. */
    const ended = async (status: 'succeeded' | 'failed' | 'cancelled', task = 'demo') => {
      const job = await enqueue({ task });
      if (status === 'cancelled') return (await store.requestCancel(job.id))?.job as Job;
      const { lease } = await claimOne([task]);
      const outcome = status === 'succeeded' ? { status, result: 1 } : { status, error: failure };
      return (await store.finish(lease, outcome as Outcome)) as Job;
    };
    const record = (over: Partial<RecordWebhookDeliveriesRequest> = {}) =>
      hooks().recordWebhookDeliveries({ urls: [HOOK, OTHER], statuses: ['succeeded', 'failed'], ...over });
    const claimHooks = (limit = 10, leaseMs = 60_000, urls = [HOOK, OTHER]) =>
      hooks().claimWebhookDeliveries({ urls, limit, leaseMs });
    const tried = (status: number | null, error: string | null = null) => ({
      at: new Date().toISOString(),
      status,
      error,
      ms: 3,
    });

    test('webhook deliveries: one per (job, url) for jobs that ended with a chosen status, never twice', async () => {
      expect(await record()).toBe(0); // registers both urls: jobs ending from now on are announced
      const ok = await ended('succeeded');
      const broke = await ended('failed');
      await ended('cancelled'); // not a chosen status
      const running = await enqueue();
      await claimOne();
      await enqueue(); // queued
      expect(running.id).toBeTruthy();
      expect(await record()).toBe(4);
      expect(await record()).toBe(0);
      expect(await record({ jobIds: [ok.id, broke.id] })).toBe(0);
      const mine = await hooks().listWebhookDeliveries({ jobId: ok.id });
      expect(mine.map((d) => d.url).sort()).toEqual([HOOK, OTHER]);
      expect(mine[0]).toMatchObject({
        id: `${ok.id}.succeeded`,
        jobId: ok.id,
        event: 'succeeded',
        state: 'pending',
        attempts: 0,
        lastStatus: null,
        lastError: null,
        log: [],
      });
      expect(Date.parse(mine[0]?.nextAttemptAt ?? '')).not.toBeNaN();
      expect(await hooks().listWebhookDeliveries({ jobId: broke.id })).toHaveLength(2);
      const all = await hooks().listWebhookDeliveries();
      expect(all).toHaveLength(4);
      expect(all.map((d) => d.jobId).sort()).toEqual([broke.id, broke.id, ok.id, ok.id].sort());
      expect(await hooks().listWebhookDeliveries({ limit: 1 })).toHaveLength(1);
      expect(await hooks().listWebhookDeliveries({ jobId: 'no-such-job' })).toEqual([]);

      // The heard-of path (jobIds) records those jobs at least (a store may look wider: a hint).
      const next = await ended('succeeded');
      const hinted = await record({ jobIds: [next.id] });
      expect(await hooks().listWebhookDeliveries({ jobId: next.id })).toHaveLength(2);
      expect(await record({ jobIds: [next.id] })).toBe(0);
      const later = await ended('failed');
      expect(hinted + (await record())).toBe(4); // `later`, found by the sweep
      // Newest first: what was recorded later comes first.
      const latest = (await hooks().listWebhookDeliveries({ limit: 4 })).map((d) => d.jobId);
      expect(latest).toEqual([later.id, later.id, next.id, next.id]);
      expect((await hooks().listWebhookDeliveries({ jobId: later.id })).map((d) => d.id)).toEqual([
        `${later.id}.failed`,
        `${later.id}.failed`,
      ]);
    });

    test('webhook deliveries recorded by several at once are recorded once', async () => {
      await record();
      const jobs = await Promise.all([ended('succeeded'), ended('failed'), ended('succeeded')]);
      const added = await Promise.all([record(), record(), record({ jobIds: jobs.map((j) => j.id) }), record()]);
      expect(added.reduce((a, b) => a + b, 0)).toBe(6);
      const all = await hooks().listWebhookDeliveries();
      expect(new Set(all.map((d) => `${d.jobId} ${d.url}`)).size).toBe(6);
      expect(all).toHaveLength(6);
    });

    test('a claimed delivery is hidden for its lease, its try recorded only by its claim; retried, then settled', async () => {
      await record({ urls: [HOOK] });
      const job = await ended('succeeded');
      await record({ urls: [HOOK] });
      expect(await claimHooks(10, 60_000, [OTHER])).toEqual([]);
      const [first, ...none] = await claimHooks();
      expect(none).toEqual([]);
      if (!first) throw new Error('expected a claim');
      expect(first.delivery).toMatchObject({ jobId: job.id, url: HOOK, state: 'pending', attempts: 0 });
      expect(first.job).toEqual(await store.get(job.id)); // read with the claim
      expect(await claimHooks()).toEqual([]); // hidden while claimed
      const refused = { attempt: tried(503, 'HTTP 503'), next: { state: 'pending' as const, retryInMs: 0 } };
      expect(await hooks().settleWebhookDelivery(first, refused)).toBe(true);
      expect(await hooks().settleWebhookDelivery(first, refused)).toBe(false); // that claim is spent
      const [second] = await claimHooks();
      if (!second) throw new Error('expected the retry to be due');
      expect(second.token).not.toBe(first.token);
      expect(second.delivery).toMatchObject({ attempts: 1, lastStatus: 503, lastError: 'HTTP 503' });
      expect(second.delivery.log).toEqual([refused.attempt]);
      // A later retry is not due yet.
      const later = {
        attempt: tried(null, 'fetch failed (ECONNREFUSED)'),
        next: { state: 'pending' as const, retryInMs: 60_000 },
      };
      expect(await hooks().settleWebhookDelivery(second, later)).toBe(true);
      expect(await claimHooks()).toEqual([]);
      const [waiting] = await hooks().listWebhookDeliveries({ jobId: job.id });
      expect(Date.parse(waiting?.nextAttemptAt ?? '') - Date.now()).toBeGreaterThan(50_000);
      expect(waiting).toMatchObject({ state: 'pending', attempts: 2, lastStatus: null });
    });

    test('a delivery whose claim expired is claimed again, and the old claim can no longer record', async () => {
      await record({ urls: [HOOK] });
      const job = await ended('failed');
      await record({ urls: [HOOK] });
      const [lost] = await claimHooks(10, -1_000); // a lease already over: its claimer "died"
      if (!lost) throw new Error('expected a claim');
      expect(await store.remove(job.id)).toBe('removed');
      const [taken] = await claimHooks();
      if (!taken) throw new Error('expected the expired claim to be taken over');
      expect(taken.job).toBeNull(); // removed meanwhile: the sender gives up on it
      const delivered = { attempt: tried(204), next: { state: 'delivered' as const } };
      expect(await hooks().settleWebhookDelivery(lost, delivered)).toBe(false);
      expect(await hooks().settleWebhookDelivery(taken, delivered)).toBe(true);
      expect(await claimHooks()).toEqual([]);
      const [done] = await hooks().listWebhookDeliveries({ jobId: job.id });
      expect(done).toMatchObject({ state: 'delivered', attempts: 1, nextAttemptAt: null, lastStatus: 204 });
      expect(done?.log).toHaveLength(1);
      expect(await hooks().settleWebhookDelivery(taken, delivered)).toBe(false);
    });

    test('claims made at once never hand out the same delivery', async () => {
      await record({ urls: [HOOK] });
      for (let i = 0; i < 10; i++) await ended('succeeded');
      await record({ urls: [HOOK] });
      const batches = await Promise.all([1, 2, 3, 4, 5].map(() => claimHooks(3)));
      const ids = batches.flat().map((c) => c.delivery.jobId);
      expect(ids).toHaveLength(10);
      expect(new Set(ids).size).toBe(10);
    });

    test('a delivery log keeps the latest tries; prune deletes the deliveries recorded before a time', async () => {
      await record({ urls: [HOOK] });
      const gone = await ended('succeeded');
      await record({ urls: [HOOK] });
      for (let n = 1; n <= MAX_WEBHOOK_LOG + 2; n++) {
        const [claim] = await claimHooks(1);
        if (!claim) throw new Error('expected a claim');
        const last = n === MAX_WEBHOOK_LOG + 2;
        const next = last ? { state: 'failed' as const } : { state: 'pending' as const, retryInMs: 0 };
        await hooks().settleWebhookDelivery(claim, { attempt: tried(500 + (n % 10), `try ${n}`), next });
      }
      const settled = (await hooks().listWebhookDeliveries()).find((d) => d.state === 'failed');
      expect(settled?.attempts).toBe(MAX_WEBHOOK_LOG + 2);
      expect(settled?.log.map((a) => a.error)).toEqual(
        Array.from({ length: MAX_WEBHOOK_LOG }, (_, i) => `try ${i + 3}`),
      );
      const kept = await ended('failed');
      await record({ urls: [HOOK] });
      // Just after the first was recorded (22 tries before the second): the first goes, settled or not.
      const cut = new Date(Date.parse(settled?.createdAt ?? '') + 1).toISOString();
      expect(await hooks().pruneWebhookDeliveries(new Date(Date.now() - 60_000).toISOString())).toBe(0);
      expect(await hooks().pruneWebhookDeliveries(cut)).toBe(1);
      const left = await hooks().listWebhookDeliveries();
      expect(left.map((d) => [d.jobId, d.state])).toEqual([[kept.id, 'pending']]);
      expect(await hooks().listWebhookDeliveries({ jobId: gone.id })).toEqual([]);
      expect(await hooks().pruneWebhookDeliveries(new Date(Date.now() + 60_000).toISOString())).toBe(1);
    });

    // Child jobs (ctx.spawn, docs/children.md): optional members, both built-in stores have them.
    const kids = () => {
      const { spawnChild, waitForChildren, childSummary, saveWaitingProgress } = store;
      if (!spawnChild || !waitForChildren || !childSummary || !saveWaitingProgress) {
        throw new Error(`The ${name} store has no child jobs.`);
      }
      return {
        spawn: spawnChild.bind(store),
        wait: waitForChildren.bind(store),
        summary: childSummary.bind(store),
        saveBar: saveWaitingProgress.bind(store),
      };
    };
    const progressOf = (current: number, total: number): JobProgress => {
      const event = progressEvent({ jobId: '', task: 'kid', owner: null }, current, total);
      return (event as Extract<JobEvent, { type: 'progress' }>).progress;
    };
    const child = (childName: string, over: Partial<EnqueueInput> = {}) => ({
      ...input({ task: 'kid' }),
      childName,
      ...over,
    });
    /** A running parent (of task demo, or the one given) of ann's. */
    const runningParent = async (task = 'demo') => {
      await enqueue({ owner: 'ann', task });
      return claimOne([task]);
    };

    test('a child is added once per name, owned as its parent, fenced by the lease, listed by parent', async () => {
      const { job: parent, lease } = await runningParent();
      const events: JobEvent[] = [];
      const off = store.events.listen((event) => events.push(event));
      const first = await kids().spawn(lease, child('child-0', { params: { n: 7 }, owner: 'bob' }));
      const again = await kids().spawn(lease, child('child-0', { params: { n: 8 } }));
      const other = await kids().spawn(lease, child('child-1'));
      off();
      expect(first?.created).toBe(true);
      expect(first?.job).toMatchObject({
        task: 'kid',
        status: 'queued',
        params: { n: 7 },
        owner: 'ann',
        parentId: parent.id,
        childName: 'child-0',
      });
      expect(again).toEqual({ job: first?.job, created: false });
      expect(other?.created).toBe(true);
      expect(other?.job.id).not.toBe(first?.job.id);
      const queued = events.filter((e) => e.type === 'status' && e.status === 'queued').map((e) => e.jobId);
      expect(queued).toEqual([first?.job.id, other?.job.id]);
      expect((await store.list({ parent: parent.id })).jobs.map((j) => j.childName)).toEqual(['child-1', 'child-0']);
      expect((await store.list({ parent: 'nobody' })).jobs).toEqual([]);
      expect((await store.get(parent.id))?.parentId).toBeNull();
      // A lease that is no longer held adds nothing.
      await store.finish(lease, { status: 'succeeded', result: null });
      expect(await kids().spawn(lease, child('child-2'))).toBeNull();
      expect((await store.list({ parent: parent.id })).jobs).toHaveLength(2);
    });

    test('a parent waiting for its children sleeps, uncounted, until its last child ends, woken in the store', async () => {
      const { job: parent, lease } = await runningParent();
      const a = (await kids().spawn(lease, child('a')))?.job as Job;
      const b = (await kids().spawn(lease, child('b')))?.job as Job;
      const c = (await kids().spawn(lease, child('c')))?.job as Job;
      const asleep = await kids().wait(lease, 0);
      expect(asleep).toMatchObject({ id: parent.id, status: 'queued', attempt: 0, runAt: '9999-12-31T00:00:00.000Z' });
      expect(await kids().wait(lease, 0)).toBeNull(); // The lease ended with the attempt.
      expect(await store.claim({ workerId: 'w1', tasks: ['demo'], limit: 1, leaseMs: 30_000 })).toEqual([]);
      expect(await store.nextRunAt(['demo'])).toBe('9999-12-31T00:00:00.000Z');
      expect(await kids().summary(parent.id)).toMatchObject({ total: 3, queued: 3, running: 0, done: 0 });
      const stillAsleep = async () => expect((await store.get(parent.id))?.runAt).toBe('9999-12-31T00:00:00.000Z');

      const [claimedA] = await store.claim({ workerId: 'w1', tasks: ['kid'], limit: 1, leaseMs: 30_000 });
      expect(claimedA?.job.id).toBe(a.id);
      await store.saveProgress(claimedA?.lease as Lease, progressOf(1, 4));
      expect(await kids().summary(parent.id)).toMatchObject({ total: 3, queued: 2, running: 1, done: 0.25 });
      await store.finish(claimedA?.lease as Lease, { status: 'succeeded', result: 1 });
      await stillAsleep();
      // A reaped child with attempts left has not ended.
      const [claimedB] = await store.claim({ workerId: 'w1', tasks: ['kid'], limit: 1, leaseMs: 1 });
      expect(claimedB?.job.id).toBe(b.id);
      await new Promise((resolve) => setTimeout(resolve, 10));
      await store.reapExpiredLeases();
      expect((await store.get(b.id))?.status).toBe('queued');
      await stillAsleep();
      const finishNext = async (result: number) => {
        const [claimed] = await store.claim({ workerId: 'w1', tasks: ['kid'], limit: 1, leaseMs: 30_000 });
        await store.finish(claimed?.lease as Lease, { status: 'succeeded', result });
        return claimed?.job.id;
      };
      const second = await finishNext(2);
      await stillAsleep();
      const third = await finishNext(3);
      expect([second, third].sort()).toEqual([b.id, c.id].sort());

      const woken = await store.get(parent.id);
      expect(woken?.status).toBe('queued');
      expect(Date.parse(woken?.runAt ?? '')).toBeLessThanOrEqual(Date.now());
      expect(await kids().summary(parent.id)).toMatchObject({ total: 3, queued: 0, running: 0, succeeded: 3, done: 3 });
      const [rerun] = await store.claim({ workerId: 'w1', tasks: ['demo'], limit: 1, leaseMs: 30_000 });
      expect(rerun?.job).toMatchObject({ id: parent.id, attempt: 1 });
      // The run after the wake-up spawns again: the same children, none added.
      expect((await kids().spawn(rerun?.lease as Lease, child('a')))?.job.id).toBe(a.id);
      // All ended: a wait is due again at once.
      const due = await kids().wait(rerun?.lease as Lease, 0);
      expect(Date.parse(due?.runAt ?? '')).toBeLessThanOrEqual(Date.now());
      expect((await store.list({ parent: parent.id })).jobs).toHaveLength(3);
    });

    test('a child that fails or is cancelled wakes its parent at once, whichever way it ends', async () => {
      const woken = async (id: string) => Date.parse((await store.get(id))?.runAt ?? '') <= Date.now();
      /** A parent asleep with two children of `task` (x first), x with `maxAttempts`. */
      const asleepWithTwo = async (task: string, maxAttempts = 3) => {
        const { job, lease } = await runningParent(`parent-of-${task}`);
        await kids().spawn(lease, child('x', { task, maxAttempts }));
        await kids().spawn(lease, child('y', { task }));
        await kids().wait(lease, 0);
        expect(await woken(job.id)).toBe(false);
        return job;
      };
      // A finish that fails it.
      const first = await asleepWithTwo('kid-1');
      const [x] = await store.claim({ workerId: 'w1', tasks: ['kid-1'], limit: 1, leaseMs: 30_000 });
      await store.finish(x?.lease as Lease, { status: 'failed', error: failure });
      expect(await woken(first.id)).toBe(true);
      // A cancel of a queued child.
      const second = await asleepWithTwo('kid-2');
      const [queuedChild] = (await store.list({ parent: second.id })).jobs;
      await store.requestCancel(queuedChild?.id as string);
      expect(await woken(second.id)).toBe(true);
      // The reaper failing it STALLED (its one attempt spent).
      const third = await asleepWithTwo('kid-3', 1);
      const [stalled] = await store.claim({ workerId: 'w1', tasks: ['kid-3'], limit: 1, leaseMs: 1 });
      await new Promise((resolve) => setTimeout(resolve, 10));
      await store.reapExpiredLeases();
      expect((await store.get(stalled?.job.id as string))?.error?.code).toBe('STALLED');
      expect(await woken(third.id)).toBe(true);
      // One that failed before its parent went to sleep, unseen by the wait (it read none failed):
      // due at once. Seen (a settling wait that sleeps on), it wakes nobody.
      for (const [seen, due] of [
        [0, true],
        [1, false],
      ] as const) {
        const { job, lease } = await runningParent(`parent-seen-${seen}`);
        await kids().spawn(lease, child('x', { task: `kid-seen-${seen}` }));
        await kids().spawn(lease, child('y', { task: `kid-seen-${seen}` }));
        const [failing] = await store.claim({ workerId: 'w1', tasks: [`kid-seen-${seen}`], limit: 1, leaseMs: 30_000 });
        await store.finish(failing?.lease as Lease, { status: 'failed', error: failure });
        await kids().wait(lease, seen);
        expect(await woken(job.id)).toBe(due);
      }
    });

    test('a child that ends in the same batch of finishes as another job still wakes its parent', async () => {
      const { job: parent, lease } = await runningParent();
      await kids().spawn(lease, child('x'));
      await kids().spawn(lease, child('y'));
      await kids().wait(lease, 0);
      await enqueue({ task: 'kid' });
      const claimed = await store.claim({ workerId: 'w1', tasks: ['kid'], limit: 3, leaseMs: 30_000 });
      expect(claimed).toHaveLength(3);
      await Promise.all(claimed.map(({ lease: l }) => store.finish(l, { status: 'succeeded', result: 1 })));
      expect(Date.parse((await store.get(parent.id))?.runAt ?? '')).toBeLessThanOrEqual(Date.now());
    });

    test('a waiting attempt whose cancel was asked ends cancelled; a waiting bar is written only while queued', async () => {
      const { job: parent, lease } = await runningParent();
      await kids().spawn(lease, child('x'));
      await store.requestCancel(parent.id);
      const ended = await kids().wait(lease, 0);
      expect(ended).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED' }, attempts: [] });
      expect(await kids().saveBar(parent.id, progressOf(1, 2))).toBe(false);

      const other = await runningParent();
      await kids().spawn(other.lease, child('x'));
      const asleep = await kids().wait(other.lease, 0);
      // Going to sleep ends the attempt, uncounted: it is recorded, not due again until woken.
      expect(asleep?.attempts).toMatchObject([
        { attempt: 1, workerId: 'w1', outcome: 'waited', runAt: null, error: null },
      ]);
      expect(await kids().saveBar(other.job.id, progressOf(1, 2))).toBe(true);
      expect((await store.get(other.job.id))?.progress).toMatchObject({ current: 1, total: 2 });
      expect(await kids().summary('no-such-job')).toEqual({
        total: 0,
        queued: 0,
        running: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 0,
        done: 0,
      });
    });
  });
}
