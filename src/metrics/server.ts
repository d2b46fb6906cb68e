import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metric } from 'prom-client';
import { toError } from '../core/errors.ts';
import type { TaskRegistry } from '../core/registry.ts';
import { Jobs } from '../jobs/jobs.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
import { JobMetrics, loadPromClient, type MetricsRegistry } from './job-metrics.ts';

/** What a worker tells of itself at scrape time (Worker has both getters). */
export interface WorkerActivity {
  /** Jobs running now (their task, or the writing of their outcome). */
  readonly running: number;
  /** Jobs claimed ahead (`prefetch`) and not started yet. */
  readonly waiting: number;
}

export interface MetricsServerOptions {
  /** The store the worker runs on: jobs ended through it in this process are timed; `/healthz` and the counts read it. */
  store: Store;
  /** The tasks this process knows: each gets a line per status in `underway_jobs`, zeros included. */
  tasks: TaskRegistry;
  /** This process's worker, for its running and prefetched gauges. */
  worker?: WorkerActivity | undefined;
  /** 0 picks a free port (the log line says which). */
  port: number;
  /** Default `127.0.0.1`: this machine only. */
  host?: string | undefined;
  logger: Logger;
}

export interface MetricsServer {
  /** `http://host:port`, without a path. */
  readonly url: string;
  readonly port: number;
  readonly registry: MetricsRegistry;
  /** Stops timing ended jobs and closes the server (requests in flight get a second). */
  close(): Promise<void>;
}

/**
 * The metrics of a worker process (`underway worker --metrics-port`) on a small `node:http`
 * server of its own, without the HTTP API: `GET /metrics` (prom-client's text: the job metrics
 * of metrics/job-metrics.ts, the run-time histogram fed by the jobs this process ended, and the
 * worker's running and prefetched jobs) and `GET /healthz` (200 when the store answers, 503
 * otherwise). Other paths are 404, other methods 405. Nobody signs in: it listens on 127.0.0.1
 * unless told otherwise, for a scraper on the same machine or network.
 *
 * Rejects with the listen error (EADDRINUSE …) when it cannot listen, having subscribed nothing.
 */
export async function serveMetrics(options: MetricsServerOptions): Promise<MetricsServer> {
  const prom = loadPromClient();
  const registry: MetricsRegistry = new prom.Registry();
  const jobMetrics = new JobMetrics({ store: options.store, tasks: options.tasks });
  const metrics: Metric[] = [...jobMetrics.metrics];
  const worker = options.worker;
  if (worker) {
    metrics.push(
      new prom.Gauge({
        name: 'underway_worker_running_jobs',
        help: 'Jobs this worker process is running (their task, or the writing of their outcome).',
        registers: [],
        collect() {
          this.set(worker.running);
        },
      }),
      new prom.Gauge({
        name: 'underway_worker_prefetched_jobs',
        help: 'Jobs this worker process claimed ahead (prefetch) and has not started yet.',
        registers: [],
        collect() {
          this.set(worker.waiting);
        },
      }),
    );
  }
  for (const metric of metrics) registry.registerMetric(metric);

  const jobs = Jobs.of(options.store);
  const log = options.logger;
  const server = createServer((req, res) => {
    answer(req, res).catch((error: unknown) => {
      log.error({ err: toError(error) }, 'metrics server: answering failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'Internal error.\n');
      else res.destroy();
    });
  });

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'Only GET and HEAD are answered here.\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      let text: string;
      try {
        text = await registry.metrics();
      } catch (error) {
        // The job counts come from the store: a store that does not answer fails the scrape.
        log.warn({ err: toError(error) }, 'metrics: the store is not reachable');
        send(res, 503, 'text/plain; charset=utf-8', 'The job store is not reachable.\n');
        return;
      }
      send(res, 200, registry.contentType, text);
      return;
    }
    if (path === '/healthz') {
      try {
        // A primary-key miss: touches the store without scanning anything (as serve's /healthz).
        await jobs.get('healthz-probe');
        sendJson(res, 200, { status: 'ok', store: options.store.kind });
      } catch (error) {
        log.warn({ err: toError(error) }, 'health check: the store is not reachable');
        sendJson(res, 503, { error: { code: 'STORE_UNAVAILABLE', message: 'The job store is not reachable.' } });
      }
      return;
    }
    send(res, 404, 'text/plain; charset=utf-8', 'Not found: this server answers GET /metrics and GET /healthz.\n');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Subscribed once listening: a port in use leaves nothing behind.
  const stopTiming = jobs.onEnded((job) => jobMetrics.observeEnded(job));
  const address = server.address() as AddressInfo;
  const url = `http://${shownHost(address)}:${address.port}`;
  log.info({ url: `${url}/metrics` }, `metrics at ${url}/metrics`);
  return {
    url,
    port: address.port,
    registry,
    close: () => {
      stopTiming();
      return closeServer(server);
    },
  };
}

function shownHost(address: AddressInfo): string {
  if (address.address === '0.0.0.0' || address.address === '::') return 'localhost';
  return address.family === 'IPv6' ? `[${address.address}]` : address.address;
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  // A HEAD request gets the head only: node:http leaves the body out itself.
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), 1_000);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
