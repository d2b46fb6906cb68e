import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask } from '../src/core/task.ts';
import { queueLimitList } from '../src/queue/limits.ts';
import { createQueue, type Queue } from '../src/queue/queue.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { tempDir } from './helpers/temp.ts';

/** Why a queued job waits, read from a real SQLite store: each reason in the order a claim checks them. */

const exportTask = defineTask({
  name: 'export',
  queue: 'exports',
  params: z.object({ customer: z.string() }),
  concurrencyKey: (params) => params.customer,
  async run() {},
});
const report = defineTask({ name: 'report', queue: 'exports', params: z.object({}), async run() {} });
const mail = defineTask({ name: 'mail', params: z.object({}), async run() {} });

const QUEUES = {
  exports: { concurrency: 2, concurrencyPerKey: 1, rate: { starts: 3, perSeconds: 3_600 } },
  mail: { ratePerKey: { starts: 1, perSeconds: 3_600 } },
};

let dir: ReturnType<typeof tempDir>;
let store: Store;
let queue: Queue;
beforeEach(() => {
  dir = tempDir('underway-waiting-');
  store = sqliteStore({ file: dir.file('underway.db') });
  queue = createQueue({ store, tasks: [exportTask, report, mail], queues: QUEUES });
});
afterEach(async () => {
  await store.close();
  dir.cleanup();
});

/** The value, which the test has just made sure exists. */
function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('expected a value');
  return value;
}

/** Starts what fits, as a worker with these limits would. */
const claim = (tasks: string[], limit = 10) =>
  queue.jobs.claimLimited({ workerId: 'w', tasks, limit, leaseMs: 60_000, limits: queueLimitList(QUEUES) });

describe('Queue.waiting', () => {
  it('says a job runs later, then that it waits for a worker; null once it runs', async () => {
    const later = await queue.start(mail, {}, { delaySeconds: 600 });
    expect(await queue.waiting(later.job)).toMatchObject({
      reason: 'scheduled',
      text: expect.stringMatching(/^waiting: runs at /),
    });
    const { job } = await queue.start(report, {});
    expect(await queue.waiting(job)).toEqual({ reason: 'worker', text: 'waiting for a free worker' });
    const [claimed] = await claim(['report']);
    expect(claimed?.job.id).toBe(job.id);
    expect(await queue.waiting(must(claimed).job)).toBeNull();
  });

  it('names a paused task before a paused queue, with who paused it and why', async () => {
    const { job } = await queue.start(report, {});
    await queue.pause({ queue: 'exports' }, { by: 'ops', reason: 'warehouse down' });
    expect((await queue.waiting(job))?.text).toMatch(/^waiting: queue exports paused by ops since .*: warehouse down$/);
    await queue.pause(report, { by: 'ann' });
    expect(await queue.waiting(job)).toMatchObject({ reason: 'task paused' });
    await queue.resume(report);
    expect(await queue.waiting(job)).toMatchObject({ reason: 'queue paused' });
    await queue.resume({ queue: 'exports' });
    expect(await queue.waiting(job)).toMatchObject({ reason: 'worker' });
  });

  it('says a queue is full, a key is full, and a rate limit is reached, as the claim saw them', async () => {
    await queue.start(exportTask, { customer: 'a' });
    const secondA = (await queue.start(exportTask, { customer: 'a' })).job;
    await queue.start(exportTask, { customer: 'b' });
    // One place per key: the first a and b start, and the queue's two places are taken.
    const claimed = await claim(['export']);
    expect(claimed.map(({ job }) => job.concurrencyKey).sort()).toEqual(['a', 'b']);
    expect(await queue.waiting(secondA)).toEqual({
      reason: 'queue full',
      text: 'waiting: queue full (2 of 2 running)',
    });
    // With a place free in the queue, its key is what holds it back.
    const leaseOf = (key: string) => must(claimed.find(({ job }) => job.concurrencyKey === key)).lease;
    await queue.jobs.finish(leaseOf('b'), { status: 'succeeded', result: null });
    expect(await queue.waiting(secondA)).toEqual({ reason: 'key full', text: 'waiting: key a full (1 of 1 running)' });
    // Three starts an hour: the second a is the third, and c finds none left.
    await queue.jobs.finish(leaseOf('a'), { status: 'succeeded', result: null });
    const c = (await queue.start(exportTask, { customer: 'c' })).job;
    expect((await claim(['export'])).map(({ job }) => job.id)).toEqual([secondA.id]);
    expect(await queue.waiting(c)).toEqual({ reason: 'rate limit', text: 'waiting: rate limit (3 starts per 3600 s)' });
  });

  it("says a key's own rate limit is reached; jobs without a key are not held by it", async () => {
    const [x1, x2, y, none] = await queue.startMany(mail, [
      { params: {}, concurrencyKey: 'x' },
      { params: {}, concurrencyKey: 'x' },
      { params: {}, concurrencyKey: 'y' },
      { params: {} },
    ]);
    const claimed = await claim(['mail']);
    expect(claimed.map(({ job }) => job.id).sort()).toEqual(
      [must(x1).job.id, must(y).job.id, must(none).job.id].sort(),
    );
    expect(await queue.waiting(must(x2).job)).toEqual({
      reason: 'key rate limit',
      text: 'waiting: rate limit of key x (1 start per 3600 s)',
    });
  });

  it('reads each queue once for a page of jobs', async () => {
    const started = await queue.startMany(report, [{ params: {} }, { params: {} }, { params: {} }]);
    await queue.pause({ queue: 'exports' });
    const waiting = await queue.waitingOf(started.map(({ job }) => job));
    expect([...waiting.values()].map((w) => w.reason)).toEqual(['queue paused', 'queue paused', 'queue paused']);
  });

  it('lists the queues with their tasks, limits, pause and counts; unknown queues are refused', async () => {
    await queue.start(exportTask, { customer: 'a' });
    await queue.start(report, {});
    await claim(['export', 'report'], 1);
    const queues = await queue.queues();
    expect(queues.map((q) => q.name).sort()).toEqual(['exports', 'mail']);
    const exports = must(queues.find((q) => q.name === 'exports'));
    expect(exports).toMatchObject({
      tasks: ['export', 'report'],
      limit: { concurrency: 2, perKey: 1, rate: { starts: 3, perSeconds: 3_600 } },
      paused: null,
      usage: { due: 1, running: 1, startedInWindow: 1 },
    });
    expect(exports.usage.oldestDueAt).toMatch(/^\d{4}-/);
    await expect(queue.pause({ queue: 'nope' })).rejects.toThrow(/There is no queue "nope"/);
  });
});
