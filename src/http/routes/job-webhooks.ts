import { Hono } from 'hono';
import { type AppEnv, callerOf, changeableJob, type Deps } from '../context.ts';
import { readDeliveries } from '../webhook-log.ts';

/**
 * `GET /jobs/:id/webhooks`: the job's webhook deliveries (every URL, every try), newest first, for
 * its owner and admins. Not through a share link (401, as for any change): who is told of a job's
 * end is the host's business, not a link holder's. Owners see each receiver's origin only, admins
 * the whole URL, whose path or query may hold a token of the receiver's.
 */
export function jobWebhookRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/jobs/:id/webhooks', async (c) => {
    const job = await changeableJob(c, deps, c.req.param('id'));
    const deliveries = await readDeliveries(deps.jobs.store, { jobId: job.id }, callerOf(c).admin);
    c.header('Cache-Control', 'no-store');
    return c.json({ deliveries });
  });
  return app;
}
