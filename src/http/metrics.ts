import type { Job } from '../core/job.ts';
import type { JobEvent, Store } from '../store/store.ts';

/** Run-time buckets, in seconds: jobs here run from a second to an hour or so. */
const BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 14_400];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/**
 * Prometheus metrics of this server process. Job counts and queue depth are read from the store
 * at scrape time (true for the whole deployment); the rest counts what this process saw.
 */
export class HttpMetrics {
  readonly #runTimes = new Map<string, Histogram>();
  readonly #events = new Map<JobEvent['type'], number>([
    ['status', 0],
    ['progress', 0],
    ['log', 0],
  ]);
  readonly #requests = new Map<string, number>();

  /** A job that ended through this process: its run time goes into the histogram. */
  observeEnded(job: Job): void {
    if (!job.startedAt || !job.finishedAt) return;
    const seconds = Math.max(0, (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000);
    const key = labels({ task: job.task, status: job.status });
    let histogram = this.#runTimes.get(key);
    if (!histogram) {
      histogram = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#runTimes.set(key, histogram);
    }
    BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) (histogram.counts[i] as number)++;
    });
    histogram.sum += seconds;
    histogram.count++;
  }

  observeEvent(event: JobEvent): void {
    this.#events.set(event.type, (this.#events.get(event.type) ?? 0) + 1);
  }

  observeRequest(method: string, status: number): void {
    const key = labels({ method, code: String(status) });
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  /** The text exposition format, version 0.0.4. */
  async render(store: Store, live: { connections: number; dropped: number }): Promise<string> {
    const counts = await store.counts();
    const out: string[] = [];
    const metric = (name: string, type: string, help: string) =>
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

    metric('underway_jobs', 'gauge', 'Jobs in the store, by task and status.');
    let queued = 0;
    for (const row of counts) {
      out.push(`underway_jobs${labels({ task: row.task, status: row.status })} ${row.count}`);
      if (row.status === 'queued') queued += row.count;
    }
    metric('underway_queue_depth', 'gauge', 'Jobs waiting to run (queued, due or not).');
    out.push(`underway_queue_depth ${queued}`);

    metric('underway_job_run_seconds', 'histogram', 'Run time of jobs that ended through this process.');
    for (const [key, h] of this.#runTimes) {
      const inner = key.slice(1, -1);
      BUCKETS.forEach((bound, i) => {
        out.push(`underway_job_run_seconds_bucket{${inner},le="${bound}"} ${h.counts[i]}`);
      });
      out.push(`underway_job_run_seconds_bucket{${inner},le="+Inf"} ${h.count}`);
      out.push(`underway_job_run_seconds_sum${key} ${h.sum}`, `underway_job_run_seconds_count${key} ${h.count}`);
    }

    metric('underway_progress_events_total', 'counter', 'Progress events heard (rate() gives events/s).');
    out.push(`underway_progress_events_total ${this.#events.get('progress') ?? 0}`);
    metric('underway_job_events_total', 'counter', 'Job events heard, by type.');
    for (const [type, n] of this.#events) out.push(`underway_job_events_total${labels({ type })} ${n}`);

    metric('underway_sse_connections', 'gauge', 'Open server-sent event streams.');
    out.push(`underway_sse_connections ${live.connections}`);
    metric('underway_sse_dropped_total', 'counter', 'Event streams dropped for falling too far behind.');
    out.push(`underway_sse_dropped_total ${live.dropped}`);

    metric('underway_http_requests_total', 'counter', 'HTTP requests answered, by method and status.');
    for (const [key, n] of this.#requests) out.push(`underway_http_requests_total${key} ${n}`);
    return `${out.join('\n')}\n`;
  }
}

function labels(values: Record<string, string>): string {
  const parts = Object.entries(values).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return `{${parts.join(',')}}`;
}
