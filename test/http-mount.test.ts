import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServer, SseClient, setup, type TestEnv, TOKENS } from './helpers/http.ts';

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
});
