import type { Context } from 'hono';
import { Hono } from 'hono';
import { TooLargeError, ValidationError } from '../../core/errors.ts';
import { isJobStatus, isTerminal, type JobStatus } from '../../core/job.ts';
import { Schedules } from '../../schedule/schedules.ts';
import { canChange } from '../auth.ts';
import { type AppEnv, type Deps, jobJson, jobJsonsWithWaiting, stepSummary } from '../context.ts';
import { HttpError, jobNotFound, toHttpError, unauthenticated } from '../errors.ts';
import { overviewOf } from '../overview.ts';
import { readDeliveries } from '../webhook-log.ts';
import { childrenView } from './children.tsx';
import { errorsByField, type FormState, paramsFromForm } from './forms.tsx';
import { JobPage } from './job-page.tsx';
import { MessagePage } from './layout.tsx';
import { type BulkNotice, ListPage } from './list-page.tsx';
import { type DashboardOptions, DEFAULT_PAGE_SIZE, LOG_TAIL_LINES } from './options.ts';
import { OverviewPage } from './overview-page.tsx';
import { frameOf, homePath, resolvePageCaller, safeLocalPath } from './page-context.ts';
import { renderPage } from './render.ts';
import { WaitPage } from './wait-page.tsx';

type PageContext = Context<AppEnv>;

/**
 * The dashboard's routes, relative to `pagesPath`:
 *
 *   GET  /                      the job list (filters, pages, start forms)
 *   POST /jobs                  start form → 303 to the job's page, or the form again with errors
 *   GET  /jobs/:id              the job's page
 *   POST /jobs/:id/cancel|retry|delete   its buttons → 303
 *   GET  /jobs/:id/wait?to=     the waiting page of startOrWait; 303 to `to` once the job ended
 *   GET  /overview              the operators' figures (admins): GET /api/stats as a page
 *   (its assets, /assets/underway-client.js and .css, are served with the API: routes/assets.ts)
 *
 * Forms are plain POSTs with the CSRF token as a hidden field (checked against the cookie and
 * the Origin exactly as the API checks its header), so everything works without JavaScript.
 */
/** Ticked rows one bulk form may carry: a few pages of the list. */
const MAX_BULK_SELECTED = 200;

