import type { TaskRegistry } from '../core/registry.ts';
import type { SecretKeySource } from '../core/secrets.ts';
import type { AnyTask } from '../core/task.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
import type { AuthOptions } from './auth.ts';
import type { CsrfOptions } from './csrf.ts';
import type { DashboardOptions } from './dashboard/options.ts';
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
  /** Where the API is mounted. Default `/api`. */
  basePath?: string;
  /** Where the dashboard's job pages live: `urls.page` is `${pagesPath}/jobs/ID`. Default `` (so `/jobs/ID`). */
  pagesPath?: string;
  /** Liveness path, or false to leave it to the host app. Default `/healthz`. */
  healthPath?: string | false;
  /** Prometheus path, or false. Default `/metrics`. */
  metricsPath?: string | false;
  /** Who is calling. Default: standalone, see AuthOptions. */
  auth?: AuthOptions;
  shareLinks?: ShareLinkOptions;
  csrf?: CsrfOptions;
  /** Job starts (and retries) per user. Default 60 a minute. `false` turns it off. */
  rateLimit?: RateLimitOptions | false;
  webhooks?: WebhookOptions;
  /** Largest request body, in bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
  sse?: SseOptions;
  /**
   * The dashboard (docs/dashboard.md): job list, job pages, start forms and the browser bundle,
   * served under `pagesPath`. Default on; `false` serves the API only.
   */
  dashboard?: boolean | DashboardOptions;
  /** pino logger for request logs. Default: `createLogger({ name: 'underway-http' })`. */
  logger?: Logger;
}

export interface SseOptions {
  /** A comment line is sent this often so proxies keep the connection open. Default 15 000 ms. */
  keepAliveMs?: number;
  /**
   * Bytes a connection may have queued and unsent; a client further behind is dropped (its
   * EventSource reconnects and resumes from a snapshot). Default 256 KiB.
   */
  bufferBytes?: number;
  /** Recent events kept to replay on `Last-Event-ID` resume. Default 5 000. */
  replayEvents?: number;
}

/** What `createUnderway` needs: the HTTP options plus the store and the tasks. */
export interface UnderwayHttpOptions extends HttpOptions {
  store: Store;
  tasks: readonly AnyTask[] | TaskRegistry;
  /** Seals secret params of jobs started here (see core/secrets.ts). Default: UNDERWAY_SECRET_KEY or the data folder's key file. */
  secretKey?: SecretKeySource;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_KEEP_ALIVE_MS = 15_000;
export const DEFAULT_SSE_BUFFER_BYTES = 256 * 1024;
export const DEFAULT_REPLAY_EVENTS = 5_000;

/** Strips a trailing slash and makes sure of a leading one: `api/` → `/api`, `/` → ``. */
export function normalizePath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return '';
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}
