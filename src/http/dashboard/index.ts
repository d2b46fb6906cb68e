/**
 * The dashboard: server-rendered pages (Hono JSX) that work without JavaScript and go live with
 * the browser bundle (src/client). Mounted by `createUnderway` under `pagesPath` (docs/dashboard.md).
 */

export type { StartOrWait, StartOrWaitOptions } from './full-focus.tsx';
export { createStartOrWait } from './full-focus.tsx';
export type { DashboardOptions } from './options.ts';
export { ASSET_FILES } from './page-context.ts';
export { dashboardRoutes } from './routes.tsx';
