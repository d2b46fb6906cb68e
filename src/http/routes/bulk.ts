import { Hono } from 'hono';
import { z } from 'zod';
import { ConflictError } from '../../core/errors.ts';
import { JOB_STATUSES } from '../../core/job.ts';
import { BULK_ACTIONS, bulk, MAX_BULK_LIMIT } from '../../queue/bulk.ts';
import type { Queue } from '../../queue/queue.ts';
import { type AppEnv, callerOf, type Deps, readJson, requireUser } from '../context.ts';
import { HttpError } from '../errors.ts';
import { parseBody } from './jobs.ts';

const Status = z.enum(JOB_STATUSES);
const Moment = z.iso.datetime({ offset: true });

/**
 * `POST /jobs/bulk`. Unknown fields are refused, here and in the filter: a misspelt
 * `statuses` must not widen a delete to every finished job.
 */
export const BulkBody = z.strictObject({
  action: z.enum(BULK_ACTIONS),
  filter: z
    .strictObject({
      task: z.string().min(1).max(128).optional(),
      status: z.union([Status, z.array(Status).min(1).max(JOB_STATUSES.length)]).optional(),
      createdBefore: Moment.optional(),
      createdAfter: Moment.optional(),
      owner: z.string().min(1).max(200).optional(),
    })
    .optional(),
  limit: z.number().int().min(1).max(MAX_BULK_LIMIT).optional(),
  cursor: z.string().min(1).max(200).nullable().optional(),
  dryRun: z.boolean().optional(),
});

/** Cancel, retry or delete the caller's jobs (an admin's: anyone's) matching a filter, a batch at a time. */
export function bulkRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/jobs/bulk', async (c) => {
    const user = requireUser(c);
    const caller = callerOf(c);
    const body = parseBody(BulkBody, await readJson(c), 'request body');
    const filter = body.filter ?? {};
    // Everyone but an admin acts on their own jobs only; an admin may narrow to one owner.
    if (!caller.admin && filter.owner !== undefined && filter.owner !== user.id) {
      throw new HttpError(403, 'FORBIDDEN', "Only an admin may act on other users' jobs.");
    }
    const owner = caller.admin ? filter.owner : user.id;
    const limiter = deps.limiter;
    // A retry is a start: jobs of a task this user may not start are skipped, saying so.
    const queue: Pick<Queue, 'jobs' | 'retry'> = {
      jobs: deps.queue.jobs,
      async retry(target, options) {
        const job = typeof target === 'string' ? await deps.queue.jobs.require(target) : target;
        if (!deps.auth.mayStart(user, job.task)) throw new ConflictError(`You may not start ${job.task} jobs.`);
        return deps.queue.retry(job, options);
      },
    };
    const result = await bulk(queue, {
      action: body.action,
      filter: { ...filter, owner },
      limit: body.limit,
      cursor: body.cursor,
      dryRun: body.dryRun,
      // A retry is a start: one token each. Out of tokens, the call stops there (429 if at the first).
      admit: body.action === 'retry' && limiter ? () => limiter.take(user.id) : undefined,
    });
    return c.json(result, 200);
  });

  return app;
}