export function dashboardRoutes(deps: Deps, options: DashboardOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const title = options.title ?? 'underway';
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const pages = deps.paths.pagesPath;
  const jobPath = (id: string) => `${pages}/jobs/${encodeURIComponent(id)}`;

  // Per path, not `use('*')`: mounted at `/`, a catch-all would also run for the API's paths.
  const caller = resolvePageCaller(deps);
  app.use('/', caller);
  app.use('/jobs', caller);
  app.use('/jobs/*', caller);
  // Errors on a page are pages too (the API's handler answers JSON).
  app.onError((thrown, c) => {
    const error = toHttpError(thrown);
    if (error.status >= 500) deps.log.error({ err: thrown, path: c.req.path }, 'dashboard request failed');
    const words = error.status === 404 ? 'Not found' : error.status === 401 ? 'Sign in first' : 'That did not work';
    return renderPage(
      c,
      <MessagePage frame={frameOf(c, deps, title)} title={words} text={error.message} />,
      error.status,
    );
  });

  const requireUser = (c: PageContext) => {
    const user = c.get('caller').user;
    if (!user) throw unauthenticated();
    return user;
  };

  const listPage = async (c: PageContext, form?: FormState) => {
    const user = requireUser(c);
    const caller = c.get('caller');
    const status = c.req.query('status') ?? '';
    const task = c.req.query('task') ?? '';
    const cursor = c.req.query('cursor') ?? '';
    const q = c.req.query('q')?.trim() ?? '';
    const page = await deps.queue.list({
      status: isJobStatus(status) ? status : undefined,
      task: task || undefined,
      owner: caller.admin ? undefined : user.id,
      search: q || undefined,
      limit: pageSize,
      cursor: cursor || null,
    });
    const startable = deps.tasks.all().filter((t) => deps.auth.mayStart(user, t.name));
    const operations = caller.admin ? await operationsOf(deps) : undefined;
    return renderPage(
      c,
      <ListPage
        frame={frameOf(c, deps, title)}
        jobs={await jobJsonsWithWaiting(c, deps, page.jobs)}
        startable={startable}
        taskNames={deps.tasks.names()}
        filter={{ status: isJobStatus(status) ? (status as JobStatus) : '', task, q, cursor }}
        nextCursor={page.nextCursor}
        bulkDone={bulkNotice(c)}
        form={form}
        operations={operations}
      />,
      form ? 400 : 200,
    );
  };

  app.get('/', (c) => listPage(c));

  // The operators' Overview: GET /api/stats's figures as a page (overview-page.tsx). Admins only.
  app.use('/overview', caller);
  app.get('/overview', async (c) => {
    requireUser(c);
    if (!c.get('caller').admin) throw new HttpError(403, 'FORBIDDEN', 'Only an admin may see the overview.');
    return renderPage(c, <OverviewPage frame={frameOf(c, deps, title)} overview={await overviewOf(deps)} />);
  });

  // An admin's Pause and Resume buttons (the API's POST /tasks|queues/:name/pause|resume, as forms).
  for (const kind of ['tasks', 'queues'] as const) {
    app.use(`/${kind}/*`, caller);
    app.post(`/${kind}/:name/:action{pause|resume}`, async (c) => {
      const user = requireUser(c);
      const form = await readForm(c, deps);
      const what = kind === 'tasks' ? 'task' : 'queue';
      if (!c.get('caller').admin) throw new HttpError(403, 'FORBIDDEN', `Only an admin may pause or resume a ${what}.`);
      const name = c.req.param('name');
      if (kind === 'tasks' && !deps.tasks.get(name)) {
        throw new HttpError(404, 'NOT_FOUND', `There is no task ${JSON.stringify(name)}.`);
      }
      // A queue's name is checked by the queue (NotFoundError: 404).
      const subject = kind === 'tasks' ? name : { queue: name };
      if (c.req.param('action') === 'pause') {
        await deps.queue.pause(subject, { by: user.id, reason: form.reason?.trim() || null });
      } else {
        await deps.queue.resume(subject);
      }
      return c.redirect(homePath(pages), 303);
    });
  }

  app.post('/jobs', async (c) => {
    const user = requireUser(c);
    const form = await readForm(c, deps);
    const task = deps.tasks.require(form.task);
    if (!deps.auth.mayStart(user, task.name))
      throw new HttpError(403, 'FORBIDDEN', `You may not start ${task.name} jobs.`);
    try {
      const params = paramsFromForm(task, form);
      const start = deps.queue.prepare(task.name, params as never, { owner: user.id });
      deps.limiter?.take(user.id);
      const { job } = await start.add();
      return c.redirect(jobPath(job.id), 303);
    } catch (error) {
      // Too large is not a field to correct: the page says so with 413.
      if (!(error instanceof ValidationError) || error instanceof TooLargeError) throw error;
      const { _csrf, ...values } = form;
      return listPage(c, { task: task.name, values, errors: errorsByField(error) });
    }
  });

  app.get('/jobs/:id', async (c) => {
    const caller = c.get('caller');
    if (!caller.user && caller.shareJobId === null) throw unauthenticated();
    const job = await deps.jobs.get(c.req.param('id'));
    if (!job || !(canChange(caller, job) || caller.shareJobId === job.id)) throw jobNotFound(c.req.param('id'));
    const [logs, progressSamples, waiting, steps] = await Promise.all([
      tailLogs(deps, job.id),
      deps.jobs.progressSamples(job.id),
      deps.queue.waiting(job),
      stepSummary(deps, job),
    ]);
    const json = jobJson(c, deps, job, waiting, steps);
    // Webhooks: as GET /jobs/:id/webhooks shows them, for the owner and admins (not a share link).
    const mayChange = canChange(caller, job);
    const webhooks = mayChange ? await readDeliveries(deps.jobs.store, { jobId: job.id }, caller.admin) : undefined;
    const children = await childrenView(c, deps, job);
    return renderPage(
      c,
      <JobPage
        frame={frameOf(c, deps, title)}
        job={json}
        logs={logs}
        progressSamples={progressSamples}
        canChange={mayChange}
        webhooks={webhooks}
        children={children}
      />,
    );
  });

  app.get('/jobs/:id/wait', async (c) => {
    requireUser(c);
    const job = await deps.jobs.get(c.req.param('id'));
    if (!job || !canChange(c.get('caller'), job)) throw jobNotFound(c.req.param('id'));
    const redirectTo = redirectUrl(c.req.query('to'), job.id) ?? jobPath(job.id);
    if (isTerminal(job.status)) return c.redirect(redirectTo, 303);
    const json = jobJson(c, deps, job);
    const waitUrl = `${jobPath(job.id)}/wait?to=${encodeURIComponent(c.req.query('to') ?? '')}`;
    return renderPage(
      c,
      <WaitPage frame={frameOf(c, deps, title)} job={json} redirectTo={redirectTo} waitUrl={waitUrl} />,
    );
  });

  // The list's bulk form: the ticked rows (each a `job` field), one action, then back to the list
  // as it was. Each job is checked and changed on its own, as its own button would.
  app.post('/jobs/bulk', async (c) => {
    const user = requireUser(c);
    const { fields, lists } = await readFields(c, deps);
    const action = fields.action;
    if (action !== 'cancel' && action !== 'retry' && action !== 'delete') {
      throw new ValidationError('Choose what to do with the selected jobs: cancel, retry or delete.', ['action']);
    }
    const ids = [...new Set(lists.job ?? [])];
    if (ids.length === 0) throw new ValidationError('Select at least one job first.', ['job']);
    if (ids.length > MAX_BULK_SELECTED) {
      throw new ValidationError(`Select at most ${MAX_BULK_SELECTED} jobs at a time.`, ['job']);
    }
    let done = 0;
    for (const id of ids) {
      const job = await deps.jobs.get(id);
      if (!job || !canChange(c.get('caller'), job)) continue;
      try {
        if (action === 'cancel') await deps.queue.cancel(job.id);
        else if (action === 'delete') await deps.queue.remove(job.id);
        else {
          if (!deps.auth.mayStart(user, job.task)) continue;
          deps.limiter?.take(user.id);
          await deps.queue.retry(job);
        }
        done++;
      } catch (error) {
        // A job that ended or changed meanwhile, or the start rate spent: skipped and counted.
        if (toHttpError(error).status >= 500) throw error;
      }
    }
    const back = new URL(safeLocalPath(fields.back) ?? homePath(pages), 'http://list');
    back.searchParams.set('bulk', action);
    back.searchParams.set('done', String(done));
    back.searchParams.set('skipped', String(ids.length - done));
    return c.redirect(`${back.pathname}${back.search}`, 303);
  });

  app.post('/jobs/:id/:action{cancel|retry|delete}', async (c) => {
    const user = requireUser(c);
    await readForm(c, deps);
    const job = await deps.jobs.get(c.req.param('id'));
    if (!job || !canChange(c.get('caller'), job)) throw jobNotFound(c.req.param('id'));
    switch (c.req.param('action')) {
      case 'cancel':
        await deps.queue.cancel(job.id);
        return c.redirect(jobPath(job.id), 303);
      case 'retry': {
        if (!deps.auth.mayStart(user, job.task)) {
          throw new HttpError(403, 'FORBIDDEN', `You may not start ${job.task} jobs.`);
        }
        deps.limiter?.take(user.id);
        const again = await deps.queue.retry(job);
        return c.redirect(jobPath(again.id), 303);
      }
      default:
        await deps.queue.remove(job.id);
        return c.redirect(homePath(pages), 303);
    }
  });

  return app;
}

