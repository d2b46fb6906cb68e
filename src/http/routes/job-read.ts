import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { ValidationError } from '../../core/errors.ts';
import { type AppEnv, type Deps, jobJson, stepSummary, visibleJob } from '../context.ts';
import { HttpError } from '../errors.ts';
import { childrenJson } from '../job-json.ts';

/** Lines sent per logs request; the `Underway-Next-Since` header says where to go on. */
const LOG_PAGE = 10_000;

/** What a share link may read: the job, its logs and its files (and, in events.ts, its events). */
export function jobReadRoutes(deps: Deps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/jobs/:id', async (c) => {
    const job = await visibleJob(c, deps, c.req.param('id'));
    const [waiting, steps, children] = await Promise.all([
      deps.queue.waiting(job),
      stepSummary(deps, job),
      deps.jobs.childSummary(job.id),
    ]);
    return c.json({ ...jobJson(c, deps, job, waiting, steps), children: childrenJson(job.id, children, deps.paths) });
  });

  app.get('/jobs/:id/logs', async (c) => {
    const job = await visibleJob(c, deps, c.req.param('id'));
    const sinceText = c.req.query('since') ?? '0';
    const since = Number(sinceText);
    if (!Number.isInteger(since) || since < 0) {
      throw new ValidationError('since must be a line number (the Underway-Next-Since of the last answer).', ['since']);
    }
    const lines = await deps.jobs.readLogs(job.id, { after: since, limit: LOG_PAGE });
    const next = lines.at(-1)?.seq ?? since;
    // Asked for JSON (the job page's catch-up): each line with its seq and the attempt that printed it.
    if (c.req.header('Accept')?.includes('application/json')) {
      return c.json(
        { lines: lines.map(({ seq, at, stream, line, attempt }) => ({ seq, at, stream, line, attempt })), next },
        200,
        { 'Underway-Next-Since': String(next) },
      );
    }
    // Plain text, one line per line printed: `<ISO time> <stream> <line>`. Never HTML.
    const text = lines.map((l) => `${l.at} ${l.stream} ${l.line}\n`).join('');
    return c.body(text, 200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Underway-Next-Since': String(next),
    });
  });

  // The job's progress over time (the job page's chart): the samples its progress writes kept.
  app.get('/jobs/:id/progress', async (c) => {
    const job = await visibleJob(c, deps, c.req.param('id'));
    const samples = await deps.jobs.progressSamples(job.id);
    return c.json({
      id: job.id,
      samples: samples.map((s) => ({ ...s, percent: s.total ? Math.min(100, (s.current / s.total) * 100) : null })),
    });
  });

  app.get('/jobs/:id/artifacts/:name', async (c) => {
    const job = await visibleJob(c, deps, c.req.param('id'));
    const name = c.req.param('name');
    const file = await deps.jobs.openArtifact(job.id, name);
    if (!file) throw new HttpError(404, 'NOT_FOUND', `Job ${job.id} has no file named ${JSON.stringify(name)}.`);
    const { info, body } = file;
    const ascii = info.name.replace(/[^\x20-\x7e]|["\\]/g, '_');
    return new Response(Readable.toWeb(body) as ReadableStream<Uint8Array>, {
      status: 200,
      headers: {
        'Content-Type': info.contentType,
        'Content-Length': String(info.size),
        'Content-Disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(info.name)}`,
        // A file a job wrote is the job's data: never let a browser run it as part of this site.
        'X-Content-Type-Options': 'nosniff',
        'Content-Security-Policy': "sandbox; default-src 'none'",
      },
    });
  });

  return app;
}
