import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { Job } from '../core/job.ts';
import type { TaskRegistry } from '../core/registry.ts';
import { type StepSummary, summarizeSteps } from '../core/steps.ts';
import type { Jobs } from '../jobs/jobs.ts';
import type { Logger } from '../logger.ts';
import type { Queue } from '../queue/queue.ts';
import type { JobWaiting } from '../queue/waiting.ts';
import { type Authenticator, type Caller, canChange, canSee, type HostRequest, seesDetail, type User } from './auth.ts';
import { isJsonType, unstorableJson } from './body.ts';
import type { CsrfGuard } from './csrf.ts';
import { HttpError, jobNotFound, unauthenticated } from './errors.ts';
import { type JobJson, toJobJson, type UrlPaths } from './job-json.ts';
import type { HttpMetrics } from './metrics.ts';
import type { OutboxDispatcher } from './outbox.ts';
import type { StartLimiter } from './rate-limit.ts';
import type { ShareLinks } from './share-links.ts';
import type { EventFanout } from './sse.ts';

/**
 * Hono's environment for underway's routes. `incoming` is there when served by node (for the peer
 * address); `host` is the host framework's own request, for `authenticate`.
 */
export interface AppEnv {
  Bindings: { incoming?: IncomingMessage; host?: HostRequest };
  Variables: { caller: Caller; shareToken: string | null };
}

export type AppContext = Context<AppEnv>;

/** What the routes share: built once by createUnderway. */
export interface Deps {
  /** Every read and change of a job goes through here (or through `queue`, which validates starts). */
  jobs: Jobs;
  queue: Queue;
  tasks: TaskRegistry;
  auth: Authenticator;
  shareLinks: ShareLinks;
  csrf: CsrfGuard;
  limiter: StartLimiter | null;
  fanout: EventFanout;
  metrics: HttpMetrics;
  webhooks: OutboxDispatcher | null;
  paths: UrlPaths;
  log: Logger;
}

/** The host's request for `authenticate`: as the adapter passed it, else the Node request. */
export function hostOf(c: AppContext): HostRequest {
  const env = c.env as AppEnv['Bindings'] | undefined;
  return env?.host ?? (env?.incoming ? { node: env.incoming } : {});
}

export function callerOf(c: AppContext): Caller {
  return c.get('caller');
}

/** The signed-in user, or a 401 (share links do not count: they are not a user). */
export function requireUser(c: AppContext): User {
  const user = callerOf(c).user;
  if (!user) throw unauthenticated();
  return user;
}

/** The job if the caller may see it (owner, admin, its share link); otherwise 404, as if it did not exist. */
export async function visibleJob(c: AppContext, deps: Deps, id: string): Promise<Job> {
  const caller = callerOf(c);
  if (!caller.user && caller.shareJobId === null) throw unauthenticated();
  const job = await deps.jobs.get(id);
  if (!job || !canSee(caller, job)) throw jobNotFound(id);
  return job;
}

/** The job if the caller may change it (owner, admin); 401 without a user, else 404 as above. */
export async function changeableJob(c: AppContext, deps: Deps, id: string): Promise<Job> {
  requireUser(c);
  const job = await deps.jobs.get(id);
  if (!job || !canChange(callerOf(c), job)) throw jobNotFound(id);
  return job;
}

/**
 * The job for this caller; `waiting` (from `queue.waiting`) is added when given, null for a job
 * that does not wait, and `steps` (from `stepSummary`) when given.
 */
export function jobJson(
  c: AppContext,
  deps: Deps,
  job: Job,
  waiting?: JobWaiting | null,
  steps?: StepSummary,
): JobJson {
  const caller = callerOf(c);
  const viaShare = !canChange(caller, job);
  return toJobJson(job, {
    paths: deps.paths,
    tasks: deps.tasks,
    detail: seesDetail(caller, job),
    shareToken: viaShare ? c.get('shareToken') : null,
    waiting,
    steps,
  });
}

/** What one job's JSON says of its steps (one read of them): for a single job's reads, not lists. */
export async function stepSummary(deps: Deps, job: Job): Promise<StepSummary> {
  return summarizeSteps(await deps.jobs.listSteps(job.id), job);
}

/** Jobs for this caller, each with why it waits (the queues' counts read once per page). */
export async function jobJsonsWithWaiting(c: AppContext, deps: Deps, jobs: readonly Job[]): Promise<JobJson[]> {
  const waiting = await deps.queue.waitingOf(jobs);
  return jobs.map((job) => jobJson(c, deps, job, waiting.get(job.id) ?? null));
}

/**
 * Parses a JSON body: undefined when empty; 415 when it says it is not JSON; 400 MALFORMED_JSON
 * when it is not valid JSON, or holds what cannot be stored (too deep, a NUL character).
 */
export async function readJson(c: AppContext): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return undefined;
  if (!isJsonType(c.req.header('content-type'))) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as JSON, with Content-Type: application/json.');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'MALFORMED_JSON', 'The request body is not valid JSON.');
  }
  const problem = unstorableJson(value);
  if (problem) throw new HttpError(400, 'MALFORMED_JSON', problem);
  return value;
}
