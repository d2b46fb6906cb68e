import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JobProgress } from '../src/core/job.ts';
import { defineTask } from '../src/core/task.ts';
import { createWorker, type Worker } from '../src/worker/worker.ts';
import { json, setup, silent, type TestEnv } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';

let env: TestEnv | undefined;
let worker: Worker | undefined;
afterEach(async () => {
  await worker?.stop({ graceMs: 0 });
  worker = undefined;
  await env?.close();
  env = undefined;
});

const progress = (current: number, total: number | null, at: number): JobProgress => ({
  current,
  total,
  percent: total ? (current / total) * 100 : null,
  message: null,
  etaSeconds: null,
  updatedAt: new Date(at).toISOString(),
});

describe('the job page: progress over time and the log by attempt (no browser)', () => {
  it('draws each attempt as its own line, with the numbers in a table, and groups the log under attempt headings', async () => {
    env = setup();
    const { store } = env;
    const created = await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'x' } } });
    const id = (await json(created)).id as string;
    const t0 = Date.UTC(2026, 11, 2, 9, 0, 0);
    const [first] = await store.claim({ workerId: 'w1', tasks: ['echo'], limit: 1, leaseMs: 30_000 });
    if (!first) throw new Error('no claim');
    await store.appendLogs(first.lease, [
      { stream: 'stdout', line: 'copying <files>', at: new Date(t0).toISOString() },
    ]);
    for (const [i, current] of [0, 10, 25].entries()) {
      await store.saveProgress(first.lease, progress(current, 100, t0 + i * 1_000), true);
    }
    await store.finish(first.lease, {
      status: 'retry',
      error: { code: 'TASK_ERROR', message: 'disk full' },
      runAt: new Date().toISOString(),
    });
    const [second] = await store.claim({ workerId: 'w1', tasks: ['echo'], limit: 1, leaseMs: 30_000 });
    if (!second) throw new Error('no claim');
    await store.appendLogs(second.lease, [{ stream: 'stderr', line: 'again', at: new Date(t0 + 5_000).toISOString() }]);
    for (const [i, current] of [20, 60, 100].entries()) {
      await store.saveProgress(second.lease, progress(current, 100, t0 + 5_000 + i * 1_000), true);
    }

    const html = await (await env.call(`/jobs/${id}`)).text();
    const chart = html.slice(html.indexOf('<figure class="uw-chart" id="uw-progress-chart"'));
    expect(chart).toContain('<title id="uw-progress-chart-title">Percent done over time</title>');
    expect(chart).toContain('From 0 % to 100 % in 7 s, over 2 attempts.');
    expect(chart.match(/<polyline[^>]*data-attempt="1"/g)).toHaveLength(1);
    expect(chart.match(/<polyline[^>]*data-attempt="2"/g)).toHaveLength(1);
    // Every sample is a row of the table: after how long, which attempt, how far.
    expect(chart).toContain('<td>2</td><td>60 % (60 of 100)</td>');
    expect(chart.match(/<tr><th scope="row">/g)).toHaveLength(6);

    const log = html.slice(html.indexOf('<h2 id="uw-log-title">'));
    expect(log).toMatch(
      /<h3 class="uw-log-attempt" id="uw-log-attempt-1">Attempt 1<\/h3><pre class="uw-log"[^>]*>09:00:00 copying &lt;files&gt;/,
    );
    expect(log).toMatch(
      /<h3 class="uw-log-attempt" id="uw-log-attempt-2">Attempt 2<\/h3><pre class="uw-log" id="uw-log"[^>]*data-attempt="2"[^>]*>09:00:05 \[stderr\] again/,
    );

    const api = await json(await env.call(`/api/jobs/${id}/progress`));
    expect(api.samples.map((s: { attempt: number; percent: number }) => [s.attempt, s.percent])).toEqual([
      [1, 0],
      [1, 10],
      [1, 25],
      [2, 20],
      [2, 60],
      [2, 100],
    ]);
    expect((await env.call(`/api/jobs/${id}/progress`, { as: 'bob' })).status).toBe(404);
  });

  it('shows no chart and no headings for a job of one attempt that reported once', async () => {
    env = setup();
    worker = env.worker();
    const created = await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'hi' } } });
    const id = (await json(created)).id as string;
    await waitForStatus(env.store, id, 'succeeded');
    const html = await (await env.call(`/jobs/${id}`)).text();
    expect(html).not.toContain('uw-progress-chart');
    expect(html).not.toContain('uw-log-attempt');
    expect(html).toMatch(/<pre class="uw-log" id="uw-log"[^>]*data-attempt="1"/);
  });

  it("a real worker keeps a sample a second and the attempt's last one, and marks each line with its attempt", async () => {
    env = setup();
    let tries = 0;
    const flaky = defineTask({
      name: 'echo', // the API knows this name; the worker runs this body for it
      params: z.object({ text: z.string() }),
      maxAttempts: 2,
      backoff: { type: 'fixed', delaySeconds: 0 },
      async run(_params, ctx) {
        tries++;
        ctx.log(`try ${tries}`);
        for (let i = 1; i <= 50; i++) ctx.progress(i, 50);
        if (tries === 1) throw new Error('first try fails');
        return { tries };
      },
    });
    worker = createWorker({ store: env.store, tasks: [flaky], logger: silent, pollMs: 20 }).start();
    const created = await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'x' } } });
    const id = (await json(created)).id as string;
    await waitForStatus(env.store, id, 'succeeded');
    // 50 quick updates per attempt: the first is sampled, the rest fall within its second, and
    // the end of each attempt adds its last one (50 of 50) so the line ends where the bar did.
    const samples = await env.store.progressSamples(id);
    expect(samples.map((s) => [s.attempt, s.current])).toEqual([
      [1, 1],
      [1, 50],
      [2, 1],
      [2, 50],
    ]);
    expect((await env.store.readLogs(id)).filter((l) => l.stream === 'stdout').map((l) => [l.line, l.attempt])).toEqual(
      [
        ['try 1', 1],
        ['try 2', 2],
      ],
    );
  });
});
