import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Hono } from 'hono';
import multer from 'multer';
import { afterEach, describe, expect, it } from 'vitest';
import { createUnderway } from '../src/http/index.ts';
import { closeServer, SseClient, setup, silent, type TestEnv, TOKENS, testTasks } from './helpers/http.ts';

let env: TestEnv;
const servers: Server[] = [];
const clients: SseClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map(closeServer));
  await env?.close();
});

const bearer = { authorization: `Bearer ${TOKENS.alice}` };

async function listenOn(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The same walk through the API, whatever hosts it. */
async function exercise(url: string, apiBase = '/api'): Promise<void> {
  const started = await fetch(`${url}${apiBase}/jobs`, {
    method: 'POST',
    headers: { ...bearer, 'content-type': 'application/json' },
    body: JSON.stringify({ task: 'echo', params: { text: 'mounted' } }),
  });
  expect(started.status).toBe(201);
  const job = (await started.json()) as { id: string; urls: { events: string } };
  expect(job.urls.events).toBe(`${apiBase}/jobs/${job.id}/events`);
  const got = await fetch(`${url}${apiBase}/jobs/${job.id}`, { headers: bearer });
  expect(got.status).toBe(200);
  const malformed = await fetch(`${url}${apiBase}/jobs`, {
    method: 'POST',
    headers: { ...bearer, 'content-type': 'application/json' },
    body: '{nope',
  });
  expect(malformed.status).toBe(400);
  const events = new SseClient(`${url}${job.urls.events}`, bearer);
  clients.push(events);
  const snapshot = await events.frame('snapshot');
  expect(snapshot.data).toMatchObject({ id: job.id, status: 'queued' });
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
}

describe('mounting', () => {
  it('runs in a real Express 5 app, beside its own routes, before or after express.json()', async () => {
    env = setup();
    const app = express();
    app.get('/hello', (_req, res) => {
      res.send('hello from express');
    });
    app.use(express.json());
    app.use(env.underway.nodeHandler);
    app.use((_req, res) => {
      res.status(418).send('express 404');
    });
    const url = await listenOn(createServer(app));
    await exercise(url);
    expect(await (await fetch(`${url}/hello`)).text()).toBe('hello from express');
    // Not underway's: passed on to Express.
    expect((await fetch(`${url}/elsewhere`)).status).toBe(418);
  });

  it('runs under an Express mount point when the base path says so', async () => {
    env = setup({ basePath: '/jobs-service/api', healthPath: '/jobs-service/healthz' });
    const app = express();
    app.use('/jobs-service', env.underway.nodeHandler);
    const url = await listenOn(createServer(app));
    const started = await fetch(`${url}/jobs-service/api/jobs`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'echo', params: { text: 'x' } }),
    });
    expect(started.status).toBe(201);
    expect((await fetch(`${url}/jobs-service/healthz`)).status).toBe(200);
  });

  it('runs on a plain node:http server', async () => {
    env = setup();
    const url = await listenOn(createServer(env.underway.nodeHandler));
    await exercise(url);
    const unknown = await fetch(`${url}/nothing`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it('answers through .fetch inside a host Hono app', async () => {
    env = setup();
    const host = new Hono();
    host.get('/', (c) => c.text('host'));
    host.all('/api/*', (c) => env.underway.fetch(c.req.raw));
    const response = await host.request('/api/tasks', { headers: bearer });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { tasks: unknown[] }).tasks.length).toBeGreaterThan(0);
    expect(await (await host.request('/')).text()).toBe('host');
  });

  it('takes only /underway in an Express app by default: its parsers first, its session user, its own routes kept', async () => {
    env = setup({ mountPath: undefined });
    const seen: unknown[] = [];
    const underway = createUnderway({
      store: env.store,
      tasks: testTasks,
      logger: silent,
      auth: {
        authenticate: (_request, host) => {
          const user = (host.node as express.Request & { user?: { id: string } }).user;
          seen.push(user?.id ?? null);
          return user ? { id: user.id, roles: [] } : null;
        },
      },
    });
    const app = express();
    app.use(express.json());
    app.use(express.urlencoded({ extended: true }));
    // The host's own login: a session cookie names the user.
    app.use((req, _res, next) => {
      const match = /(?:^|;\s*)session=(\w+)/.exec(req.headers.cookie ?? '');
      if (match) (req as express.Request & { user?: { id: string } }).user = { id: match[1] as string };
      next();
    });
    for (const path of ['/', '/jobs', '/metrics', '/healthz'])
      app.get(path, (_req, res) => void res.send(`host ${path}`));
    app.use(underway.nodeHandler);
    const url = await listenOn(createServer(app));
    try {
      for (const path of ['/', '/jobs', '/metrics', '/healthz'])
        expect(await (await fetch(`${url}${path}`)).text()).toBe(`host ${path}`);
      expect((await fetch(`${url}/underway/healthz`)).status).toBe(200);

      // A dashboard form, posted as a browser does, through express.urlencoded().
      const session = 'session=carol';
      const list = await fetch(`${url}/underway`, { headers: { cookie: session } });
      expect(list.status).toBe(200);
      const html = await list.text();
      const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] as string;
      const cookie = `${session}; ${(list.headers.get('set-cookie') ?? '').split(';')[0]}`;
      expect(html).toContain('action="/underway/jobs"');
      const posted = await fetch(`${url}/underway/jobs`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, origin: url, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ _csrf: csrf, task: 'echo', 'p.text': 'from a form' }).toString(),
      });
      expect(posted.status).toBe(303);
      const page = posted.headers.get('location') as string;
      expect(page).toMatch(/^\/underway\/jobs\/[\w-]+$/);
      expect((await fetch(`${url}${page}`, { headers: { cookie } })).status).toBe(200);

      // The API through express.json(): the parsed body is handed back as the client sent it.
      const started = await fetch(`${url}/underway/api/jobs`, {
        method: 'POST',
        headers: { cookie, origin: url, 'x-csrf-token': csrf, 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'echo', params: { text: 'über json' } }),
      });
      expect(started.status).toBe(201);
      const job = (await started.json()) as { owner: string; params: { text: string }; urls: { page: string } };
      expect(job).toMatchObject({ owner: 'carol', params: { text: 'über json' } });
      expect(job.urls.page).toMatch(/^\/underway\/jobs\//);
      expect(seen).toContain('carol');
      // The browser bundle is there for the host's own pages.
      expect((await fetch(`${url}/underway/assets/underway-client.js`)).headers.get('content-type')).toMatch(
        /javascript/,
      );
    } finally {
      await underway.close();
    }
  });

  it('reads a dashboard form that multer already parsed as multipart', async () => {
    env = setup({ mountPath: undefined });
    const underway = createUnderway({
      store: env.store,
      tasks: testTasks,
      logger: silent,
      auth: { authenticate: () => ({ id: 'erin', roles: [] }) },
    });
    const app = express();
    app.use(multer().none());
    app.use(underway.nodeHandler);
    const url = await listenOn(createServer(app));
    try {
      const list = await fetch(`${url}/underway`);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await list.text())?.[1] as string;
      const form = new FormData();
      form.append('_csrf', csrf);
      form.append('task', 'echo');
      form.append('p.text', 'multipart ✓');
      const posted = await fetch(`${url}/underway/jobs`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: (list.headers.get('set-cookie') ?? '').split(';')[0] as string, origin: url },
        body: form,
      });
      expect(posted.status).toBe(303);
      const id = (posted.headers.get('location') as string).split('/').pop() as string;
      expect((await env.store.get(id))?.params).toEqual({ text: 'multipart ✓' });
    } finally {
      await underway.close();
    }
  });

  it('serves the browser bundle with the API when the dashboard is off', async () => {
    env = setup({ dashboard: false });
    const script = await env.call('/assets/underway-client.js', { as: null });
    expect(script.status).toBe(200);
    expect(await script.text()).toContain('underway-progress');
    expect((await env.call('/', { as: null })).status).toBe(404);
  });

  it("passes Hono's context to authenticate as middleware in a host Hono app", async () => {
    env = setup();
    const underway = createUnderway({
      store: env.store,
      tasks: testTasks,
      logger: silent,
      auth: { authenticate: (_request, { hono }) => (hono?.get('user' as never) ? { id: 'dora', roles: [] } : null) },
    });
    const host = new Hono<{ Variables: { user: string } }>();
    host.use(async (c, next) => {
      c.set('user', 'dora');
      await next();
    });
    host.get('/', (c) => c.text('host'));
    host.use(underway.hono);
    try {
      const response = await host.request('/underway/api/jobs');
      expect(response.status).toBe(200);
      expect(await (await host.request('/')).text()).toBe('host');
      expect((await host.request('/elsewhere')).status).toBe(404);
    } finally {
      await underway.close();
    }
  });
});
