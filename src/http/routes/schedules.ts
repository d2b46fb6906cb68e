import { Hono } from 'hono';
import { z } from 'zod';
import { MAX_PRIORITY, MIN_PRIORITY } from '../../core/job.ts';
import { Schedules } from '../../schedule/schedules.ts';
import { type AppContext, type AppEnv, callerOf, type Deps, readJson, requireUser } from '../context.ts';
import { HttpError } from '../errors.ts';
import { parseBody } from './jobs.ts';

/** `PUT /schedules/:name`: a schedule's whole definition (an update replaces it). Unknown fields are refused. */
export const ScheduleBody = z.strictObject({
  task: z.string().min(1).max(128),
  cron: z.string().min(1).max(200).optional(),
  everySeconds: z.number().int().min(1).optional(),
  timezone: z.string().min(1).max(100).optional(),
  params: z.unknown().optional(),
  owner: z.string().min(1).max(200).nullable().optional(),
  priority: z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY).optional(),
  catchUpSeconds: z.number().int().min(0).optional(),
});

/** Recurring schedules: list them with their next runs, add or replace one, remove one. Admins only. */
export function scheduleRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const schedules = new Schedules(deps.queue);

  app.get('/schedules', async (c) => {
    requireAdmin(c);
    return c.json({ schedules: await schedules.list() });
  });

  app.put('/schedules/:name', async (c) => {
    const user = requireAdmin(c);
    const body = parseBody(ScheduleBody, await readJson(c), 'request body');
    const name = c.req.param('name');
    const existed = (await deps.jobs.store.listSchedules()).some((schedule) => schedule.name === name);
    const saved = await schedules.save({ ...body, name }, { source: 'runtime', by: user });
    const [view] = (await schedules.list()).filter((schedule) => schedule.name === saved.name);
    return c.json(view ?? saved, existed ? 200 : 201);
  });

  app.delete('/schedules/:name', async (c) => {
    requireAdmin(c);
    const name = c.req.param('name');
    if (!(await schedules.remove(name))) {
      throw new HttpError(404, 'NOT_FOUND', `There is no schedule ${JSON.stringify(name)}.`);
    }
    return c.body(null, 204);
  });
  return app;
}

/** Schedules start jobs for whoever they name: an operator's tool (403 for others). */
function requireAdmin(c: AppContext): string {
  const user = requireUser(c);
  if (!callerOf(c).admin) throw new HttpError(403, 'FORBIDDEN', 'Only an admin may see or change schedules.');
  return user.id;
}
