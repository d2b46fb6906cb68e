import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { Counter, Gauge, type OpenMetricsContentType, Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JOB_STATUSES } from '../src/core/job.ts';
import { TaskRegistry } from '../src/core/registry.ts';
import { createUnderway, type HttpOptions } from '../src/http/index.ts';
import { HttpMetrics } from '../src/http/metrics.ts';
import { gates, json, setup, silent, type TestEnv, testTasks } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';

let env: TestEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

function open(options?: HttpOptions): TestEnv {
  env = setup(options);
  return env;
}

async function scrape(test: TestEnv): Promise<string> {
  const response = await test.call('/metrics', { as: 'admin' });
  expect(response.status).toBe(200);
  return response.text();
}

async function start(test: TestEnv, task: string, params: unknown): Promise<string> {
  const response = await test.call('/api/jobs', { method: 'POST', body: { task, params } });
  expect(response.status).toBe(201);
  return (await json(response)).id as string;
}

/** The value of one sample line, e.g. `underway_jobs{task="echo",status="queued"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const jobs = (task: string, status: string) => `underway_jobs{task="${task}",status="${status}"}`;

const TYPES: Record<string, string> = {
  underway_jobs: 'gauge',
  underway_queue_depth: 'gauge',
  underway_job_run_seconds: 'histogram',
  underway_progress_events_total: 'counter',
  underway_job_events_total: 'counter',
  underway_sse_connections: 'gauge',
  underway_sse_dropped_total: 'counter',
  underway_http_requests_total: 'counter',
};

/**
 * Reads the text exposition format (0.0.4) strictly: HELP and TYPE before each family's samples,
 * every sample of the family announced last, label values quoted, values numbers.
 */
function parseExposition(text: string): Map<string, { type: string; samples: string[] }> {
  const families = new Map<string, { type: string; samples: string[] }>();
  let current: string | null = null;
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleLine = new RegExp(
    `^(${name})(\\{(${name}="(?:[^"\\\\\\n]|\\\\.)*")(,${name}="(?:[^"\\\\\\n]|\\\\.)*")*\\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$`,
  );
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      current = type[1] as string;
      expect(families.has(current), `${current} announced twice`).toBe(false);
      families.set(current, { type: type[2] as string, samples: [] });
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const match = sampleLine.exec(line);
    expect(match, `not a sample line: ${line}`).not.toBeNull();
    const family = current === null ? undefined : families.get(current);
    expect(family, `sample before any TYPE: ${line}`).toBeDefined();
    const metric = match?.[1] as string;
    const allowed =
      family?.type === 'histogram' ? [`${current}_bucket`, `${current}_sum`, `${current}_count`] : [current as string];
    expect(allowed, `${metric} under # TYPE ${current}`).toContain(metric);
    family?.samples.push(line);
  }
  return families;
}

