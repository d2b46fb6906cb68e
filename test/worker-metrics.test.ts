import { writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { JOB_STATUSES } from '../src/core/job.ts';
import { exited, FIXTURE_CONFIG, killLeftovers, outputOf, runCli, startCli, waitForOutput } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

/** `underway worker --metrics-port`: a worker process's own Prometheus metrics, in real processes. */

const dir = tempDir('underway-worker-metrics-');
afterAll(() => dir.cleanup());
afterEach(async () => {
  expect(await killLeftovers()).toBe(0);
});

let n = 0;
/** A fresh data folder per test, so each starts with an empty store. */
const env = () => ({ UNDERWAY_DATA_DIR: dir.file(`data-${++n}`) });
const TASKS = ['steps', 'effect', 'broken'];

/** The value of one sample line, e.g. `underway_jobs{task="steps",status="queued"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
const jobs = (task: string, status: string) => `underway_jobs{task="${task}",status="${status}"}`;
const runs = (task: string, status: string) => `underway_job_run_seconds_count{task="${task}",status="${status}"}`;

/** Where the worker says its metrics are (port 0: the OS chose). */
async function metricsUrl(worker: Parameters<typeof outputOf>[0]): Promise<string> {
  const match = (await waitForOutput(worker, /metrics at (http:\/\/[\d.:]+)\/metrics/)) as RegExpExecArray;
  return match[1] as string;
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

describe('underway worker --metrics-port', () => {
  it('serves the jobs it ended, the job counts and its health, and stops on SIGTERM', async () => {
    const e = env();
    const worker = await startCli(
      ['--config', FIXTURE_CONFIG, 'worker', '--metrics-port', '0'],
      e,
      'underway worker running',
    );
    const url = await metricsUrl(worker);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const first = await fetch(`${url}/metrics`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
    const empty = await first.text();
    // Every status of every task of the config, 0 included; no HTTP or SSE metrics here.
    for (const task of TASKS) for (const status of JOB_STATUSES) expect(sample(empty, jobs(task, status))).toBe(0);
    expect(sample(empty, 'underway_queue_depth')).toBe(0);
    expect(sample(empty, 'underway_worker_running_jobs')).toBe(0);
    expect(sample(empty, 'underway_worker_prefetched_jobs')).toBe(0);
    expect(empty).toMatch(/^# TYPE underway_job_run_seconds histogram$/m);
    expect(empty).toMatch(/^# HELP underway_job_run_seconds Run time of jobs that ended through this process\.$/m);
    expect(empty).not.toMatch(/underway_http_requests_total|underway_sse_connections/);

    // Started by other processes (the CLI), run and ended by this worker.
    const started = await Promise.all([
      ...[1, 2, 3].map(() =>
        runCli(['--config', FIXTURE_CONFIG, 'start', 'steps', '--params', '{"steps": 2, "stepMs": 10}'], e),
      ),
      runCli(['--config', FIXTURE_CONFIG, 'start', 'broken'], e),
    ]);
    for (const result of started) expect(result).toMatchObject({ code: 0, stderr: '' });

    // Polled, bounded: the histogram counts a job once its end is written by this worker.
    let text = '';
    await vi.waitFor(
      async () => {
        text = await scrape(url);
        expect(sample(text, runs('steps', 'succeeded'))).toBe(3);
        expect(sample(text, runs('broken', 'failed'))).toBe(1);
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(sample(text, 'underway_job_run_seconds_bucket{le="+Inf",task="steps",status="succeeded"}')).toBe(3);
    expect(sample(text, jobs('steps', 'succeeded'))).toBe(3);
    expect(sample(text, jobs('steps', 'queued'))).toBe(0);
    expect(sample(text, jobs('broken', 'failed'))).toBe(1);
    expect(sample(text, jobs('effect', 'succeeded'))).toBe(0);
    expect(sample(text, 'underway_queue_depth')).toBe(0);

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', store: 'sqlite' });
    const head = await fetch(`${url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${url}/api/jobs`)).status).toBe(404);

    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  }, 60_000);

  it('exits 2 in one line when the metrics port is in use, before claiming anything', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const result = await runCli(['--config', FIXTURE_CONFIG, 'worker', '--metrics-port', String(port)], {
        ...env(),
        UNDERWAY_LOG_LEVEL: 'info',
      });
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toMatch(
        new RegExp(
          `(^|\\n)underway: Cannot listen on 127\\.0\\.0\\.1:${port}: another process listens there \\(--metrics-port or --metrics-host choose another\\)\\.\\n$`,
        ),
      );
      expect(result.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
      expect(result.stderr).not.toMatch(/worker started|underway worker running/);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 30_000);

  it("listens where the config's worker.metrics says, and not at all without it", async () => {
    const config = dir.file('metrics.config.ts');
    writeFileSync(
      config,
      `import base from ${JSON.stringify(FIXTURE_CONFIG)};\n` +
        'export default { ...base, worker: { ...base.worker, metrics: { port: 0, host: "127.0.0.1" } } };\n',
    );
    const e = env();
    const configured = await startCli(['--config', config, 'worker'], e, 'underway worker running');
    const url = await metricsUrl(configured);
    const health = await fetch(`${url}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok', store: 'sqlite' });

    const plain = await startCli(['--config', FIXTURE_CONFIG, 'worker'], e, 'underway worker running');
    expect(outputOf(plain)).not.toMatch(/metrics at/);

    for (const worker of [configured, plain]) worker.kill('SIGTERM');
    expect(await Promise.all([exited(configured), exited(plain)])).toEqual([0, 0]);
  }, 60_000);
});
