import { Hono } from 'hono';
import { isTerminal } from '../../core/job.ts';
import type { JobEvent } from '../../store/store.ts';
import { canSee, seesDetail } from '../auth.ts';
import { type AppContext, type AppEnv, callerOf, type Deps, jobJson, requireUser } from '../context.ts';
import { jobNotFound, unauthenticated } from '../errors.ts';
import { publicError } from '../job-json.ts';
import { type RenderedEvent, SSE_HEADERS } from '../sse.ts';

/** The event a job stream sends for a store event (the contract's `progress`, `status`, `log`). */
export function renderJobEvent(event: JobEvent, detail: boolean, endOnTerminal: boolean): RenderedEvent {
  switch (event.type) {
    case 'progress':
      return { event: 'progress', data: { id: event.jobId, progress: event.progress } };
    case 'log':
      return {
        event: 'log',
        data: {
          id: event.jobId,
          stream: event.stream,
          line: event.line,
          seq: event.seq,
          at: event.at,
          attempt: event.attempt ?? null,
        },
      };
    case 'status': {
      const data: Record<string, unknown> = {
        id: event.jobId,
        status: event.status,
        cancelRequested: event.cancelRequested,
      };
      if (event.error) data.error = publicError(event.error, detail);
      if (event.result !== undefined) data.result = event.result;
      return { event: 'status', data, end: endOnTerminal && isTerminal(event.status) };
    }
  }
}

/** `Last-Event-ID` (sent by EventSource on reconnect), or `?lastEventId=` for clients that cannot set headers. */
function lastEventId(c: AppContext): number | null {
  const text = c.req.header('last-event-id') ?? c.req.query('lastEventId');
  if (!text || !/^\d{1,16}$/.test(text)) return null;
  return Number(text);
}

/** Under node, a dropped client's socket is destroyed outright rather than left waiting for a drain. */
function socketAbort(c: AppContext): (() => void) | undefined {
  const socket = c.env?.incoming?.socket;
  return socket ? () => socket.destroy() : undefined;
}

/** `GET /jobs/:id/events` and `GET /events`: live job events over SSE, fanned out from one subscription. */
export function eventRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { fanout } = deps;

  app.get('/jobs/:id/events', async (c) => {
    const id = c.req.param('id');
    const caller = callerOf(c);
    if (!caller.user && caller.shareJobId === null) throw unauthenticated();
    const resumeFrom = lastEventId(c);
    // Listen first, then read the job: a change in between is held, not lost.
    let detail = false;
    const connection = fanout.open({
      accepts: (event) => event.jobId === id,
      get shapeKey() {
        return detail ? 'job:detail' : 'job';
      },
      render: (event) => renderJobEvent(event, detail, true),
      abort: socketAbort(c),
    });
    const position = fanout.position;
    const replay = resumeFrom === null ? null : fanout.since(resumeFrom);
    try {
      const job = await deps.jobs.get(id);
      if (!job || !canSee(caller, job)) throw jobNotFound(id);
      detail = seesDetail(caller, job);
      // Resuming inside the replay window: the snapshot carries the client's last id and the
      // missed events follow it. Otherwise a fresh snapshot as of now.
      const snapshotId = replay === null ? position : (resumeFrom as number);
      connection.start({ event: 'snapshot', data: jobJson(c, deps, job) }, snapshotId, replay ?? []);
      if (isTerminal(job.status)) connection.end();
    } catch (error) {
      connection.end();
      throw error;
    }
    return new Response(connection.stream, { status: 200, headers: SSE_HEADERS });
  });

  app.get('/events', async (c) => {
    const user = requireUser(c);
    const caller = callerOf(c);
    const resumeFrom = lastEventId(c);
    const visible = (event: JobEvent) => caller.admin || event.owner === user.id;
    const connection = fanout.open({
      // No logs here: this stream is for lists and the global indicator, not for reading output.
      accepts: (event) => event.type !== 'log' && visible(event),
      shapeKey: 'all',
      render: (event) => renderJobEvent(event, true, false),
      abort: socketAbort(c),
    });
    const position = fanout.position;
    const replay = resumeFrom === null ? null : fanout.since(resumeFrom);
    try {
      // The snapshot of the global stream: the caller's unfinished jobs (an additive shape).
      const page = await deps.jobs.list({
        status: ['queued', 'running'],
        owner: caller.admin ? undefined : user.id,
        limit: 200,
      });
      const jobs = page.jobs.filter((job) => canSee(caller, job)).map((job) => jobJson(c, deps, job));
      connection.start(
        { event: 'snapshot', data: { jobs } },
        replay === null ? position : (resumeFrom as number),
        replay ?? [],
      );
    } catch (error) {
      connection.end();
      throw error;
    }
    return new Response(connection.stream, { status: 200, headers: SSE_HEADERS });
  });

  return app;
}
