import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono, type MiddlewareHandler } from 'hono';
import { TaskRegistry } from '../core/registry.ts';
import { createLogger, type Logger } from '../logger.ts';
import { createQueue, type Queue } from '../queue/queue.ts';
import type { Store } from '../store/store.ts';
import { Authenticator, type HostRequest } from './auth.ts';
import { readBodyWithin, refuseNul } from './body.ts';
import { type AppEnv, type Deps, hostOf } from './context.ts';
import { CsrfGuard } from './csrf.ts';
import { createStartOrWait, dashboardRoutes, type StartOrWait } from './dashboard/index.ts';
import { errorHandler, HttpError, notFoundHandler, unauthenticated } from './errors.ts';
import { adoptParsedBody, drainBodyOfRead } from './host-body.ts';
import { jobUrls } from './job-json.ts';
import { HttpMetrics, type UnderwayMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import {
  DEFAULT_BODY_LIMIT,
  DEFAULT_KEEP_ALIVE_MS,
  DEFAULT_PROGRESS_PER_SECOND,
  DEFAULT_REPLAY_EVENTS,
  DEFAULT_SSE_BUFFER_BYTES,
  type ResolvedPaths,
  resolvePaths,
  type UnderwayHttpOptions,
} from './options.ts';
import type { OutboxDispatcher } from './outbox.ts';
import { StartLimiter } from './rate-limit.ts';
import { assetRoutes } from './routes/assets.ts';
import { bulkRoutes } from './routes/bulk.ts';
import { eventRoutes } from './routes/events.ts';
import { jobReadRoutes } from './routes/job-read.ts';
import { jobWebhookRoutes } from './routes/job-webhooks.ts';
import { jobRoutes } from './routes/jobs.ts';
import { healthRoute, metricsRoute, supportRoutes } from './routes/ops.ts';
import { queueRoutes } from './routes/queues.ts';
import { scheduleRoutes } from './routes/schedules.ts';
import { statsRoutes } from './routes/stats.ts';
import { taskRoutes } from './routes/tasks.ts';
import { ShareLinks } from './share-links.ts';
import { EventFanout } from './sse.ts';
import { startWebhooks } from './start-webhooks.ts';

/** A node request handler; with `next` (Express, Connect) requests outside underway's paths are passed on. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** What `fetch` takes beside the request: the Node request (for the peer address) and the host's own request. */
export interface FetchEnv {
  incoming?: IncomingMessage;
  host?: HostRequest;
}

/** The mounted API: one per server process. */
export interface Underway {
  /** Fetch-standard handler: Next.js route handlers (see `underway/next`), Bun, Deno. Answers every path it is given. */
  fetch(request: Request, env?: FetchEnv): Promise<Response>;
  /**
   * For Express and Connect (`app.use(underway.nodeHandler)`) and `node:http` servers: handles
   * underway's paths (under `mountPath`) and passes the rest to `next`. Works after the host's
   * body parsers; `authenticate` gets the host's `req` as `host.node`.
   */
  nodeHandler: NodeHandler;
  /**
   * Like `nodeHandler`, for adapters that know more of the host (the Fastify plugin): `host` is
   * passed on to `authenticate`. Answers every path it is given.
   */
  handleNode(req: IncomingMessage, res: ServerResponse, host: HostRequest): void;
  /** Hono middleware for a host Hono app (`app.use(underway.hono)`): underway's paths, the rest passed on. */
  hono: MiddlewareHandler;
  /** Whether a path (without query) is one of underway's: what `nodeHandler` and `hono` answer. */
  owns(path: string): boolean;
  /** The Hono app itself (for `app.request()` in tests, or `app.route()` into a host Hono app). */
  app: Hono<AppEnv>;
  /**
   * The store this app was given. A worker on it, in this process, is seen by the metrics: jobs
   * ended anywhere in the process go through the one Jobs layer of this store (`queue.jobs`).
   */
  store: Store;
  queue: Queue;
  /**
   * The outbox sender of this process, when webhooks or e-mail are configured: the delivery log
   * (from the store, shared by every process), and `idle()` to wait until this process has nothing to send.
   */
  webhooks: Pick<OutboxDispatcher, 'deliveries' | 'idle'> | null;
  /**
   * The prom-client registry holding underway's metrics (the `metricsRegistry` option, else its
   * own), for a host that serves or merges them itself.
   */
  metrics: UnderwayMetrics;
  /**
   * The full-focus flow: starts a job and answers with its result when it ends within the
   * acceptable wait (500 ms), or with a waiting page that moves on when it ends
   * (docs/dashboard.md). Needs the dashboard (for the waiting page's route and assets).
   */
  startOrWait: StartOrWait;
  /**
   * Where a job lives: its page (for a redirect after starting it), its JSON, its event stream.
   *
   * @example
   * const { job } = await underway.queue.start(report, { month }, { owner: req.user.id });
   * res.redirect(303, underway.urls(job.id).page); // /underway/jobs/ID
   */
  urls(id: string): { page: string; self: string; events: string; logs: string };
  /** Where everything of underway lives, e.g. `/underway` (docs/http.md). */
  mountPath: string;
  /** Where the API lives, e.g. `/underway/api`. */
  basePath: string;
  /** Every path, resolved: mount, API, pages, health, metrics. */
  paths: ResolvedPaths;
  /** How callers are recognised, in words, for the startup log. */
  describeAuth(): string;
  /** Ends event streams, stops webhook retries and the store subscription. Does not close the store. */
  close(): Promise<void>;
}

/**
 * Builds the HTTP API (http-api.md) over a store and the tasks this server knows.
 *
 * @example
 * const underway = createUnderway({ store, tasks: [backup], auth: { authenticate: sessionUser } });
 * expressApp.use(underway.nodeHandler);               // /underway/api, /underway/jobs/ID, …
 * const worker = createWorker({ store, tasks: [backup] }).start();
 */
export function createUnderway(options: UnderwayHttpOptions): Underway {
  const log: Logger = options.logger ?? createLogger({ name: 'underway-http' });
  const resolved = resolvePaths(options);
  const { basePath } = resolved;
  const paths = { basePath, pagesPath: resolved.pagesPath };
  const tasks = options.tasks instanceof TaskRegistry ? options.tasks : new TaskRegistry(options.tasks);
  // The event fan-out is read at scrape time only, after it exists.
  const metrics = new HttpMetrics({
    registry: options.metricsRegistry,
    store: options.store,
    tasks,
    sse: () => fanout,
  });
  // Durable, from the store's ended jobs (outbox.ts: webhooks, e-mail): nothing hangs on the transitions.
  const webhooks = startWebhooks({ store: options.store, tasks, http: options, logger: log });
  const queue = createQueue({ store: options.store, tasks, secretKey: options.secretKey, queues: options.queues });
  // Whoever ends a job in this process (this app's cancel, a worker on the same store, the reaper).
  const stopTiming = queue.jobs.onEnded((job) => metrics.observeEnded(job));
  const sse = options.sse ?? {};
  const fanout = new EventFanout(queue.jobs, {
    keepAliveMs: sse.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS,
    bufferBytes: sse.bufferBytes ?? DEFAULT_SSE_BUFFER_BYTES,
    replayEvents: sse.replayEvents ?? DEFAULT_REPLAY_EVENTS,
    progressPerSecond: sse.progressPerSecond ?? DEFAULT_PROGRESS_PER_SECOND,
    onEvent: (event) => metrics.observeEvent(event),
  });
  const shareLinks = new ShareLinks(options.shareLinks);
  if (shareLinks.ephemeral) log.warn('no shareLinks.secret configured: share links last only as long as this process');
  const deps: Deps = {
    jobs: queue.jobs,
    queue,
    tasks,
    auth: new Authenticator(options.auth),
    shareLinks,
    csrf: new CsrfGuard(options.csrf),
    limiter: options.rateLimit === false ? null : new StartLimiter(options.rateLimit),
    fanout,
    metrics,
    webhooks,
    paths,
    log,
  };
  const app = buildApp(deps, options, resolved);
  const owns = ownedPaths(resolved, options.dashboard !== false);
  // The host's request rides on the Node request into Hono's env (the listener builds the env).
  const hosts = new WeakMap<IncomingMessage, HostRequest>();
  const listener = getRequestListener(
    (request, env) => {
      const incoming = env.incoming as IncomingMessage;
      return app.fetch(request, { incoming, host: hosts.get(incoming) ?? { node: incoming } });
    },
    { overrideGlobalObjects: false },
  );
  const handleNode = (req: IncomingMessage, res: ServerResponse, host: HostRequest) => {
    // Express keeps the full path in originalUrl and strips its mount point from url.
    req.url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
    hosts.set(req, host);
    const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
    Promise.all([drainBodyOfRead(req, limit), adoptParsedBody(req)]).then(
      ([withinLimit]) => {
        if (withinLimit) return listener(req, res);
        res.writeHead(413, { 'Content-Type': 'application/json', Connection: 'close' });
        res.end(
          JSON.stringify({
            error: { code: 'PAYLOAD_TOO_LARGE', message: `The request body is larger than ${limit} bytes.` },
          }),
        );
      },
      (error: unknown) => {
        log.error({ err: error }, "could not read the body the host app's parser left");
        res.statusCode = 400;
        res.end();
      },
    );
  };

  return {
    fetch: async (request, env) => app.fetch(request, env ?? {}),
    nodeHandler(req, res, next) {
      const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
      if (next && !owns(url.split('?')[0] ?? '/')) return next();
      handleNode(req, res, { node: req });
    },
    handleNode,
    hono: async (c, next) => {
      if (!owns(c.req.path)) return next();
      const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
      return app.fetch(c.req.raw, { incoming, host: { hono: c, ...(incoming ? { node: incoming } : {}) } });
    },
    owns,
    app,
    store: options.store,
    queue,
    webhooks,
    metrics,
    startOrWait: createStartOrWait(deps, {
      ...dashboardOptions(options),
      title: dashboardOptions(options).title ?? 'underway',
    }),
    urls(id) {
      const { artifact: _, ...urls } = jobUrls(id, paths);
      return urls;
    },
    mountPath: resolved.mountPath,
    basePath,
    paths: resolved,
    describeAuth: () => deps.auth.describe(),
    async close() {
      fanout.close();
      stopTiming();
      // A host's registry outlives this app: take underway's metrics back out of it.
      metrics.unregister();
      await webhooks?.close();
    },
  };
}

function buildApp(deps: Deps, options: UnderwayHttpOptions, paths: ResolvedPaths): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const onError = errorHandler(deps.log);
  app.onError(onError);
  app.notFound(notFoundHandler);
  app.use(requestLog(deps));
  app.use(refuseNul());
  app.use(readBodyWithin(options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT));
  // Every answer, JSON and errors included: a browser must never guess a job's text into HTML.
  app.use(async (c, next) => {
    await next();
    if (!c.res.headers.has('X-Content-Type-Options')) c.res.headers.set('X-Content-Type-Options', 'nosniff');
  });

  const { healthPath, metricsPath } = paths;
  if (healthPath !== false) app.route('/', healthRoute(deps, healthPath));
  if (metricsPath !== false) app.route('/', metricsRoute(deps, metricsPath, options.metricsToken));

  const api = new Hono<AppEnv>();
  api.onError(onError);
  // Readable without signing in: the API's description and the CSRF token (harmless without a session).
  const publicPaths = new Set([`${deps.paths.basePath}/openapi.json`, `${deps.paths.basePath}/csrf`]);
  const document = openApiDocument({ ...deps.paths, healthPath, metricsPath });
  api.use(async (c, next) => {
    const remote = c.env?.incoming?.socket?.remoteAddress;
    const base = await deps.auth.resolve(c.req.raw, remote, hostOf(c));
    const token = c.req.query('share') ?? c.req.header('x-underway-share') ?? null;
    const shareJobId = token ? deps.shareLinks.verify(token) : null;
    if (token && shareJobId === null && !base.user) {
      throw new HttpError(401, 'SHARE_LINK_INVALID', 'This share link is not valid or has expired.');
    }
    const caller = { ...base, shareJobId };
    c.set('caller', caller);
    c.set('shareToken', shareJobId ? token : null);
    if (!caller.user && !shareJobId && !publicPaths.has(c.req.path)) throw unauthenticated();
    // A share link only reads: anything else needs a user, whatever the CSRF check would say.
    if (!caller.user && c.req.method !== 'GET' && c.req.method !== 'HEAD') throw unauthenticated();
    deps.csrf.check(c, caller);
    await next();
  });
  api.route('/', taskRoutes(deps));
  api.route('/', queueRoutes(deps));
  api.route('/', statsRoutes(deps));
  api.route('/', scheduleRoutes(deps));
  api.route('/', jobRoutes(deps));
  api.route('/', bulkRoutes(deps));
  api.route('/', jobReadRoutes(deps));
  api.route('/', eventRoutes(deps));
  api.route('/', supportRoutes(deps));
  api.route('/', jobWebhookRoutes(deps));
  api.get('/openapi.json', (c) => c.json(document));
  app.route(deps.paths.basePath || '/', api);
  // The browser bundle and stylesheet go with the API, for the host's own pages, dashboard or not.
  app.route(deps.paths.pagesPath || '/', assetRoutes());
  // The dashboard's pages, after the API so its paths win when both could match.
  if (options.dashboard !== false) {
    const pages = deps.paths.pagesPath;
    if (pages) app.get(`${pages}/`, (c) => c.redirect(pages, 308));
    app.route(pages || '/', dashboardRoutes(deps, dashboardOptions(options)));
  }
  return app;
}

