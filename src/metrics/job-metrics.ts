import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Histogram, Metric, Registry, RegistryContentType } from 'prom-client';
import { JOB_STATUSES, type Job } from '../core/job.ts';
import type { TaskRegistry } from '../core/registry.ts';
import type { StatusCount, Store } from '../store/store.ts';

/** Run-time buckets, in seconds: jobs here run from a second to an hour or so. */
export const RUN_SECONDS_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 14_400];

/** A prom-client registry in either exposition format (Prometheus text or OpenMetrics). */
export type MetricsRegistry = Registry<RegistryContentType>;

/**
 * prom-client is loaded by the first metrics object built, not when this file is imported:
 * `underway worker` imports this (cli/commands/run.ts) but builds metrics only with
 * `--metrics-port`, so a worker process without it never loads the library
 * (test/metrics.test.ts checks). prom-client is CommonJS, so a synchronous require keeps
 * `createUnderway` synchronous.
 */
let promClient: typeof PromClient | undefined;
export function loadPromClient(): typeof PromClient {
  promClient ??= createRequire(import.meta.url)('prom-client') as typeof PromClient;
  return promClient;
}

/** Where the job metrics are read from at scrape time. */
export interface JobMetricsSources {
  /** Read at every scrape for the job counts: true for the whole deployment. */
  store: Pick<Store, 'counts'>;
  /** The tasks this process knows: each gets a line per status, zeros included. */
  tasks: TaskRegistry;
}

/**
 * The job-level metrics every underway process with metrics has, the HTTP server's
 * (http/metrics.ts) and a worker's (`underway worker --metrics-port`, metrics/server.ts):
 *
 * - `underway_jobs{task,status}` and `underway_queue_depth`, read from the store at scrape time
 *   (one `store.counts()` per scrape for both): the same in every process, for the whole deployment;
 * - `underway_job_run_seconds{task,status}`, fed by `observeEnded` with the jobs that ended
 *   through this process (`Jobs.of(store).onEnded`): each job is timed in the one process that
 *   ended it, so summed over processes it counts each job once.
 *
 * Built in no registry: the owner registers `metrics` where it wants them (all or none).
 */
export class JobMetrics {
  /** The metrics, in the order they are shown. */
  readonly metrics: readonly Metric[];
  readonly #runSeconds: Histogram<'task' | 'status'>;
  /** One `store.counts()` per scrape, shared by the two gauges that need it. */
  #counting: Promise<StatusCount[]> | null = null;

  constructor(sources: JobMetricsSources) {
    const prom = loadPromClient();
    const counts = () => this.#counts(sources.store);
    const registers: MetricsRegistry[] = [];

    const jobs = new prom.Gauge({
      name: 'underway_jobs',
      help: 'Jobs in the store, by task and status.',
      labelNames: ['task', 'status'] as const,
      registers,
      async collect() {
        const rows = await counts();
        this.reset();
        // Every status of every task, 0 included: a series that appears only once it is non-zero
        // breaks rate() and alerts on "failed > 0".
        const tasks = new Set([...sources.tasks.names(), ...rows.map((row) => row.task)]);
        for (const task of tasks) for (const status of JOB_STATUSES) this.set({ task, status }, 0);
        for (const row of rows) this.inc({ task: row.task, status: row.status }, row.count);
      },
    });
    const queueDepth = new prom.Gauge({
      name: 'underway_queue_depth',
      help: 'Jobs waiting to run (queued, due or not).',
      registers,
      async collect() {
        const rows = await counts();
        this.set(rows.reduce((sum, row) => sum + (row.status === 'queued' ? row.count : 0), 0));
      },
    });
    this.#runSeconds = new prom.Histogram({
      name: 'underway_job_run_seconds',
      help: 'Run time of jobs that ended through this process.',
      labelNames: ['task', 'status'] as const,
      buckets: RUN_SECONDS_BUCKETS,
      registers,
    });
    this.metrics = [jobs, queueDepth, this.#runSeconds];
  }

  /** A job that ended through this process: its run time goes into the histogram. */
  observeEnded(job: Job): void {
    if (!job.startedAt || !job.finishedAt) return;
    const seconds = Math.max(0, (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000);
    this.#runSeconds.observe({ task: job.task, status: job.status }, seconds);
  }

  #counts(store: Pick<Store, 'counts'>): Promise<StatusCount[]> {
    if (!this.#counting) {
      this.#counting = store.counts().finally(() => {
        this.#counting = null;
      });
    }
    return this.#counting;
  }
}

/** The name a metric was built with (prom-client's types keep it private). */
export function nameOf(metric: Metric): string {
  return (metric as unknown as { name: string }).name;
}
