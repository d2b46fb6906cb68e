import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { createUnderway, signWebhook, type Underway, verifyWebhook } from '../src/http/index.ts';
import { createLogger } from '../src/logger.ts';
import { createWorker } from '../src/worker/index.ts';
import { json, setup, silent, type TestEnv, TOKENS, testTasks } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';
import { WebhookReceiver } from './helpers/webhook-receiver.ts';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const PLAIN = 'webhook-secret-0123456789abcdefghijklmnop';
/** Retries and polls kept short, so that nothing here waits long for a timer. */
const FAST = { retryDelaysMs: [10, 20], pollMs: 50 };

let env: TestEnv | undefined;
const receivers: WebhookReceiver[] = [];
const extra: Underway[] = [];
afterEach(async () => {
  await Promise.all(extra.splice(0).map((u) => u.close()));
  await env?.close();
  env = undefined;
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(secret = SECRET, statuses: number[] = []): Promise<WebhookReceiver> {
  const hook = new WebhookReceiver(secret, statuses);
  receivers.push(hook);
  return hook.listen();
}

/** A receiver's port that refuses connections until it listens. */
async function downReceiver(secret = SECRET): Promise<WebhookReceiver> {
  const hook = new WebhookReceiver(secret);
  receivers.push(hook);
  return hook.reserve();
}

/** Another API (another "server process") over the same store. */
function secondServer(store: TestEnv['store'], webhooks: Parameters<typeof createUnderway>[0]['webhooks']) {
  const other = createUnderway({
    mountPath: '',
    store,
    tasks: testTasks,
    logger: silent,
    auth: { tokens: [{ token: TOKENS.admin, id: 'root', roles: ['admin'] }] },
    webhooks,
  });
  extra.push(other);
  return other;
}

/** A logger whose lines a test can wait for: the sender's own account of what it did. */
function watchedLogger() {
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  const logger = createLogger({
    level: 'info',
    destination: {
      write(line: string) {
        lines.push(JSON.parse(line));
        for (const wake of waiters) wake();
      },
    },
  });
  const line = (msg: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const check = () => {
        const found = lines.find((l) => l.msg === msg);
        if (found) {
          waiters.delete(check);
          resolve(found);
        }
      };
      waiters.add(check);
      check();
    });
  return { logger, line };
}

const startJob = async (body: unknown, as: 'alice' | 'bob' | 'admin' = 'alice') =>
  json(await (env as TestEnv).call('/api/jobs', { method: 'POST', body, as }));

describe('webhooks', () => {
  it('POSTs a Standard Webhooks payload when a job ends, retrying with backoff until it is accepted', async () => {
    const hook = await receiver(SECRET, [500, 503]);
    env = setup({ webhooks: { urls: [hook.url], secret: SECRET, ...FAST } });
    env.worker();
    const job = await startJob({ task: 'echo', params: { text: 'hook' } });
    const done = await waitForStatus(env.store, job.id, 'succeeded');
    const tries = await hook.until((r) => r.received.length >= 3 && r.received);
    await env.underway.webhooks?.idle();
    expect(tries.map((r) => r.status)).toEqual([500, 503, 200]);
    expect(tries.map((r) => r.refused)).toEqual([null, null, null]); // verified by standardwebhooks
    expect(new Set(tries.map((r) => r.body)).size).toBe(1);
    expect(new Set(tries.map((r) => r.id))).toEqual(new Set([`${job.id}.succeeded`]));
    const last = tries[2] as (typeof tries)[number];
    expect(last.payload).toMatchObject({
      id: `${job.id}.succeeded`,
      type: 'job.succeeded',
      timestamp: done.finishedAt,
      data: { job: { id: job.id, status: 'succeeded', result: { text: 'hook' }, urls: { page: `/jobs/${job.id}` } } },
    });
    expect(last.headers['content-type']).toBe('application/json');
    expect(last.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(verifyWebhook(SECRET, last.headers, last.body)).toBe(true);
    expect(verifyWebhook(`whsec_${randomBytes(32).toString('base64')}`, last.headers, last.body)).toBe(false);
    expect(verifyWebhook(SECRET, last.headers, `${last.body} `)).toBe(false);
    expect(verifyWebhook(SECRET, last.headers, last.body, { now: Date.now() + 3_600_000 })).toBe(false);

    const log = await json(await env.call('/api/webhooks/deliveries', { as: 'admin' }));
    expect(log.deliveries).toEqual([
      expect.objectContaining({
        id: `${job.id}.succeeded`,
        jobId: job.id,
        url: hook.url,
        type: 'job.succeeded',
        state: 'delivered',
        attempts: 3,
        nextAttemptAt: null,
        lastStatus: 200,
        lastError: null,
        log: [
          expect.objectContaining({ status: 500, error: 'HTTP 500' }),
          expect.objectContaining({ status: 503, error: 'HTTP 503' }),
          expect.objectContaining({ status: 200, error: null }),
        ],
      }),
    ]);
    expect((await env.call('/api/webhooks/deliveries', { as: 'alice' })).status).toBe(404);
  });

  it("shows a job's deliveries to its owner (receivers' origins) and admins (whole URLs), to nobody else", async () => {
    const hook = await receiver();
    env = setup({ webhooks: { urls: [`${hook.url}?token=receiver-secret`], secret: SECRET, ...FAST } });
    env.worker();
    const job = await startJob({ task: 'echo', params: { text: 'mine' } });
    await hook.until((r) => r.accepted().has(`${job.id}.succeeded`));
    await env.underway.webhooks?.idle();
    const path = `/api/jobs/${job.id}/webhooks`;
    const owner = await json(await env.call(path, { as: 'alice' }));
    expect(owner.deliveries).toEqual([
      expect.objectContaining({ id: `${job.id}.succeeded`, url: new URL(hook.url).origin, state: 'delivered' }),
    ]);
    const admin = await json(await env.call(path, { as: 'admin' }));
    expect(admin.deliveries[0].url).toBe(`${hook.url}?token=receiver-secret`);
    expect((await env.call(path, { as: 'bob' })).status).toBe(404);
    expect((await env.call(path, { as: null })).status).toBe(401);
    const share = await json(await env.call(`/api/jobs/${job.id}/share`, { method: 'POST', body: {} }));
    expect((await env.call(`${path}?share=${encodeURIComponent(share.token)}`, { as: null })).status).toBe(401);
    expect((await env.call(`/api/jobs/${job.id}?share=${encodeURIComponent(share.token)}`, { as: null })).status).toBe(
      200,
    );

    // The job's page: a Webhooks section for the owner, with the origin only; none through a share link.
    const page = await (await env.call(`/jobs/${job.id}`, { as: 'alice' })).text();
    expect(page).toContain('<h2 id="uw-webhooks-title">Webhooks</h2>');
    expect(page).toContain(new URL(hook.url).origin);
    expect(page).not.toContain('receiver-secret');
    expect(page).toMatch(/data-state="delivered"/);
    const adminPage = await (await env.call(`/jobs/${job.id}`, { as: 'admin' })).text();
    expect(adminPage).toContain('receiver-secret');
    const shared = await (
      await env.call(`/jobs/${job.id}?share=${encodeURIComponent(share.token)}`, { as: null })
    ).text();
    expect(shared).toContain(job.id);
    expect(shared).not.toContain('uw-webhooks-title');
  });

  it('announces failures with the error, and a queued job cancelled through the API', async () => {
    const hook = await receiver(PLAIN);
    env = setup({ webhooks: { urls: [hook.url], secret: PLAIN, ...FAST } });
    const queued = await startJob({ task: 'echo', params: { text: 'x' } });
    await env.call(`/api/jobs/${queued.id}/cancel`, { method: 'POST' });
    const [cancelled] = await hook.until((r) => r.accepted().size >= 1 && r.received);
    expect(cancelled?.payload).toMatchObject({ type: 'job.cancelled', data: { job: { id: queued.id } } });

    env.worker();
    const failing = await startJob({ task: 'fail', params: {} });
    const failed = await hook.until((r) => r.received.find((d) => d.id === `${failing.id}.failed`));
    expect(failed.payload).toMatchObject({
      type: 'job.failed',
      data: {
        job: {
          id: failing.id,
          error: { code: 'TASK_ERROR', message: 'It broke.', detail: expect.stringContaining('It broke.') },
        },
      },
    });
  });

  it('never affects the job: an unreachable receiver is retried, then given up, and logged', async () => {
    const gone = await downReceiver();
    env = setup({ webhooks: { urls: [gone.url], secret: SECRET, maxAttempts: 2, retryDelaysMs: [5], pollMs: 50 } });
    env.worker();
    const job = await startJob({ task: 'echo', params: { text: 'x' } });
    const done = await waitForStatus(env.store, job.id, 'succeeded');
    expect(done.error).toBeNull();
    // Heard at once (the status event), recorded, tried twice, given up.
    await env.underway.webhooks?.idle();
    const log = await json(await env.call('/api/webhooks/deliveries', { as: 'admin' }));
    expect(log.deliveries[0]).toMatchObject({
      state: 'failed',
      attempts: 2,
      nextAttemptAt: null,
      log: [
        { status: null, error: expect.stringContaining('ECONNREFUSED') },
        { status: null, error: expect.stringContaining('ECONNREFUSED') },
      ],
    });
    expect(await env.store.get(job.id)).toEqual(done);
  });

  it('gives up on a delivery whose job was removed before it got through', async () => {
    const gone = await downReceiver();
    const watched = watchedLogger();
    env = setup({
      webhooks: { urls: [gone.url], secret: SECRET, retryDelaysMs: [20], pollMs: 50 },
      logger: watched.logger,
    });
    env.worker();
    const job = await startJob({ task: 'echo', params: { text: 'x' } });
    await watched.line('webhook delivery failed; will retry');
    expect((await env.call(`/api/jobs/${job.id}`, { method: 'DELETE' })).status).toBe(204);
    await watched.line('webhook delivery failed; giving up');
    await env.underway.webhooks?.idle();
    const [delivery] = (await env.underway.webhooks?.deliveries({ jobId: job.id })) ?? [];
    expect(delivery).toMatchObject({ state: 'failed', lastError: 'The job was removed before it was announced.' });
  });

  it('is sent once however many processes share the store, and each shows the same log', async () => {
    const hook = await receiver();
    const webhooks = { urls: [hook.url], secret: SECRET, ...FAST };
    env = setup({ webhooks });
    // A second server on the same store, with no worker of its own: it sends too, never the same try.
    const other = secondServer(env.store, webhooks);
    env.worker();
    const jobs = await Promise.all([1, 2, 3, 4, 5].map((n) => startJob({ task: 'echo', params: { text: `${n}` } })));
    const ids = jobs.map((job) => `${job.id}.succeeded`);
    await hook.until((r) => ids.every((id) => r.accepted().has(id)));
    await Promise.all([env.underway.webhooks?.idle(), other.webhooks?.idle()]);
    expect(hook.received.map((r) => r.id).sort()).toEqual([...ids].sort());
    const headers = { authorization: `Bearer ${TOKENS.admin}` };
    const theirs = await json(await other.app.request('/api/webhooks/deliveries', { headers }));
    const ours = await json(await env.call('/api/webhooks/deliveries', { as: 'admin' }));
    expect(theirs.deliveries).toEqual(ours.deliveries);
    expect(ours.deliveries.map((d: { state: string }) => d.state)).toEqual(ids.map(() => 'delivered'));
  });

  it('a delivery outlives its process: a try that failed is made again by the next process on the store', async () => {
    const hook = await downReceiver();
    const watched = watchedLogger();
    const webhooks = { urls: [hook.url], secret: SECRET, retryDelaysMs: [30], maxAttempts: 100, pollMs: 50 };
    env = setup({ webhooks, logger: watched.logger });
    env.worker();
    const job = await startJob({ task: 'echo', params: { text: 'x' } });
    await watched.line('webhook delivery failed; will retry');
    // This server stops sending (its process "ends"); the receiver comes up; another server starts.
    await env.underway.close();
    const [pending] = await json(await env.call(`/api/jobs/${job.id}/webhooks`, { as: 'admin' })).then(
      (body) => body.deliveries,
    );
    expect(pending).toMatchObject({ state: 'pending' });
    expect(pending.attempts).toBeGreaterThanOrEqual(1);
    await hook.listen();
    const next = secondServer(env.store, webhooks);
    await hook.until((r) => r.accepted().has(`${job.id}.succeeded`));
    await next.webhooks?.idle();
    const [delivered] = (await next.webhooks?.deliveries({ jobId: job.id })) ?? [];
    expect(delivered).toMatchObject({ state: 'delivered', lastStatus: 200 });
    expect(delivered?.attempts).toBe(pending.attempts + 1);
  });

  it('a job that ended while no process sent webhooks is announced by the next one that does (the sweep)', async () => {
    const hook = await receiver();
    const webhooks = { urls: [hook.url], secret: SECRET, ...FAST };
    env = setup(); // a server without webhooks, and its worker
    // The URL was configured before (its start mark), by a process that has since stopped.
    const before = secondServer(env.store, webhooks);
    await before.webhooks?.idle();
    await before.close();
    env.worker();
    const job = await startJob({ task: 'echo', params: { text: 'unheard' } });
    await waitForStatus(env.store, job.id, 'succeeded');
    expect(hook.received).toEqual([]);
    // No process heard its end with webhooks on: the next one finds it when it sweeps.
    secondServer(env.store, webhooks);
    await hook.until((r) => r.accepted().has(`${job.id}.succeeded`));
  });

  it('a worker without the API sends too, and a bare store worker needs no wrapper', async () => {
    const hook = await receiver();
    env = setup({ webhooks: { urls: [hook.url], secret: SECRET, ...FAST } });
    // The worker is given the bare store, not underway.store: its jobs are announced all the same.
    const worker = createWorker({ store: env.store, tasks: testTasks, logger: silent, pollMs: 50 }).start();
    try {
      const job = await startJob({ task: 'echo', params: { text: 'bare' } });
      await hook.until((r) => r.accepted().has(`${job.id}.succeeded`));
    } finally {
      await worker.stop({ graceMs: 0 });
    }
  });
});

describe('webhook signatures (Standard Webhooks)', () => {
  const body = JSON.stringify({ id: 'j1.succeeded', type: 'job.succeeded', data: { job: { id: 'j1' } } });
  const now = Date.now();
  const timestamp = Math.floor(now / 1000);
  const headers = (signature: string, id = 'j1.succeeded', at = timestamp) => ({
    'webhook-id': id,
    'webhook-timestamp': String(at),
    'webhook-signature': signature,
  });

  it('signs exactly as the standardwebhooks package does, with a whsec_ secret', () => {
    const theirs = new Webhook(SECRET);
    const ours = signWebhook(SECRET, 'j1.succeeded', timestamp, body);
    expect(ours).toBe(theirs.sign('j1.succeeded', new Date(timestamp * 1000), body));
    expect(theirs.verify(body, headers(ours))).toMatchObject({ type: 'job.succeeded' });
    expect(verifyWebhook(SECRET, headers(ours), body)).toBe(true);
  });

  it('uses a plain secret as its UTF-8 bytes: the same key as whsec_ + its base64', () => {
    const ours = signWebhook(PLAIN, 'j1.succeeded', timestamp, body);
    const raw = new Webhook(Buffer.from(PLAIN, 'utf8'), { format: 'raw' });
    expect(raw.verify(body, headers(ours))).toBeTruthy();
    const written = `whsec_${Buffer.from(PLAIN, 'utf8').toString('base64')}`;
    expect(signWebhook(written, 'j1.succeeded', timestamp, body)).toBe(ours);
    expect(verifyWebhook(written, headers(ours), body)).toBe(true);
    // Not UTF-8-safe in the package's raw string form, hence the Buffer above; ASCII is the same either way.
    expect(new Webhook(PLAIN, { format: 'raw' }).verify(body, headers(ours))).toBeTruthy();
  });

  it('accepts any one of several signatures, and refuses other ids, old or future timestamps, other versions', () => {
    const good = signWebhook(SECRET, 'j1.succeeded', timestamp, body);
    const other = signWebhook(`whsec_${randomBytes(24).toString('base64')}`, 'j1.succeeded', timestamp, body);
    expect(verifyWebhook(SECRET, headers(`${other} ${good}`), body)).toBe(true);
    expect(verifyWebhook(SECRET, headers(other), body)).toBe(false);
    expect(verifyWebhook(SECRET, headers(good.replace('v1,', 'v2,')), body)).toBe(false);
    expect(verifyWebhook(SECRET, headers(good, 'j2.succeeded'), body)).toBe(false);
    expect(verifyWebhook(SECRET, headers(good), body, { now: now + 301_000 })).toBe(false);
    expect(verifyWebhook(SECRET, headers(good), body, { now: now - 301_000 })).toBe(false);
    expect(verifyWebhook(SECRET, headers(good), body, { now: now + 299_000 })).toBe(true);
    expect(verifyWebhook(SECRET, new Headers(headers(good)), body)).toBe(true);
    expect(verifyWebhook(SECRET, { 'Webhook-Id': 'j1.succeeded', ...headers(good) }, body)).toBe(true);
    expect(verifyWebhook(SECRET, {}, body)).toBe(false);
  });

  it('refuses weak or malformed secrets and bad URLs when the API is made', () => {
    const make =
      (secret: string, urls = ['http://127.0.0.1:9/hook']) =>
      () =>
        createUnderway({ store: setupless, tasks: [], logger: silent, webhooks: { urls, secret } });
    const setupless = {} as Parameters<typeof createUnderway>[0]['store'];
    expect(make('short')).toThrow(TypeError);
    expect(make(`whsec_${randomBytes(16).toString('base64')}`)).toThrow(/24 random bytes/);
    expect(make('whsec_not*base64*at*all*0123456789abcdef')).toThrow(TypeError);
    expect(make(PLAIN, ['not a url'])).toThrow(TypeError);
  });
});
