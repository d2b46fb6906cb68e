import { afterEach, describe, expect, it } from 'vitest';
import { openApiDocument } from '../src/http/index.ts';
import { gates, json, setup, type TestEnv } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

describe('HTTP API v1 routes', () => {
  it('lists the tasks with their params as JSON Schema', async () => {
    env = setup();
    const response = await env.call('/api/tasks');
    expect(response.status).toBe(200);
    const { tasks } = await json(response);
    const echo = tasks.find((t: { name: string }) => t.name === 'echo');
    expect(echo).toMatchObject({ name: 'echo', description: 'Returns its params.', maxAttempts: 3 });
    expect(echo.params).toMatchObject({ type: 'object', required: ['text'], properties: { text: { type: 'string' } } });
  });

  it("pauses and resumes a task (admins only), shown in the task list; a paused task's jobs wait", async () => {
    env = setup();
    const pausePath = '/api/tasks/echo/pause';
    expect((await env.call(pausePath, { method: 'POST', body: { reason: 'x' } })).status).toBe(403);
    expect((await env.call(pausePath, { method: 'POST', as: null })).status).toBe(401);
    expect((await env.call('/api/tasks/nope/pause', { method: 'POST', as: 'admin' })).status).toBe(404);
    const tooLong = await env.call(pausePath, { method: 'POST', as: 'admin', body: { reason: 'x'.repeat(501) } });
    expect(tooLong.status).toBe(400);
    expect((await env.call(pausePath, { method: 'POST', as: 'admin', body: { reasons: 'typo' } })).status).toBe(400);
    const paused = await env.call(pausePath, { method: 'POST', as: 'admin', body: { reason: 'disk swap' } });
    expect(paused.status).toBe(200);
    const body = await json(paused);
    expect(body).toMatchObject({ name: 'echo', paused: { by: 'root', reason: 'disk swap' } });
    const listed = (await json(await env.call('/api/tasks'))).tasks.find((t: { name: string }) => t.name === 'echo');
    expect(listed.paused).toEqual(body.paused);
    env.worker();
    const held = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'a' } } }),
    );
    const other = await json(await env.call('/api/jobs', { method: 'POST', body: { task: 'fail', params: {} } }));
    await waitForStatus(env.store, other.id, 'failed');
    expect((await env.store.get(held.id))?.status).toBe('queued');
    const resumed = await env.call('/api/tasks/echo/resume', { method: 'POST', as: 'admin' });
    expect(await json(resumed)).toEqual({ name: 'echo', paused: null });
    await waitForStatus(env.store, held.id, 'succeeded');
    expect((await json(await env.call('/api/tasks'))).tasks.every((t: { paused: unknown }) => t.paused === null)).toBe(
      true,
    );
  });

  it('pauses and resumes a whole queue (admins only); GET /queues and the job say why it waits', async () => {
    env = setup();
    expect((await env.call('/api/queues')).status).toBe(403);
    expect((await env.call('/api/queues/echo/pause', { method: 'POST' })).status).toBe(403);
    expect((await env.call('/api/queues/nope/pause', { method: 'POST', as: 'admin' })).status).toBe(404);
    const bad = await env.call('/api/queues/echo/pause', { method: 'POST', as: 'admin', body: { reasons: 'typo' } });
    expect(bad.status).toBe(400);
    const paused = await env.call('/api/queues/echo/pause', { method: 'POST', as: 'admin', body: { reason: 'quota' } });
    expect(await json(paused)).toMatchObject({ name: 'echo', paused: { by: 'root', reason: 'quota' } });
    const held = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'a' } } }),
    );
    const read = await json(await env.call(`/api/jobs/${held.id}`));
    expect(read.waiting).toEqual({
      reason: 'queue paused',
      text: expect.stringMatching(/^waiting: queue echo paused by root since .*: quota$/),
    });
    const listed = await json(await env.call('/api/jobs'));
    expect(listed.jobs[0]).toMatchObject({ id: held.id, waiting: { reason: 'queue paused' } });
    const { queues } = await json(await env.call('/api/queues', { as: 'admin' }));
    expect(queues.find((q: { name: string }) => q.name === 'echo')).toMatchObject({
      tasks: ['echo'],
      limits: null,
      paused: { by: 'root', reason: 'quota' },
      usage: { due: 1, running: 0 },
    });
    env.worker();
    const other = await json(await env.call('/api/jobs', { method: 'POST', body: { task: 'fail', params: {} } }));
    await waitForStatus(env.store, other.id, 'failed');
    expect((await env.store.get(held.id))?.status).toBe('queued');
    const resumed = await env.call('/api/queues/echo/resume', { method: 'POST', as: 'admin' });
    expect(await json(resumed)).toEqual({ name: 'echo', paused: null });
    await waitForStatus(env.store, held.id, 'succeeded');
    expect((await json(await env.call(`/api/jobs/${held.id}`))).waiting).toBeNull();
  });

  it('starts a job: 201, Location, the job object as specified', async () => {
    env = setup();
    const response = await env.call('/api/jobs', {
      method: 'POST',
      body: { task: 'echo', params: { text: 'hi', password: 'hunter2' } },
    });
    expect(response.status).toBe(201);
    const job = await json(response);
    expect(response.headers.get('location')).toBe(`/api/jobs/${job.id}`);
    expect(job).toMatchObject({
      task: 'echo',
      status: 'queued',
      progress: null,
      params: { text: 'hi', password: '[redacted]' },
      result: null,
      error: null,
      attempt: 0,
      maxAttempts: 3,
      cancelRequested: false,
      owner: 'alice',
      startedAt: null,
      finishedAt: null,
      urls: { self: `/api/jobs/${job.id}`, page: `/jobs/${job.id}`, events: `/api/jobs/${job.id}/events` },
    });
    expect(job.id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    for (const key of ['createdAt', 'runAt']) expect(new Date(job[key]).toISOString()).toBe(job[key]);
    // The store holds it sealed, for the task to open; the API shows it as "[redacted]".
    expect((await env.store.get(job.id))?.params).toEqual({
      text: 'hi',
      password: expect.stringMatching(/^\[redacted:v2:/),
    });
  });

  it('answers 200 with the existing job for a matching dedupeKey, per user', async () => {
    env = setup();
    const body = { task: 'echo', params: { text: 'x' }, dedupeKey: 'nightly' };
    const first = await json(await env.call('/api/jobs', { method: 'POST', body }));
    const again = await env.call('/api/jobs', { method: 'POST', body });
    expect(again.status).toBe(200);
    expect((await json(again)).id).toBe(first.id);
    // Another user's identical key does not reveal alice's job.
    const bobs = await env.call('/api/jobs', { method: 'POST', body, as: 'bob' });
    expect(bobs.status).toBe(201);
    expect((await json(bobs)).id).not.toBe(first.id);
  });

  it('refuses unknown tasks, bad params, bad options and malformed JSON with 400 and the reasons', async () => {
    env = setup();
    const unknown = await env.call('/api/jobs', { method: 'POST', body: { task: 'nope' } });
    expect(unknown.status).toBe(400);
    expect((await json(unknown)).error).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringContaining('nope'),
    });

    const bad = await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 5 } } });
    expect(bad.status).toBe(400);
    const badBody = await json(bad);
    expect(badBody.error.code).toBe('VALIDATION_FAILED');
    expect(badBody.error.details).toEqual([expect.stringContaining('params.text')]);

    const options = await env.call('/api/jobs', {
      method: 'POST',
      body: { task: 'echo', params: { text: 'a' }, maxAttempts: 0, colour: 'red' },
    });
    expect(options.status).toBe(400);
    expect((await json(options)).error.details).toHaveLength(2);

    const malformed = await env.call('/api/jobs', { method: 'POST', body: '{"task": ' });
    expect(malformed.status).toBe(400);
    expect(await json(malformed)).toEqual({ error: { code: 'MALFORMED_JSON', message: expect.any(String) } });
  });

  it('refuses a body over the limit with 413', async () => {
    env = setup({ bodyLimitBytes: 1024 });
    const response = await env.call('/api/jobs', {
      method: 'POST',
      body: { task: 'echo', params: { text: 'x'.repeat(2048) } },
    });
    expect(response.status).toBe(413);
    expect((await json(response)).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('gets one job; 404 for an unknown id', async () => {
    env = setup();
    const started = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'a' } } }),
    );
    const got = await env.call(`/api/jobs/${started.id}`);
    expect(got.status).toBe(200);
    expect((await json(got)).id).toBe(started.id);
    const missing = await env.call('/api/jobs/does-not-exist');
    expect(missing.status).toBe(404);
    expect((await json(missing)).error.code).toBe('NOT_FOUND');
  });

  it('lists newest first and pages with a cursor, filtered by status and task', async () => {
    env = setup();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const job = await json(
        await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: `${i}` } } }),
      );
      ids.push(job.id);
    }
    await env.call('/api/jobs', { method: 'POST', body: { task: 'fail', params: {} } });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/api/jobs?task=echo&status=queued,running&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await json(await env.call(q));
      seen.push(...page.jobs.map((j: { id: string }) => j.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(ids.reverse());

    expect((await env.call('/api/jobs?limit=201')).status).toBe(400);
    expect((await env.call('/api/jobs?status=sleeping')).status).toBe(400);
    const badCursor = await env.call('/api/jobs?cursor=garbage');
    expect(badCursor.status).toBe(400);
    expect((await json(badCursor)).error.code).toBe('VALIDATION_FAILED');
  });

  it('cancels a queued job at once (202), then 409; deletes finished jobs (204), 409 while unfinished', async () => {
    env = setup();
    const job = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'a' } } }),
    );
    expect((await env.call(`/api/jobs/${job.id}`, { method: 'DELETE' })).status).toBe(409);
    const cancel = await env.call(`/api/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(202);
    expect(await json(cancel)).toMatchObject({ status: 'cancelled', cancelRequested: true });
    const again = await env.call(`/api/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect((await json(again)).error.code).toBe('CONFLICT');

    const retry = await env.call(`/api/jobs/${job.id}/retry`, { method: 'POST' });
    expect(retry.status).toBe(201);
    const fresh = await json(retry);
    expect(fresh).toMatchObject({ status: 'queued', retryOf: job.id, owner: 'alice' });
    expect(retry.headers.get('location')).toBe(`/api/jobs/${fresh.id}`);
    expect((await env.call(`/api/jobs/${fresh.id}/retry`, { method: 'POST' })).status).toBe(409);

    expect((await env.call(`/api/jobs/${job.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await env.call(`/api/jobs/${job.id}`)).status).toBe(404);
    expect((await env.call(`/api/jobs/${job.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('cancels a running job with 202 and cancelRequested; it ends cancelled', async () => {
    env = setup();
    env.worker();
    const job = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'gate', params: { key: 'c1' } } }),
    );
    await waitForStatus(env.store, job.id, 'running');
    const cancel = await env.call(`/api/jobs/${job.id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(202);
    expect(await json(cancel)).toMatchObject({ status: 'running', cancelRequested: true });
    const ended = await waitForStatus(env.store, job.id, 'cancelled');
    expect(ended.error?.code).toBe('CANCELLED');
  });

  it('serves logs as text with ?since=, artifacts with Content-Disposition, and 404 for a missing file', async () => {
    env = setup();
    env.worker();
    const job = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: '<b>hi</b>' } } }),
    );
    await waitForStatus(env.store, job.id, 'succeeded');
    const logs = await env.call(`/api/jobs/${job.id}/logs`);
    expect(logs.status).toBe(200);
    expect(logs.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await logs.text();
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z stdout echo says <b>hi<\/b>\n$/);
    const next = logs.headers.get('underway-next-since');
    expect(await (await env.call(`/api/jobs/${job.id}/logs?since=${next}`)).text()).toBe('');
    expect((await env.call(`/api/jobs/${job.id}/logs?since=-1`)).status).toBe(400);
    // Asked for JSON, the same lines come with their seq and the attempt that printed them.
    const asJson = await env.call(`/api/jobs/${job.id}/logs`, { headers: { Accept: 'application/json' } });
    expect(asJson.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await asJson.json()).toEqual({
      lines: [{ seq: Number(next), at: expect.any(String), stream: 'stdout', line: 'echo says <b>hi</b>', attempt: 1 }],
      next: Number(next),
    });

    const file = await env.call(`/api/jobs/${job.id}/artifacts/echo.txt`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-disposition')).toContain('attachment; filename="echo.txt"');
    expect(await file.text()).toBe('<b>hi</b>');
    expect((await env.call(`/api/jobs/${job.id}/artifacts/nope.txt`)).status).toBe(404);

    const done = await json(await env.call(`/api/jobs/${job.id}`));
    expect(done).toMatchObject({ status: 'succeeded', result: { text: '<b>hi</b>' }, attempt: 1 });
    expect(done.artifacts).toEqual([
      expect.objectContaining({ name: 'echo.txt', url: `/api/jobs/${job.id}/artifacts/echo.txt` }),
    ]);
  });

  it('shows a failed job error; detail for the owner', async () => {
    env = setup();
    env.worker();
    const job = await json(await env.call('/api/jobs', { method: 'POST', body: { task: 'fail', params: {} } }));
    await waitForStatus(env.store, job.id, 'failed');
    const failed = await json(await env.call(`/api/jobs/${job.id}`));
    expect(failed.error).toMatchObject({
      message: 'It broke.',
      code: 'TASK_ERROR',
      detail: expect.stringContaining('Error: It broke.'),
    });
  });

  it('answers every error as { error: { code, message } }, including unknown paths', async () => {
    env = setup();
    const response = await env.call('/api/nothing-here');
    expect(response.status).toBe(404);
    expect(await json(response)).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String) } });
  });

  it('tells browsers not to sniff any answer into another type', async () => {
    env = setup();
    for (const path of ['/api/nothing-here', '/api/tasks', '/api/jobs', '/healthz']) {
      expect((await env.call(path)).headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });

  it('reports health and Prometheus metrics', async () => {
    env = setup();
    await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'a' } } });
    const health = await env.call('/healthz', { as: null });
    expect(health.status).toBe(200);
    expect(await json(health)).toEqual({ status: 'ok', store: 'sqlite' });
    // The counters are the host's business: admins and a scraper's token only.
    expect((await env.call('/metrics', { as: null })).status).toBe(401);
    expect((await env.call('/metrics', { as: 'alice' })).status).toBe(403);
    const metrics = await env.call('/metrics', { as: 'admin' });
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('underway_jobs{task="echo",status="queued"} 1');
    expect(text).toContain('underway_queue_depth 1');
    expect(text).toContain('underway_sse_connections 0');
    expect(text).toMatch(/underway_progress_events_total \d+/);
    const scraper = setup({ metricsToken: 'scrape-0123456789abcdef' });
    const scraped = await scraper.call('/metrics', {
      as: null,
      headers: { authorization: 'Bearer scrape-0123456789abcdef' },
    });
    expect(scraped.status).toBe(200);
    await scraper.close();

    await env.store.close();
    const down = await env.call('/healthz', { as: null });
    expect(down.status).toBe(503);
    expect((await json(down)).error.code).toBe('STORE_UNAVAILABLE');
  });

  it('serves an OpenAPI 3.1 document whose paths are exactly the routes', async () => {
    // The dashboard's pages are not API routes (docs/dashboard.md lists them).
    env = setup({ dashboard: false });
    const response = await env.call('/api/openapi.json', { as: null });
    expect(response.status).toBe(200);
    const document = await json(response);
    expect(document.openapi).toBe('3.1.0');
    expect(document).toEqual(
      openApiDocument({ basePath: '/api', pagesPath: '', healthPath: '/healthz', metricsPath: '/metrics' }),
    );
    const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    const routed = [
      ...new Set(
        env.underway.app.routes
          .filter((r) => r.method !== 'ALL')
          .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
      ),
    ].sort();
    expect(documented).toEqual(routed);
    const startBody = document.paths['/api/jobs'].post.requestBody.content['application/json'].schema;
    expect(startBody.required).toEqual(['task']);
  });

  it('mounts under another base path', async () => {
    env = setup({ basePath: '/underway/api/', pagesPath: '/underway' });
    const job = await json(
      await env.call('/underway/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'a' } } }),
    );
    expect(job.urls).toMatchObject({ self: `/underway/api/jobs/${job.id}`, page: `/underway/jobs/${job.id}` });
    expect((await env.call(`/underway/api/jobs/${job.id}`)).status).toBe(200);
    expect((await env.call(`/api/jobs/${job.id}`)).status).toBe(404);
  });

  it('keeps what a job prints as data in JSON', async () => {
    env = setup();
    env.worker();
    const text = '</script><script>alert(1)</script>\u2028"';
    const job = await json(await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text } } }));
    await waitForStatus(env.store, job.id, 'succeeded');
    const response = await env.call(`/api/jobs/${job.id}`);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await json(response)).result.text).toBe(text);
    gates.clear();
  });
});