function dashboardOptions(options: UnderwayHttpOptions) {
  return typeof options.dashboard === 'object' ? options.dashboard : {};
}

/** One pino line per request: never the query string, which may hold a share token. */
function requestLog(deps: Deps) {
  return async (c: import('hono').Context<AppEnv>, next: () => Promise<void>) => {
    const started = performance.now();
    await next();
    const status = c.res.status;
    deps.metrics.observeRequest(c.req.method, status);
    const fields = {
      method: c.req.method,
      path: c.req.path,
      status,
      ms: Math.round(performance.now() - started),
      user: c.get('caller')?.user?.id,
    };
    if (status >= 500) deps.log.error(fields, 'request');
    else deps.log.info(fields, 'request');
  };
}

function ownedPaths(paths: ResolvedPaths, dashboard: boolean): (path: string) => boolean {
  const exact = new Set<string>();
  if (paths.healthPath !== false) exact.add(paths.healthPath);
  if (paths.metricsPath !== false) exact.add(paths.metricsPath);
  const pages = paths.pagesPath;
  if (dashboard)
    exact
      .add(pages || '/')
      .add(`${pages}/`)
      .add(`${pages}/jobs`)
      .add(`${pages}/overview`);
  const under = (path: string, prefix: string) => prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
  return (path) =>
    exact.has(path) ||
    path.startsWith(`${pages}/assets/underway`) ||
    (dashboard && path.startsWith(`${pages}/jobs/`)) ||
    under(path, paths.basePath) ||
    (paths.mountPath !== '' && under(path, paths.mountPath));
}