/**
 * Reads a dashboard form and checks its CSRF token (hidden field `_csrf` against the cookie, and
 * the Origin), as the API checks its header. Text fields only; files are not part of a start form.
 */
async function readForm(c: PageContext, deps: Deps): Promise<Record<string, string>> {
  return (await readFields(c, deps)).fields;
}

/** readForm's fields (a repeated one's last value), and every value of each field, for the list's ticked rows. */
async function readFields(
  c: PageContext,
  deps: Deps,
): Promise<{ fields: Record<string, string>; lists: Record<string, string[]> }> {
  let body: Record<string, unknown>;
  try {
    body = await c.req.parseBody({ all: true });
  } catch {
    // A multipart body that does not match its declared boundary, or bytes that are no form.
    throw new HttpError(400, 'BAD_REQUEST', 'The form could not be read: its body does not match its content type.');
  }
  const fields: Record<string, string> = {};
  const lists: Record<string, string[]> = {};
  // A NUL character in a field is refused where everything stored is checked: the queue.
  for (const [key, value] of Object.entries(body)) {
    const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
    lists[key] = values;
    const last = values.at(-1);
    if (last !== undefined) fields[key] = last;
  }
  deps.csrf.check(c, c.get('caller'), fields._csrf);
  return { fields, lists };
}

/** The list's note on what a bulk action just did, from the query its redirect set. */
function bulkNotice(c: PageContext): BulkNotice | undefined {
  const action = c.req.query('bulk');
  if (action !== 'cancel' && action !== 'retry' && action !== 'delete') return undefined;
  const count = (name: string) => Math.max(0, Math.floor(Number(c.req.query(name)) || 0));
  return { action, done: count('done'), skipped: count('skipped') };
}

/** The last LOG_TAIL_LINES lines of a job's log, oldest first. The store reads forwards only, so this pages through. */
async function tailLogs(deps: Deps, jobId: string) {
  const lines = [];
  let after = 0;
  for (;;) {
    const page = await deps.jobs.readLogs(jobId, { after, limit: 1_000 });
    lines.push(...page);
    if (lines.length > LOG_TAIL_LINES) lines.splice(0, lines.length - LOG_TAIL_LINES);
    if (page.length < 1_000) return lines;
    after = page.at(-1)?.seq ?? after;
  }
}

/** Every task and queue with its pause, and the schedules with their next run: the admin's part of the list page. */
async function operationsOf(deps: Deps) {
  const [pauses, queues, schedules] = await Promise.all([
    deps.queue.pauses(),
    deps.queue.queues(),
    new Schedules(deps.queue).list(1),
  ]);
  const paused = new Map(
    pauses
      .filter((pause) => pause.kind === 'task')
      .map((pause) => [pause.name, { by: pause.by, reason: pause.reason, at: pause.at }]),
  );
  return {
    tasks: deps.tasks.names().map((name) => ({ name, paused: paused.get(name) ?? null })),
    queues,
    schedules,
  };
}

/** Where the waiting page goes when the job ends: a path on this site, with `{id}` filled in. */
function redirectUrl(to: string | undefined, id: string): string | null {
  const safe = safeLocalPath(to);
  return safe ? safe.replaceAll('{id}', encodeURIComponent(id)) : null;
}
