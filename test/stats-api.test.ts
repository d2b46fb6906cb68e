import { afterEach, describe, expect, it } from 'vitest';
import { gates, json, setup, type TestEnv } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

const start = async (task: string, params: unknown) => {
  const response = await env?.call('/api/jobs', { method: 'POST', body: { task, params } });
  expect(response?.status).toBe(201);
  return (await json(response as Response)).id as string;
};

const sum = (buckets: { started: number; succeeded: number; failed: number }[]) =>
  buckets.reduce(
    (total, b) => ({
      started: total.started + b.started,
      succeeded: total.succeeded + b.succeeded,
      failed: total.failed + b.failed,
    }),
    { started: 0, succeeded: 0, failed: 0 },
  );

describe('GET /api/stats', () => {
  it('counts real jobs run by a real worker, and lists the worker with what it runs (SQLite)', async () => {
    env = setup();
    const worker = env.worker();
    const store = env.store;
    const echoes = await Promise.all(['a', 'b', 'c'].map((text) => start('echo', { text })));
    const failed = await start('fail', {});
    for (const id of echoes) await waitForStatus(store, id, 'succeeded');
    await waitForStatus(store, failed, 'failed');
    const gated = await start('gate', { key: 'stats' });
    await waitForStatus(store, gated, 'running');

    const response = await env.call('/api/stats', { as: 'admin' });
    expect(response.status).toBe(200);
    const stats = await json(response);
    const counts = Object.fromEntries(stats.counts.map((row: { task: string }) => [row.task, row]));
    expect(counts.echo).toEqual({ task: 'echo', queued: 0, running: 0, succeeded: 3, failed: 0, cancelled: 0 });
    expect(counts.fail).toMatchObject({ failed: 1, succeeded: 0 });
    expect(counts.gate).toMatchObject({ running: 1 });

    expect(stats.lastHour.buckets).toHaveLength(60);
    expect(stats.lastHour.bucketMs).toBe(60_000);
    expect(stats.lastDay.buckets).toHaveLength(48);
    expect(stats.lastDay.bucketMs).toBe(30 * 60_000);
    // The gated job is running: started, not ended.
    expect(sum(stats.lastHour.buckets)).toEqual({ started: 5, succeeded: 3, failed: 1 });
    expect(sum(stats.lastDay.buckets)).toEqual({ started: 5, succeeded: 3, failed: 1 });
    expect(Date.parse(stats.lastHour.buckets.at(-1).at)).toBeLessThanOrEqual(Date.parse(stats.at));
    expect(Date.parse(stats.lastHour.buckets.at(-1).at)).toBeGreaterThan(Date.parse(stats.at) - 60_000);
    const runTimes = stats.lastHour.runTimes.map((r: { task: string; count: number }) => [r.task, r.count]);
    expect(runTimes).toEqual([
      ['echo', 3],
      ['fail', 1],
    ]);
    for (const row of stats.lastDay.runTimes) {
      expect(row.p50).toBeGreaterThanOrEqual(0);
      expect(row.p95).toBeGreaterThanOrEqual(row.p50);
      expect(row.p99).toBeGreaterThanOrEqual(row.p95);
    }
    expect(stats.queues.map((q: { name: string }) => q.name).sort()).toEqual(['echo', 'fail', 'gate']);
    expect(stats.queues.find((q: { name: string }) => q.name === 'gate').usage).toMatchObject({ due: 0, running: 1 });

    // Queue depth: the worker sampled its first minute when it started (no job yet). A sample
    // taken now (as the next minute's first heartbeat would) shows the running gated job.
    const sampled = stats.depth.lastHour.buckets.filter((b: { due: number | null }) => b.due !== null);
    expect(sampled.length).toBeGreaterThanOrEqual(1);
    expect(stats.depth.lastHour.buckets).toHaveLength(60);
    expect(stats.depth.lastDay.buckets).toHaveLength(48);
    const nextMinute = new Date((Math.floor(Date.now() / 60_000) + 1) * 60_000).toISOString();
    expect(await store.sampleQueues(nextMinute)).toBe(true);
    expect(await store.queueSamples(nextMinute, new Date(Date.parse(nextMinute) + 60_000).toISOString())).toEqual([
      { at: nextMinute, queue: '*', due: 0, running: 1 },
      { at: nextMinute, queue: 'gate', due: 0, running: 1 },
    ]);

    // The worker registered itself; what it runs is the running job whose workerId is its id.
    expect(stats.workers).toHaveLength(1);
    expect(stats.workers[0]).toMatchObject({
      id: worker.id,
      pid: process.pid,
      alive: true,
      tasks: ['echo', 'gate', 'fail'],
      running: [{ id: gated, task: 'gate' }],
    });
    expect((await store.get(gated))?.workerId).toBe(worker.id);

    gates.get('stats')?.();
    await waitForStatus(store, gated, 'succeeded');
    // A graceful stop removes the worker's row.
    await worker.stop();
    expect((await json(await env.call('/api/stats', { as: 'admin' }))).workers).toEqual([]);
  });

  it('is for admins only: 403 for a user, 401 without one; the page too', async () => {
    env = setup();
    const refused = await env.call('/api/stats', { as: 'alice' });
    expect(refused.status).toBe(403);
    expect((await json(refused)).error.code).toBe('FORBIDDEN');
    expect((await env.call('/api/stats', { as: null })).status).toBe(401);
    expect((await env.call('/overview', { as: 'alice' })).status).toBe(403);
    const page = await env.call('/overview', { as: 'admin' });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<h1>Overview</h1>');
  });
});
