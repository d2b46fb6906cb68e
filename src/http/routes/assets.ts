import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { clientBundle } from '../dashboard/client-bundle.ts';
import { ASSET_FILES } from '../dashboard/page-context.ts';
import { DASHBOARD_CSS } from '../dashboard/styles.ts';

/**
 * `GET /assets/underway-client.js` and `/assets/underway.css`, under `pagesPath`: the web
 * components and the SDK for the host's own pages. Served whenever the API is, dashboard or not.
 */
export function assetRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(`/assets/${ASSET_FILES.script}`, async (c) => {
    const bundle = await clientBundle();
    const headers = {
      'Content-Type': 'text/javascript; charset=utf-8',
      'Cache-Control': 'no-cache',
      ETag: bundle.etag,
      'X-Content-Type-Options': 'nosniff',
    };
    if (c.req.header('if-none-match') === bundle.etag) return c.body(null, 304, headers);
    return c.body(bundle.text, 200, headers);
  });
  app.get(`/assets/${ASSET_FILES.css}`, (c) =>
    c.body(DASHBOARD_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'no-cache' }),
  );
  return app;
}
