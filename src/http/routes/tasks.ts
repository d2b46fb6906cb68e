import { Hono } from 'hono';
import { z } from 'zod';
import { DEFAULT_MAX_ATTEMPTS } from '../../core/task.ts';
import { MAX_PAUSE_REASON } from '../../queue/queue.ts';
import type { Pause } from '../../store/store.ts';
import { type AppContext, type AppEnv, callerOf, type Deps, readJson, requireUser } from '../context.ts';
import { HttpError } from '../errors.ts';
import { paramsSchemaOf } from '../task-schemas.ts';
import { parseBody } from './jobs.ts';

/** `POST /tasks/:name/pause`. */
export const PauseBody = z.strictObject({ reason: z.string().max(MAX_PAUSE_REASON).optional() });

/** A pause as the API shows it. */
export interface PauseJson {
  by: string | null;
  reason: string | null;
  at: string;
}

/** `GET /tasks`: what can be started, with each task's params as JSON Schema; pausing and resuming a task (admins). */
export function taskRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/tasks', async (c) => {
    const user = requireUser(c);
    const paused = pausesByTask(await deps.queue.pauses());
    const tasks = deps.tasks
      .all()
      .filter((task) => deps.auth.mayStart(user, task.name))
      .map((task) => ({
        name: task.name,
        description: task.description ?? null,
        params: paramsSchemaOf(task),
        maxAttempts: task.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        timeoutSeconds: task.timeoutSeconds ?? null,
        priority: task.priority ?? 0,
        paused: paused.get(task.name) ?? null,
      }));
    return c.json({ tasks });
  });

  app.post('/tasks/:name/pause', async (c) => {
    const { user, name } = adminTask(c, deps);
    const body = parseBody(PauseBody, await readJson(c), 'request body');
    const pause = await deps.queue.pause(name, { by: user, reason: body.reason ?? null });
    return c.json({ name, paused: toPauseJson(pause) });
  });

  app.post('/tasks/:name/resume', async (c) => {
    const { name } = adminTask(c, deps);
    await readJson(c); // A body is not needed; a malformed one is still refused.
    await deps.queue.resume(name);
    return c.json({ name, paused: null });
  });
  return app;
}

/** Pausing is an operator's act: admins only (403), on a task this server knows (404). */
function adminTask(c: AppContext, deps: Deps): { user: string; name: string } {
  const user = requireUser(c);
  if (!callerOf(c).admin) throw new HttpError(403, 'FORBIDDEN', 'Only an admin may pause or resume a task.');
  const name = c.req.param('name') ?? '';
  if (!deps.tasks.get(name)) throw new HttpError(404, 'NOT_FOUND', `There is no task ${JSON.stringify(name)}.`);
  return { user: user.id, name };
}

function pausesByTask(pauses: readonly Pause[]): Map<string, PauseJson> {
  return new Map(pauses.filter((pause) => pause.kind === 'task').map((pause) => [pause.name, toPauseJson(pause)]));
}

export function toPauseJson(pause: Pause): PauseJson {
  return { by: pause.by, reason: pause.reason, at: pause.at };
}
