import { Hono } from 'hono';
import { type AppEnv, callerOf, type Deps, requireUser } from '../context.ts';
import { HttpError } from '../errors.ts';
import { overviewOf } from '../overview.ts';

/**
 * `GET /stats`: the operators' overview as JSON (the dashboard's Overview page shows the same):
 * jobs per task and status, started/succeeded/failed per minute over the last hour and per
 * 30 minutes over the last day, run-time percentiles per task, the queues, the workers. Admins
 * only: the figures cover every owner's jobs.
 */
export function statsRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/stats', async (c) => {
    requireUser(c);
    if (!callerOf(c).admin) throw new HttpError(403, 'FORBIDDEN', 'Only an admin may see the stats.');
    return c.json(await overviewOf(deps));
  });
  return app;
}
