import { Hono } from 'hono';
import { DEFAULT_MAX_ATTEMPTS } from '../../core/task.ts';
import { type AppEnv, type Deps, requireUser } from '../context.ts';
import { paramsSchemaOf } from '../task-schemas.ts';

/** `GET /tasks`: what can be started, with each task's params as JSON Schema. */
export function taskRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/tasks', (c) => {
    const user = requireUser(c);
    const tasks = deps.tasks
      .all()
      .filter((task) => deps.auth.mayStart(user, task.name))
      .map((task) => ({
        name: task.name,
        description: task.description ?? null,
        params: paramsSchemaOf(task),
        maxAttempts: task.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
        timeoutSeconds: task.timeoutSeconds ?? null,
      }));
    return c.json({ tasks });
  });
  return app;
}
