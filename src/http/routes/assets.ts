import { Hono } from 'hono';
import type { AppEnv } from '../context.ts';
import { clientBundle } from '../dashboard/client-bundle.ts';
import { ASSET_FILES } from '../dashboard/page-context.ts';
import { COMPONENTS_CSS, PAGES_CSS, PAGES_CSS_FILE } from '../dashboard/styles.ts';

/**
 * `GET /assets/underway-client.js` and `/assets/underway.css`, under `pagesPath`: the web
 * components, the SDK and the components' styles for the host's own pages; and
 * `/assets/underway-pages.css`, the dashboard pages' own. Served whenever the API is, dashboard or not.
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
  for (const [file, css] of [
    [ASSET_FILES.css, COMPONENTS_CSS],
    [PAGES_CSS_FILE, PAGES_CSS],
  ] as const) {
    app.get(`/assets/${file}`, (c) =>
      c.body(css, 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'no-cache' }),
    );
  }
  return app;
}