describe('/metrics through prom-client', () => {
  it('reports every status of every task, with 0 where there are none', async () => {
    const test = open();
    const text = await scrape(test);
    const tasks = testTasks.map((t) => t.name);
    expect(tasks).toEqual(['echo', 'gate', 'fail']);
    for (const task of tasks) {
      for (const status of JOB_STATUSES) expect(sample(text, jobs(task, status)), jobs(task, status)).toBe(0);
    }
    expect(sample(text, 'underway_queue_depth')).toBe(0);
    expect(sample(text, 'underway_sse_connections')).toBe(0);
    expect(sample(text, 'underway_sse_dropped_total')).toBe(0);
    expect(sample(text, 'underway_progress_events_total')).toBe(0);
    for (const type of ['status', 'progress', 'log']) {
      expect(sample(text, `underway_job_events_total{type="${type}"}`), type).toBe(0);
    }
  });

  it('moves the counts as jobs start, run and end', async () => {
    const test = open();
    const echo = await start(test, 'echo', { text: 'a' });
    const gate = await start(test, 'gate', { key: 'metrics-moves' });
    let text = await scrape(test);
    expect(sample(text, jobs('echo', 'queued'))).toBe(1);
    expect(sample(text, jobs('gate', 'queued'))).toBe(1);
    expect(sample(text, 'underway_queue_depth')).toBe(2);
    expect(sample(text, 'underway_http_requests_total{method="POST",code="201"}')).toBe(2);

    test.worker();
    await waitForStatus(test.store, echo, 'succeeded');
    await waitForStatus(test.store, gate, 'running');
    text = await scrape(test);
    expect(sample(text, jobs('echo', 'queued'))).toBe(0);
    expect(sample(text, jobs('echo', 'succeeded'))).toBe(1);
    expect(sample(text, jobs('gate', 'running'))).toBe(1);
    expect(sample(text, 'underway_queue_depth')).toBe(0);
    // Ended through this process (the worker has underway.store): timed once.
    expect(sample(text, 'underway_job_run_seconds_count{task="echo",status="succeeded"}')).toBe(1);
    expect(sample(text, 'underway_job_run_seconds_bucket{le="+Inf",task="echo",status="succeeded"}')).toBe(1);

    await vi.waitFor(() => expect(gates.has('metrics-moves')).toBe(true));
    gates.get('metrics-moves')?.();
    await waitForStatus(test.store, gate, 'succeeded');
    const failed = await start(test, 'fail', {});
    await waitForStatus(test.store, failed, 'failed');
    // Events reach the fan-out through the store's subscription, a moment after the status is stored.
    await vi.waitFor(async () => {
      text = await scrape(test);
      expect(sample(text, 'underway_job_events_total{type="status"}')).toBeGreaterThanOrEqual(9);
    });
    expect(sample(text, jobs('gate', 'running'))).toBe(0);
    expect(sample(text, jobs('gate', 'succeeded'))).toBe(1);
    expect(sample(text, jobs('fail', 'failed'))).toBe(1);
    expect(sample(text, jobs('fail', 'queued'))).toBe(0);
    expect(sample(text, 'underway_job_run_seconds_count{task="fail",status="failed"}')).toBe(1);
    expect(sample(text, 'underway_progress_events_total')).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'underway_progress_events_total')).toBe(
      sample(text, 'underway_job_events_total{type="progress"}'),
    );
  });

  it('answers the text format, every family announced by # HELP and # TYPE', async () => {
    const test = open();
    await start(test, 'echo', { text: 'a' });
    test.worker();
    await start(test, 'echo', { text: 'b' }).then((id) => waitForStatus(test.store, id, 'succeeded'));
    const response = await test.call('/metrics', { as: 'admin' });
    expect(response.headers.get('content-type')).toBe(test.underway.metrics.registry.contentType);
    expect(response.headers.get('content-type')).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
    const text = await response.text();
    const families = parseExposition(text);
    expect(Object.fromEntries([...families].map(([name, family]) => [name, family.type]))).toEqual(TYPES);
    for (const name of Object.keys(TYPES)) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S.*\\n# TYPE ${name} `, 'm'));
    }
    const histogram = families.get('underway_job_run_seconds')?.samples ?? [];
    expect(histogram.filter((l) => l.startsWith('underway_job_run_seconds_bucket{')).length).toBeGreaterThanOrEqual(9);
  });

  it("registers in a host's registry, beside the host's own metrics", async () => {
    const registry = new Registry();
    const orders = new Counter({ name: 'host_orders_total', help: 'Orders taken.', registers: [registry] });
    orders.inc(3);
    const test = open({ metricsRegistry: registry });
    await start(test, 'echo', { text: 'a' });
    expect(test.underway.metrics.registry).toBe(registry);

    const text = await registry.metrics();
    expect(sample(text, 'host_orders_total')).toBe(3);
    expect(sample(text, jobs('echo', 'queued'))).toBe(1);
    expect(sample(text, jobs('gate', 'queued'))).toBe(0);
    expect(sample(text, 'underway_queue_depth')).toBe(1);
    // underway's own path serves the registry it registered in: the host's metrics too.
    const served = await scrape(test);
    expect(sample(served, 'host_orders_total')).toBe(3);
    expect(sample(served, jobs('echo', 'queued'))).toBe(1);
  });

  it("answers in the host registry's own format (OpenMetrics)", async () => {
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const test = open({ metricsRegistry: registry });
    const response = await test.call('/metrics', { as: 'admin' });
    expect(response.headers.get('content-type')).toBe(registry.contentType);
    expect(response.headers.get('content-type')).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
    const text = await response.text();
    expect(text.endsWith('# EOF\n')).toBe(true);
    expect(text).toContain('# TYPE underway_sse_dropped counter');
    expect(sample(text, 'underway_sse_dropped_total')).toBe(0);
  });

  it('refuses a second createUnderway on the same registry, with a clear error and nothing half-registered', async () => {
    const registry = new Registry();
    const test = open({ metricsRegistry: registry });
    const twice = () =>
      createUnderway({ store: test.store, tasks: testTasks, logger: silent, metricsRegistry: registry });
    expect(twice).toThrow(TypeError);
    expect(twice).toThrow(/metricsRegistry given to createUnderway already has metrics named underway_jobs, /);
    expect(twice).toThrow(/give each its own registry/);
    // The first one's metrics are still the ones registered, and still counted.
    await start(test, 'echo', { text: 'a' });
    expect(sample(await registry.metrics(), jobs('echo', 'queued'))).toBe(1);

    // A host metric of one of underway's names: refused before anything is registered.
    const host = new Registry();
    new Gauge({ name: 'underway_queue_depth', help: "The host's own.", registers: [host] });
    expect(() =>
      createUnderway({ store: test.store, tasks: testTasks, logger: silent, metricsRegistry: host }),
    ).toThrow(/already has metrics named underway_queue_depth\./);
    expect(host.getMetricsAsArray()).toHaveLength(1);
  });

  it('takes its metrics out of a registry again (unregister), leaving the rest', async () => {
    const registry = new Registry();
    new Counter({ name: 'host_orders_total', help: 'Orders taken.', registers: [registry] });
    const sources = {
      registry,
      store: { counts: async () => [] },
      tasks: new TaskRegistry(testTasks),
      sse: () => ({ connections: 0, dropped: 0 }),
    };
    const first = new HttpMetrics(sources);
    expect(registry.getMetricsAsArray()).toHaveLength(9);
    first.unregister();
    expect(registry.getMetricsAsArray()).toHaveLength(1);
    const second = new HttpMetrics(sources);
    expect(sample(await registry.metrics(), jobs('fail', 'cancelled'))).toBe(0);
    second.unregister();
  });

  it('reads job counts once per scrape, for both gauges that need them', async () => {
    let reads = 0;
    const metrics = new HttpMetrics({
      store: {
        counts: async () => {
          reads++;
          return [{ task: 'echo', status: 'queued', count: 4 }];
        },
      },
      tasks: new TaskRegistry(testTasks),
      sse: () => ({ connections: 2, dropped: 5 }),
    });
    const text = await metrics.render();
    expect(reads).toBe(1);
    expect(sample(text, jobs('echo', 'queued'))).toBe(4);
    expect(sample(text, 'underway_queue_depth')).toBe(4);
    expect(sample(text, 'underway_sse_connections')).toBe(2);
    expect(sample(text, 'underway_sse_dropped_total')).toBe(5);
    await metrics.render();
    expect(reads).toBe(2);
  });

  it('leaves prom-client out of a worker process: only building the HTTP metrics loads it', async () => {
    const root = resolve(import.meta.dirname, '..');
    const script = `
      import { createRequire } from 'node:module';
      const cache = createRequire(import.meta.url).cache;
      const loaded = () => Object.keys(cache).some((path) => /[\\\\/]node_modules[\\\\/]prom-client[\\\\/]/.test(path));
      await import(${JSON.stringify(resolve(root, 'src/cli/commands/run.ts'))});
      await import(${JSON.stringify(resolve(root, 'src/worker/index.ts'))});
      const before = loaded();
      const { HttpMetrics } = await import(${JSON.stringify(resolve(root, 'src/http/metrics.ts'))});
      const { TaskRegistry } = await import(${JSON.stringify(resolve(root, 'src/core/registry.ts'))});
      new HttpMetrics({ store: { counts: async () => [] }, tasks: new TaskRegistry(), sse: () => ({ connections: 0, dropped: 0 }) });
      console.log(JSON.stringify({ before, after: loaded() }));
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      { cwd: root },
    );
    expect(JSON.parse(stdout)).toEqual({ before: false, after: true });
  }, 30_000);
});
