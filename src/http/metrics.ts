import type { Counter, Metric } from 'prom-client';
import type { Job } from '../core/job.ts';
import type { TaskRegistry } from '../core/registry.ts';
import { JobMetrics, loadPromClient, type MetricsRegistry, nameOf } from '../metrics/job-metrics.ts';
import type { JobEvent, Store } from '../store/store.ts';

export type { MetricsRegistry } from '../metrics/job-metrics.ts';

const EVENT_TYPES: readonly JobEvent['type'][] = ['status', 'progress', 'log'];

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
 * Prometheus metrics of this server process, as prom-client objects in one registry. Job counts
 * and queue depth are read from the store at scrape time (true for the whole deployment); the
 * rest counts what this process saw.
 */
export class HttpMetrics implements UnderwayMetrics {
  readonly registry: MetricsRegistry;
  /** The job metrics a worker process has too (metrics/job-metrics.ts). */
  readonly #jobs: JobMetrics;
  readonly #events: Counter<'type'>;
  readonly #progress: Counter;
  readonly #requests: Counter<'method' | 'code'>;
  /** Every metric of ours by the name it was registered under (OpenMetrics renames counters). */
  readonly #registered = new Map<string, Metric>();

  /** Throws a TypeError when the registry already holds a metric of ours (see `claim`). */
  constructor(sources: MetricsSources) {
    const prom = loadPromClient();
    this.registry = sources.registry ?? new prom.Registry();
    // In no registry yet: `claim` registers them all together, below.
    const registers: MetricsRegistry[] = [];
    // underway_jobs, underway_queue_depth and underway_job_run_seconds: shown first.
    this.#jobs = new JobMetrics({ store: sources.store, tasks: sources.tasks });
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
      ...this.#jobs.metrics,
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
    this.#jobs.observeEnded(job);
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
