import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { toError } from '../../core/errors.ts';
import { type AppEnv, callerOf, type Deps, hostOf, requireUser } from '../context.ts';
import { HttpError, unauthenticated } from '../errors.ts';
import { readDeliveries } from '../webhook-log.ts';

/** `GET /healthz`: 200 when the store answers a cheap query, 503 when it does not. */
export function healthRoute(deps: Deps, path: string): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(path, async (c) => {
    try {
      // A primary-key miss: touches the store without scanning anything.
      await deps.jobs.get('healthz-probe');
      return c.json({ status: 'ok', store: deps.jobs.store.kind });
    } catch (error) {
      deps.log.warn({ err: toError(error) }, 'health check: the store is not reachable');
      return c.json({ error: { code: 'STORE_UNAVAILABLE', message: 'The job store is not reachable.' } }, 503);
    }
  });
  return app;
}

/**
 * `GET /metrics`: the metrics registry's text (prom-client: underway's metrics, and the host's
 * when underway registers in the host's registry), for admins and for the configured metrics
 * token (a scraper): job counts per task and status are the host's business, not its visitors'.
 */
export function metricsRoute(deps: Deps, path: string, metricsToken: string | undefined): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const tokenDigest = metricsToken ? digest(metricsToken) : null;
  app.get(path, async (c) => {
    const header = c.req.header('authorization') ?? '';
    const bearer = /^bearer\s+/i.test(header) ? header.replace(/^bearer\s+/i, '').trim() : null;
    const scraper = tokenDigest !== null && bearer !== null && timingSafeEqual(digest(bearer), tokenDigest);
    if (!scraper) {
      const caller = await deps.auth.resolve(c.req.raw, c.env?.incoming?.socket?.remoteAddress, hostOf(c));
      if (!caller.user) throw unauthenticated();
      if (!caller.admin) throw new HttpError(403, 'FORBIDDEN', 'Metrics are for admins and the metrics token.');
    }
    const text = await deps.metrics.render();
    return c.body(text, 200, { 'Content-Type': deps.metrics.registry.contentType });
  });
  return app;
}

/** API helpers outside the contract: the CSRF token and the webhook delivery log. */
export function supportRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/csrf', (c) => {
    const token = deps.csrf.issue(c);
    c.header('Cache-Control', 'no-store');
    return c.json({ token, headerName: deps.csrf.headerName, cookieName: deps.csrf.cookieName });
  });
  // Every process's deliveries, from the store (webhooks.ts); `?job=` for one job's, `?limit=` (100, at most 200).
  app.get('/webhooks/deliveries', async (c) => {
    requireUser(c);
    if (!callerOf(c).admin) throw new HttpError(404, 'NOT_FOUND', 'Nothing is at GET /webhooks/deliveries.');
    const limit = c.req.query('limit');
    const filter = { jobId: c.req.query('job') || undefined, limit: limit ? Number(limit) || undefined : undefined };
    c.header('Cache-Control', 'no-store');
    return c.json({ deliveries: await readDeliveries(deps.jobs.store, filter, true) });
  });
  return app;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
