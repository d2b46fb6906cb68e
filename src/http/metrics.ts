import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Counter, Histogram, Metric, Registry, RegistryContentType } from 'prom-client';
import { JOB_STATUSES, type Job } from '../core/job.ts';
import type { TaskRegistry } from '../core/registry.ts';
import type { JobEvent, StatusCount, Store } from '../store/store.ts';

/** Run-time buckets, in seconds: jobs here run from a second to an hour or so. */
const BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 14_400];

const EVENT_TYPES: readonly JobEvent['type'][] = ['status', 'progress', 'log'];

/** A prom-client registry in either exposition format (Prometheus text or OpenMetrics). */
export type MetricsRegistry = Registry<RegistryContentType>;

/** What a host may read of underway's metrics: `underway.metrics`. */
export interface UnderwayMetrics {
  /**
   * The prom-client registry underway's metrics are registered in: the `metricsRegistry` option
   * when given, else a registry of underway's own.
   *
   * @example
   * res.type(underway.metrics.registry.contentType).send(await underway.metrics.registry.metrics());
   */
  readonly registry: MetricsRegistry;
}

/** Where the scrape-time metrics are read from. */
export interface MetricsSources {
  /** The host's registry (`metricsRegistry`); default, a new one of underway's own. */
  registry?: MetricsRegistry | undefined;
  /** Read at every scrape for the job counts: true for the whole deployment. */
  store: Pick<Store, 'counts'>;
  /** The tasks this server knows: each gets a line per status, zeros included. */
  tasks: TaskRegistry;
  /** The event streams of this process, read at every scrape. */
  sse: () => { readonly connections: number; readonly dropped: number };
}

/**
 * prom-client is loaded by the first HttpMetrics, not when this file is imported: `underway
 * worker` imports the http layer (cli/commands/run.ts holds `serve` too) but never builds one,
 * so a worker process never loads the library (test/metrics.test.ts checks). prom-client is
 * CommonJS, so a synchronous require keeps `createUnderway` synchronous.
 */
let promClient: typeof PromClient | undefined;
function loadPromClient(): typeof PromClient {
  promClient ??= createRequire(import.meta.url)('prom-client') as typeof PromClient;
  return promClient;
}

/**
 * Prometheus metrics of this server process, as prom-client objects in one registry. Job counts
 * and queue depth are read from the store at scrape time (true for the whole deployment); the
 * rest counts what this process saw.
 */
export class HttpMetrics implements UnderwayMetrics {
  readonly registry: MetricsRegistry;
  readonly #runSeconds: Histogram<'task' | 'status'>;
  readonly #events: Counter<'type'>;
  readonly #progress: Counter;
  readonly #requests: Counter<'method' | 'code'>;
  /** Every metric of ours by the name it was registered under (OpenMetrics renames counters). */
  readonly #registered = new Map<string, Metric>();
  /** One `store.counts()` per scrape, shared by the two gauges that need it. */
  #counting: Promise<StatusCount[]> | null = null;

  /** Throws a TypeError when the registry already holds a metric of ours (see `claim`). */
  constructor(sources: MetricsSources) {
    const prom = loadPromClient();
    this.registry = sources.registry ?? new prom.Registry();
    const counts = () => this.#counts(sources.store);
    // In no registry yet: `claim` registers them all together, below.
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
      buckets: BUCKETS,
      registers,
    });
    this.#progress = new prom.Counter({
      name: 'underway_progress_events_total',
      help: 'Progress events heard (rate() gives events/s).',
      registers,
    });
    this.#events = new prom.Counter({
      name: 'underway_job_events_total',
      help: 'Job events heard, by type.',
      labelNames: ['type'] as const,
      registers,
    });
    for (const type of EVENT_TYPES) this.#events.inc({ type }, 0);
    const connections = new prom.Gauge({
      name: 'underway_sse_connections',
      help: 'Open server-sent event streams.',
      registers,
      collect() {
        this.set(sources.sse().connections);
      },
    });
    // The event fan-out keeps this count itself; the counter takes its value at scrape time.
    const dropped = new prom.Counter({
      name: 'underway_sse_dropped_total',
      help: 'Event streams dropped for falling too far behind.',
      registers,
      collect() {
        this.reset();
        this.inc(sources.sse().dropped);
      },
    });
    this.#requests = new prom.Counter({
      name: 'underway_http_requests_total',
      help: 'HTTP requests answered, by method and status.',
      labelNames: ['method', 'code'] as const,
      registers,
    });

    const metrics: Metric[] = [
      jobs,
      queueDepth,
      this.#runSeconds,
      this.#progress,
      this.#events,
      connections,
      dropped,
      this.#requests,
    ];
    claim(this.registry, metrics);
    for (const metric of metrics) this.#registered.set(nameOf(metric), metric);
  }

  /** A job that ended through this process: its run time goes into the histogram. */
  observeEnded(job: Job): void {
    if (!job.startedAt || !job.finishedAt) return;
    const seconds = Math.max(0, (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000);
    this.#runSeconds.observe({ task: job.task, status: job.status }, seconds);
  }

  observeEvent(event: JobEvent): void {
    this.#events.inc({ type: event.type });
    if (event.type === 'progress') this.#progress.inc();
  }

  observeRequest(method: string, status: number): void {
    this.#requests.inc({ method, code: String(status) });
  }

  /** The registry's text, in its own format (`registry.contentType`). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * Takes underway's metrics out of the registry (a host's registry outlives this server), so
   * another `createUnderway` may register there. Metrics of the same names that are not these
   * are left alone.
   */
  unregister(): void {
    for (const [name, metric] of this.#registered) {
      if (this.registry.getSingleMetric(name) === metric) this.registry.removeSingleMetric(name);
    }
    this.#registered.clear();
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

/**
 * Registers all the metrics or none. prom-client refuses a second metric of a name (it throws
 * "A metric with the name … has already been registered"): that happens when two
 * `createUnderway` in one process share a `metricsRegistry`, or the host has a metric of one of
 * these names. Checking first keeps a half-registered set out of the host's registry.
 */
function claim(registry: MetricsRegistry, metrics: readonly Metric[]): void {
  const taken = metrics.map(nameOf).filter((name) => registry.getSingleMetric(name) !== undefined);
  if (taken.length === 0) {
    for (const metric of metrics) registry.registerMetric(metric);
    return;
  }
  // Only a host's registry can hold them already: underway's own is new.
  throw new TypeError(
    `The metricsRegistry given to createUnderway already has metrics named ${taken.join(', ')}. prom-client allows one metric per ` +
      'name in a registry: another createUnderway in this process registered them there (give ' +
      "each its own registry, or the host's registry to one of them only), or the host has " +
      'metrics of those names.',
  );
}

/** The name a metric was built with (prom-client's types keep it private). */
function nameOf(metric: Metric): string {
  return (metric as unknown as { name: string }).name;
}
