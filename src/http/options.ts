import type { TaskRegistry } from '../core/registry.ts';
import type { SecretKeySource } from '../core/secrets.ts';
import type { AnyTask } from '../core/task.ts';
import type { Logger } from '../logger.ts';
import type { QueueLimits } from '../queue/limits.ts';
import type { Store } from '../store/store.ts';
import type { AuthOptions } from './auth.ts';
import type { CsrfOptions } from './csrf.ts';
import type { DashboardOptions } from './dashboard/options.ts';
import type { EmailOptions } from './email.ts';
import type { MetricsRegistry } from './metrics.ts';
import type { RateLimitOptions } from './rate-limit.ts';
import type { ShareLinkOptions } from './share-links.ts';
import type { WebhookOptions } from './webhooks.ts';

/**
 * Everything about the HTTP layer that a config file can say: the typed shape of
 * `defineConfig({ http })`. `createUnderway` takes these plus the store and the tasks.
 *
 * @example
 * export default defineConfig({
 *   tasks: [backup],
 *   http: {
 *     auth: { tokens: [{ token: process.env.ADMIN_TOKEN, id: 'ops', roles: ['admin'] }] },
 *     shareLinks: { secret: process.env.UNDERWAY_SHARE_SECRET },
 *     webhooks: { urls: ['https://example.com/hooks/underway'], secret: process.env.HOOK_SECRET },
 *   } satisfies HttpOptions,
 * });
 */
export interface HttpOptions {
  /**
   * The one prefix under which everything of underway lives inside a host app, so it never takes
   * the host's own routes: the API at `{mountPath}/api`, the pages at `{mountPath}` and
   * `{mountPath}/jobs/ID`, the browser bundle at `{mountPath}/assets/underway-client.js`,
   * `{mountPath}/healthz` and `{mountPath}/metrics`. Default `/underway`; `underway serve`, which
   * owns its whole server, uses `` (so `/api`, `/`, `/jobs/ID`, `/healthz`, `/metrics`).
   */
  mountPath?: string | undefined;
  /** Where the API is mounted, overriding `{mountPath}/api`. */
  basePath?: string | undefined;
  /** Where the dashboard's pages and assets live, overriding `{mountPath}`: `urls.page` is `${pagesPath}/jobs/ID`. */
  pagesPath?: string | undefined;
  /** Liveness path, overriding `{mountPath}/healthz`; false leaves it to the host app. */
  healthPath?: string | false | undefined;
  /** Prometheus path, overriding `{mountPath}/metrics`; false turns it off. */
  metricsPath?: string | false | undefined;
  /**
   * A bearer token that may read `/metrics` (for a Prometheus scraper), besides admins. Without
   * one only admins may: a host's visitors never see the counters.
   */
  metricsToken?: string | undefined;
  /**
   * A prom-client `Registry` of the host's: underway registers its metrics there instead of in a
   * registry of its own, so the host's own `/metrics` shows them beside the host's. Give it to
   * one `createUnderway` per process: prom-client allows one metric per name in a registry, so a
   * second one sharing it throws (a TypeError naming the metrics) when it is created. Either way
   * the registry in use is `underway.metrics.registry`, and `metricsPath` serves all of it.
   */
  metricsRegistry?: MetricsRegistry | undefined;
  /** Who is calling. Default: standalone, see AuthOptions. */
  auth?: AuthOptions | undefined;
  shareLinks?: ShareLinkOptions | undefined;
  csrf?: CsrfOptions | undefined;
  /** Job starts (and retries) per user. Default 60 a minute. `false` turns it off. */
  rateLimit?: RateLimitOptions | false | undefined;
  webhooks?: WebhookOptions | undefined;
  /** E-mail to a job's owner when it ends, for the tasks that opt in (`notify: { email: true }`): see EmailOptions. */
  email?: EmailOptions | undefined;
  /** Largest request body, in bytes. Default 1 MiB. */
  bodyLimitBytes?: number | undefined;
  sse?: SseOptions | undefined;
  /**
   * The dashboard (docs/dashboard.md): job list, job pages, start forms and the browser bundle,
   * served under `pagesPath`. Default on; `false` serves the API only.
   */
  dashboard?: boolean | DashboardOptions | undefined;
  /** pino logger for request logs. Default: `createLogger({ name: 'underway-http' })`. */
  logger?: Logger | undefined;
}

export interface SseOptions {
  /** A comment line is sent this often so proxies keep the connection open. Default 15 000 ms. */
  keepAliveMs?: number | undefined;
  /**
   * Bytes a connection may have queued and unsent; a client further behind is dropped (its
   * EventSource reconnects and resumes from a snapshot). Default 256 KiB.
   */
  bufferBytes?: number | undefined;
  /** Recent events kept to replay on `Last-Event-ID` resume. Default 5 000. */
  replayEvents?: number | undefined;
  /**
   * Progress frames a connection gets at most each second for one job; the newest value always
   * follows once the second allows, and status changes are never held back. Default 10;
   * `Infinity` sends every report.
   */
  progressPerSecond?: number | undefined;
}

/** What `createUnderway` needs: the HTTP options plus the store and the tasks. */
export interface UnderwayHttpOptions extends HttpOptions {
  store: Store;
  tasks: readonly AnyTask[] | TaskRegistry;
  /** Seals secret params of jobs started here (see core/secrets.ts). Default: UNDERWAY_SECRET_KEY or the data folder's key file. */
  secretKey?: SecretKeySource | undefined;
  /**
   * The queues' limits, as the workers are given them (the config's `queues`): shown to admins
   * (`GET /queues`) and used to say why a queued job waits ("waiting: queue full"). Workers
   * enforce them; `underway serve` passes the config's.
   */
  queues?: Readonly<Record<string, QueueLimits>> | undefined;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_KEEP_ALIVE_MS = 15_000;
export const DEFAULT_SSE_BUFFER_BYTES = 256 * 1024;
export const DEFAULT_REPLAY_EVENTS = 5_000;
export const DEFAULT_PROGRESS_PER_SECOND = 10;

/** Where each part of underway answers, every option and default applied. */
export interface ResolvedPaths {
  mountPath: string;
  basePath: string;
  pagesPath: string;
  healthPath: string | false;
  metricsPath: string | false;
}

export const DEFAULT_MOUNT_PATH = '/underway';

export function resolvePaths(options: HttpOptions): ResolvedPaths {
  const mountPath = normalizePath(options.mountPath ?? DEFAULT_MOUNT_PATH);
  const absolute = (path: string | false | undefined, fallback: string): string | false =>
    path === false ? false : path === undefined ? fallback : normalizePath(path) || '/';
  return {
    mountPath,
    basePath: normalizePath(options.basePath ?? `${mountPath}/api`),
    pagesPath: normalizePath(options.pagesPath ?? mountPath),
    healthPath: absolute(options.healthPath, `${mountPath}/healthz`),
    metricsPath: absolute(options.metricsPath, `${mountPath}/metrics`),
  };
}

/** Strips a trailing slash and makes sure of a leading one: `api/` → `/api`, `/` → ``. */
export function normalizePath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}
