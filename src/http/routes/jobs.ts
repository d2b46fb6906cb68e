import { Hono } from 'hono';
import { z } from 'zod';
import { ValidationError } from '../../core/errors.ts';
import { isJobStatus, type JobStatus, MAX_PRIORITY, MIN_PRIORITY } from '../../core/job.ts';
import { MAX_LIST_LIMIT } from '../../store/store.ts';
import type { User } from '../auth.ts';
import {
  type AppEnv,
  callerOf,
  changeableJob,
  type Deps,
  jobJson,
  jobJsonsWithWaiting,
  readJson,
  requireUser,
} from '../context.ts';
import { HttpError } from '../errors.ts';

/** `POST /jobs`. Unknown fields are refused, so a misspelt option is not silently ignored. */
export const StartBody = z.strictObject({
  task: z.string().min(1).max(128),
  params: z.unknown().optional(),
  dedupeKey: z.string().min(1).max(200).optional(),
  delaySeconds: z
    .number()
    .min(0)
    .max(366 * 86_400)
    .optional(),
  runAt: z.iso.datetime({ offset: true }).optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  timeoutSeconds: z
    .number()
    .positive()
    .max(7 * 86_400)
    .optional(),
  priority: z.number().int().min(MIN_PRIORITY).max(MAX_PRIORITY).optional(),
  concurrencyKey: z.string().min(1).max(200).optional(),
});

export const ShareBody = z.strictObject({ ttlSeconds: z.number().int().min(1).optional() });

/** Validates with zod, failing as a ValidationError that lists each problem as `field: reason`. */
export function parseBody<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return `${path || what}: ${issue.message}`;
  });
  throw new ValidationError(`The ${what} is not valid.`, issues);
}

/**
 * Dedupe keys from the API are kept per user, so one user's key can never hand back (and so
 * reveal) another user's job.
 */
function scopedDedupeKey(user: User, key: string | undefined): string | undefined {
  return key === undefined ? undefined : `user:${user.id.length}:${user.id}:${key}`;
}

/** Start, list, cancel, retry, delete and share jobs. */
export function jobRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/jobs', async (c) => {
    const user = requireUser(c);
    const body = parseBody(StartBody, await readJson(c), 'request body');
    const task = deps.tasks.require(body.task);
    if (!deps.auth.mayStart(user, task.name)) {
      throw new HttpError(403, 'FORBIDDEN', `You may not start ${task.name} jobs.`);
    }
    // Checked (once) before the rate limit, so a typo does not cost a start.
    const start = deps.queue.prepare(task.name, body.params as never, {
      owner: user.id,
      dedupeKey: scopedDedupeKey(user, body.dedupeKey),
      delaySeconds: body.delaySeconds,
      runAt: body.runAt,
      maxAttempts: body.maxAttempts,
      timeoutSeconds: body.timeoutSeconds,
      priority: body.priority,
      concurrencyKey: body.concurrencyKey,
    });
    deps.limiter?.take(user.id);
    const { job, created } = await start.add();
    const json = jobJson(c, deps, job);
    if (!created) return c.json(json, 200);
    return c.json(json, 201, { Location: json.urls.self });
  });

  app.get('/jobs', async (c) => {
    const user = requireUser(c);
    const caller = callerOf(c);
    const query = c.req.query();
    const statuses = query.status?.split(',').filter(Boolean);
    const bad = statuses?.filter((s) => !isJobStatus(s)) ?? [];
    if (bad.length > 0)
      throw new ValidationError(
        `Unknown status ${bad.join(', ')}.`,
        bad.map((s) => `status: ${s}`),
      );
    let limit: number | undefined;
    if (query.limit !== undefined) {
      limit = Number(query.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
        throw new ValidationError(`limit must be a whole number from 1 to ${MAX_LIST_LIMIT}.`, ['limit']);
      }
    }
    const page = await deps.queue.list({
      status: statuses as JobStatus[] | undefined,
      task: query.task || undefined,
      // Everyone but an admin sees only their own jobs; an admin may narrow to one owner.
      owner: caller.admin ? query.owner || undefined : user.id,
      parent: query.parent || undefined,
      search: query.q?.trim() || undefined,
      limit,
      cursor: query.cursor || null,
    });
    return c.json({ jobs: await jobJsonsWithWaiting(c, deps, page.jobs), nextCursor: page.nextCursor });
  });

  app.post('/jobs/:id/cancel', async (c) => {
    const job = await changeableJob(c, deps, c.req.param('id'));
    const cancelled = await deps.queue.cancel(job.id);
    return c.json(jobJson(c, deps, cancelled), 202);
  });

  app.post('/jobs/:id/retry', async (c) => {
    const user = requireUser(c);
    const job = await changeableJob(c, deps, c.req.param('id'));
    // A retry is a start: who may not start the task may not retry its jobs either.
    if (!deps.auth.mayStart(user, job.task))
      throw new HttpError(403, 'FORBIDDEN', `You may not start ${job.task} jobs.`);
    deps.limiter?.take(user.id);
    const again = await deps.queue.retry(job);
    const json = jobJson(c, deps, again);
    return c.json(json, 201, { Location: json.urls.self });
  });

  app.delete('/jobs/:id', async (c) => {
    const job = await changeableJob(c, deps, c.req.param('id'));
    await deps.queue.remove(job.id);
    return c.body(null, 204);
  });

  app.post('/jobs/:id/share', async (c) => {
    const job = await changeableJob(c, deps, c.req.param('id'));
    const { ttlSeconds } = parseBody(ShareBody, await readJson(c), 'request body');
    const ttl = Math.min(ttlSeconds ?? deps.shareLinks.defaultTtlSeconds, deps.shareLinks.maxTtlSeconds);
    const { token, expiresAt } = deps.shareLinks.create(job.id, ttl);
    const q = `?share=${encodeURIComponent(token)}`;
    const id = encodeURIComponent(job.id);
    return c.json(
      {
        token,
        expiresAt: expiresAt.toISOString(),
        urls: {
          page: `${deps.paths.pagesPath}/jobs/${id}${q}`,
          self: `${deps.paths.basePath}/jobs/${id}${q}`,
          events: `${deps.paths.basePath}/jobs/${id}/events${q}`,
        },
      },
      201,
    );
  });

  return app;
}
