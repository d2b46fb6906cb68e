import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createUnderway, signWebhook, verifyWebhook } from '../src/http/index.ts';
import { closeServer, json, setup, silent, type TestEnv, TOKENS, testTasks } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';

const SECRET = 'webhook-secret-0123456789abcdefghijklmnop';

let env: TestEnv;
const servers: Server[] = [];
afterEach(async () => {
  await env?.close();
  await Promise.all(servers.splice(0).map(closeServer));
});

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver on 127.0.0.1 that answers with the given statuses in turn (then 200). */
async function receiver(statuses: number[] = []) {
  const received: Received[] = [];
  const waiters: (() => void)[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = statuses.shift() ?? 200;
      res.end();
      for (const wake of waiters.splice(0)) wake();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const count = async (n: number) => {
    while (received.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
    return received;
  };
  return { url, received, count };
}

describe('webhooks', () => {
  it('POSTs a signed payload when a job ends, retrying with backoff until it is accepted', async () => {
    const hook = await receiver([500, 503]);
    env = setup({ webhooks: { urls: [hook.url], secret: SECRET, retryDelaysMs: [10, 20] } });
    env.worker();
    const job = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'hook' } } }),
    );
    await waitForStatus(env.store, job.id, 'succeeded');
    const [first, , third] = await hook.count(3);
    await env.underway.webhooks?.idle();
    expect(first?.body).toBe(third?.body);
    const delivery = third as Received;
    const payload = JSON.parse(delivery.body);
    expect(payload).toMatchObject({
      id: `${job.id}.succeeded`,
      type: 'job.succeeded',
      job: { id: job.id, status: 'succeeded', result: { text: 'hook' }, urls: { page: `/jobs/${job.id}` } },
    });
    expect(delivery.headers['content-type']).toBe('application/json');
    expect(delivery.headers['underway-event']).toBe('job.succeeded');
    expect(delivery.headers['underway-delivery']).toBe(`${job.id}.succeeded`);
    const signature = delivery.headers['underway-signature'] as string;
    expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhook(SECRET, signature, delivery.body)).toBe(true);
    expect(verifyWebhook('another-secret-0123456789abcdefghijkl', signature, delivery.body)).toBe(false);
    expect(verifyWebhook(SECRET, signature, `${delivery.body} `)).toBe(false);
    const old = signWebhook(SECRET, Math.floor(Date.now() / 1000) - 3_600, delivery.body);
    expect(verifyWebhook(SECRET, old, delivery.body)).toBe(false);

    const log = await json(await env.call('/api/webhooks/deliveries', { as: 'admin' }));
    expect(log.deliveries).toEqual([
      expect.objectContaining({
        id: `${job.id}.succeeded`,
        url: hook.url,
        state: 'delivered',
        attempts: [
          expect.objectContaining({ status: 500, error: 'HTTP 500' }),
          expect.objectContaining({ status: 503 }),
          expect.objectContaining({ status: 200, error: null }),
        ],
      }),
    ]);
    expect((await env.call('/api/webhooks/deliveries', { as: 'alice' })).status).toBe(404);
  });

  it('announces failures with the error, and a queued job cancelled through the API', async () => {
    const hook = await receiver();
    env = setup({ webhooks: { urls: [hook.url], secret: SECRET } });
    const queued = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'x' } } }),
    );
    await env.call(`/api/jobs/${queued.id}/cancel`, { method: 'POST' });
    const [cancelled] = await hook.count(1);
    expect(JSON.parse(cancelled?.body ?? '')).toMatchObject({ type: 'job.cancelled', job: { id: queued.id } });

    env.worker();
    const failing = await json(await env.call('/api/jobs', { method: 'POST', body: { task: 'fail', params: {} } }));
    const [, failed] = await hook.count(2);
    expect(JSON.parse(failed?.body ?? '')).toMatchObject({
      type: 'job.failed',
      job: {
        id: failing.id,
        error: { code: 'TASK_ERROR', message: 'It broke.', detail: expect.stringContaining('It broke.') },
      },
    });
  });

  it('never affects the job: an unreachable receiver is retried, then given up, and logged', async () => {
    const gone = await receiver();
    const deadUrl = gone.url;
    await new Promise<void>((resolve) => servers.pop()?.close(() => resolve()));
    env = setup({ webhooks: { urls: [deadUrl], secret: SECRET, maxAttempts: 2, retryDelaysMs: [5] } });
    env.worker();
    const job = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'x' } } }),
    );
    const done = await waitForStatus(env.store, job.id, 'succeeded');
    expect(done.error).toBeNull();
    // The job's end is announced right after its status is written; then wait for the sender.
    while (env.underway.webhooks?.deliveries().length === 0) await new Promise((r) => setImmediate(r));
    await env.underway.webhooks?.idle();
    const log = await json(await env.call('/api/webhooks/deliveries', { as: 'admin' }));
    expect(log.deliveries[0]).toMatchObject({ state: 'failed', attempts: [{ status: null }, { status: null }] });
    expect((await env.store.get(job.id))?.status).toBe('succeeded');
  });

  it('is sent once, by the process whose worker ended the job, however many servers share the store', async () => {
    const hook = await receiver();
    env = setup({ webhooks: { urls: [hook.url], secret: SECRET } });
    // A second server on the same store, with no worker of its own.
    const other = createUnderway({
      mountPath: '',
      store: env.store,
      tasks: testTasks,
      logger: silent,
      auth: { tokens: [{ token: TOKENS.admin, id: 'root', roles: ['admin'] }] },
      webhooks: { urls: [hook.url], secret: SECRET },
    });
    try {
      env.worker();
      const job = await json(
        await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'x' } } }),
      );
      await waitForStatus(env.store, job.id, 'succeeded');
      await hook.count(1);
      // The other server heard the same status event but made no transition: it sends nothing.
      const response = await other.app.request('/api/webhooks/deliveries', {
        headers: { authorization: `Bearer ${TOKENS.admin}` },
      });
      expect((await json(response)).deliveries).toEqual([]);
      const own = await json(await env.call('/api/webhooks/deliveries', { as: 'admin' }));
      expect(own.deliveries).toHaveLength(1);
      expect(hook.received).toHaveLength(1);
    } finally {
      await other.close();
    }
  });
});
