import { Hono } from 'hono';
import type { QueueView } from '../../queue/queue.ts';
import type { QueueLimit, QueueUsage } from '../../store/store.ts';
import { type AppContext, type AppEnv, callerOf, type Deps, readJson, requireUser } from '../context.ts';
import { HttpError } from '../errors.ts';
import { parseBody } from './jobs.ts';
import { PauseBody, type PauseJson, toPauseJson } from './tasks.ts';

/** A queue as the API shows it (`GET /queues`). */
export interface QueueJson {
  name: string;
  tasks: string[];
  limits: QueueLimit | null;
  paused: PauseJson | null;
  usage: QueueUsage;
}

/**
 * `GET /queues`: every queue with its limits, pause and counts now; pausing and resuming a whole
 * queue. Admins only: the counts cover every owner's jobs.
 */
export function queueRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/queues', async (c) => {
    admin(c, 'see the queues');
    return c.json({ queues: (await deps.queue.queues()).map(toQueueJson) });
  });

  // Unknown queues are the queue's NotFoundError: 404.
  app.post('/queues/:name/pause', async (c) => {
    const user = admin(c, 'pause or resume a queue');
    const name = c.req.param('name');
    const body = parseBody(PauseBody, await readJson(c), 'request body');
    const pause = await deps.queue.pause({ queue: name }, { by: user, reason: body.reason ?? null });
    return c.json({ name, paused: toPauseJson(pause) });
  });

  app.post('/queues/:name/resume', async (c) => {
    const name = c.req.param('name');
    admin(c, 'pause or resume a queue');
    await readJson(c); // A body is not needed; a malformed one is still refused.
    await deps.queue.resume({ queue: name });
    return c.json({ name, paused: null });
  });
  return app;
}

function admin(c: AppContext, what: string): string {
  const user = requireUser(c);
  if (!callerOf(c).admin) throw new HttpError(403, 'FORBIDDEN', `Only an admin may ${what}.`);
  return user.id;
}

/** A queue as `GET /queues` and `GET /stats` show it. */
export function toQueueJson(queue: QueueView): QueueJson {
  return {
    name: queue.name,
    tasks: queue.tasks,
    limits: queue.limit,
    paused: queue.paused && toPauseJson(queue.paused),
    usage: queue.usage,
  };
}
