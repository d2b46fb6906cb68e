import { isTerminal, type Job } from '../../core/job.ts';
import type { AnyTask } from '../../core/task.ts';
import type { Deps } from '../context.ts';
import { type JobJson, toJobJson } from '../job-json.ts';
import { type DashboardOptions, DEFAULT_ACCEPTABLE_WAIT_MS } from './options.ts';
import { safeLocalPath } from './page-context.ts';
import { pageResponse } from './render.ts';
import { WaitPage } from './wait-page.tsx';

/** What `underway.startOrWait` starts, how long it waits, and where the person goes after. */
export interface StartOrWaitOptions {
  task: string | AnyTask;
  params?: unknown | undefined;
  /** The user the job belongs to (who may watch it). */
  owner?: string | null | undefined;
  dedupeKey?: string | null | undefined;
  /** How long the request may wait for the job. Default the dashboard's `acceptableWaitMs` (500 ms). */
  waitMs?: number | undefined;
  /**
   * Where the waiting page goes once the job has ended: a path on this site; `{id}` is replaced
   * by the job's id (e.g. `/reports/{id}`). Default the job's page.
   */
  redirectTo?: string | undefined;
  /**
   * The answer when the job ended within the wait: the result page, straight away. Default: a
   * 303 to `redirectTo`.
   */
  done?: ((job: JobJson) => Response | Promise<Response>) | undefined;
}

/** Starts a job and answers with its result when it is fast, or with a waiting page when it is not. */
export type StartOrWait = (options: StartOrWaitOptions) => Promise<Response>;

/**
 * The full-focus flow (product.md, the person in the browser, 6): the work usually finishes in
 * under a second, so the person should not see a "please wait" page for it. The job runs on a
 * worker as any other; this only waits (on the store's events, not by polling) up to the
 * acceptable wait for it to end.
 */
export function createStartOrWait(deps: Deps, options: DashboardOptions & { title: string }): StartOrWait {
  return async (request) => {
    const redirectTo = safeLocalPath(request.redirectTo);
    if (request.redirectTo !== undefined && redirectTo === null) {
      throw new TypeError(
        `startOrWait: redirectTo must be a path on this site, not ${JSON.stringify(request.redirectTo)}.`,
      );
    }
    const { job } = await deps.queue.start(request.task as never, request.params as never, {
      owner: request.owner ?? null,
      dedupeKey: request.dedupeKey ?? null,
    });
    const waitMs = request.waitMs ?? options.acceptableWaitMs ?? DEFAULT_ACCEPTABLE_WAIT_MS;
    const ended = await waitForEnd(deps, job, waitMs);
    const render = (j: Job) => toJobJson(j, { paths: deps.paths, tasks: deps.tasks, detail: true });
    const id = encodeURIComponent(job.id);
    const pagePath = `${deps.paths.pagesPath}/jobs/${id}`;
    const target = redirectTo ? redirectTo.replaceAll('{id}', id) : pagePath;
    if (ended) {
      if (request.done) return request.done(render(ended));
      return new Response(null, { status: 303, headers: { Location: target } });
    }
    const frame = {
      title: options.title,
      pagesPath: deps.paths.pagesPath,
      basePath: deps.paths.basePath,
      csrf: '',
      user: request.owner ?? null,
    };
    const waitUrl = `${pagePath}/wait?to=${encodeURIComponent(redirectTo ?? '')}`;
    return pageResponse(<WaitPage frame={frame} job={render(job)} redirectTo={target} waitUrl={waitUrl} />);
  };
}

/** The job once it has ended, or null if it is still going after `waitMs`. */
function waitForEnd(deps: Deps, job: Job, waitMs: number): Promise<Job | null> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (value: Job | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      off();
      resolve(value);
    };
    const look = async () => {
      const now = await deps.jobs.get(job.id);
      if (now && isTerminal(now.status)) finish(now);
    };
    const lookSafely = () => look().catch(() => finish(null));
    const off = deps.jobs.subscribe((event) => {
      if (event.jobId === job.id && event.type === 'status' && isTerminal(event.status)) void lookSafely();
    });
    const timer = setTimeout(() => finish(null), waitMs);
    // Subscribed first, then looked: an end between the start and the subscription is not missed.
    void lookSafely();
  });
}
