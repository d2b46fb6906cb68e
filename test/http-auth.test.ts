import { afterEach, describe, expect, it } from 'vitest';
import { ShareLinks } from '../src/http/index.ts';
import { json, listen, SHARE_SECRET, setup, type TestEnv } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';

let env: TestEnv;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await env?.close();
});

/** Alice's finished `fail` job (so logs, error detail, retry and delete all apply). */
async function alicesFailedJob(): Promise<string> {
  env.worker();
  const job = await json(await env.call('/api/jobs', { method: 'POST', body: { task: 'fail', params: {} } }));
  await waitForStatus(env.store, job.id, 'failed');
  return job.id;
}

async function share(id: string, ttlSeconds?: number): Promise<string> {
  const response = await env.call(`/api/jobs/${id}/share`, { method: 'POST', body: ttlSeconds ? { ttlSeconds } : {} });
  expect(response.status).toBe(201);
  return (await json(response)).token;
}

describe('who sees which job', () => {
  it('owner and admin see it; another user gets 404; anonymous 401', async () => {
    env = setup();
    const id = await alicesFailedJob();
    const reads = [`/api/jobs/${id}`, `/api/jobs/${id}/logs`, `/api/jobs/${id}/events`];
    for (const path of reads) {
      expect((await env.call(path, { as: 'alice' })).status, `alice ${path}`).toBe(200);
      expect((await env.call(path, { as: 'admin' })).status, `admin ${path}`).toBe(200);
      const other = await env.call(path, { as: 'bob' });
      expect(other.status, `bob ${path}`).toBe(404);
      // Exactly the answer for a job that does not exist: existence is never confirmed.
      expect(await json(other)).toEqual({ error: { code: 'NOT_FOUND', message: `There is no job ${id}.` } });
      const anonymous = await env.call(path, { as: null });
      expect(anonymous.status, `anonymous ${path}`).toBe(401);
      expect((await json(anonymous)).error.code).toBe('UNAUTHENTICATED');
    }
    for (const [method, path] of [
      ['POST', `/api/jobs/${id}/retry`],
      ['POST', `/api/jobs/${id}/cancel`],
      ['DELETE', `/api/jobs/${id}`],
      ['POST', `/api/jobs/${id}/share`],
    ] as const) {
      expect((await env.call(path, { method, as: 'bob' })).status, `bob ${method} ${path}`).toBe(404);
      expect((await env.call(path, { method, as: null })).status, `anonymous ${method} ${path}`).toBe(401);
    }
    expect((await env.call(`/api/jobs/${id}/retry`, { method: 'POST', as: 'admin' })).status).toBe(201);
    expect((await env.call(`/api/jobs/${id}`, { method: 'DELETE', as: 'admin' })).status).toBe(204);
  });

  it('lists only the caller’s jobs; an admin lists all and may filter by owner', async () => {
    env = setup();
    await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'a' } }, as: 'alice' });
    await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'b' } }, as: 'bob' });
    const owners = async (as: 'alice' | 'bob' | 'admin', query = '') =>
      (await json(await env.call(`/api/jobs${query}`, { as }))).jobs.map((j: { owner: string }) => j.owner);
    expect(await owners('alice')).toEqual(['alice']);
    expect(await owners('bob', '?owner=alice')).toEqual(['bob']);
    expect(await owners('admin')).toEqual(['bob', 'alice']);
    expect(await owners('admin', '?owner=alice')).toEqual(['alice']);
    expect((await env.call('/api/jobs', { as: null })).status).toBe(401);
    expect((await env.call('/api/tasks', { as: null })).status).toBe(401);
  });

  it('refuses a wrong bearer token', async () => {
    env = setup();
    const response = await env.call('/api/jobs', {
      as: null,
      headers: { authorization: 'Bearer not-a-real-token-at-all' },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('lets canStart decide who starts which task (403)', async () => {
    env = setup({
      auth: {
        tokens: [{ token: 'alice-token-0123456789abcdef', id: 'alice' }],
        canStart: (user, task) => task !== 'fail' || user.roles.includes('admin'),
      },
    });
    expect((await env.call('/api/jobs', { method: 'POST', body: { task: 'fail', params: {} } })).status).toBe(403);
    const tasks = (await json(await env.call('/api/tasks'))).tasks.map((t: { name: string }) => t.name);
    expect(tasks).not.toContain('fail');
  });

  it('applies canStart to retries too: one (403) and in bulk (skipped, saying why)', async () => {
    let allowed = true;
    env = setup({
      auth: {
        tokens: [{ token: 'alice-token-0123456789abcdef', id: 'alice' }],
        canStart: (_user, task) => task !== 'fail' || allowed,
      },
    });
    env.worker();
    const failed = await json(await env.call('/api/jobs', { method: 'POST', body: { task: 'fail', params: {} } }));
    await waitForStatus(env.store, failed.id, 'failed');
    allowed = false;
    const one = await env.call(`/api/jobs/${failed.id}/retry`, { method: 'POST' });
    expect(one.status).toBe(403);
    expect((await json(one)).error.message).toBe('You may not start fail jobs.');
    const many = await json(
      await env.call('/api/jobs/bulk', { method: 'POST', body: { action: 'retry', filter: { task: 'fail' } } }),
    );
    expect(many).toMatchObject({
      matched: 1,
      done: [],
      skipped: [{ id: failed.id, reason: 'You may not start fail jobs.' }],
    });
    expect((await env.store.list({ task: 'fail' })).jobs).toHaveLength(1);
  });
});

describe('share links', () => {
  it('give read-only access to one job: GET, logs, events, artifacts; no detail, no changes', async () => {
    env = setup();
    const id = await alicesFailedJob();
    const token = await share(id);
    const q = `?share=${encodeURIComponent(token)}`;
    const job = await json(await env.call(`/api/jobs/${id}${q}`, { as: null }));
    expect(job).toMatchObject({
      id,
      status: 'failed',
      error: { code: 'TASK_ERROR', message: 'It broke.', detail: null },
    });
    expect(job.urls.events).toBe(`/api/jobs/${id}/events${q}`);
    expect((await env.call(`/api/jobs/${id}/logs${q}`, { as: null })).status).toBe(200);
    const events = await env.call(`/api/jobs/${id}/events${q}`, { as: null });
    expect(events.status).toBe(200);
    expect(await events.text()).toMatch(/^id: \d+\nevent: snapshot\ndata: \{"id":/);
    // Also as a header, for clients that would rather not put it in a URL.
    expect((await env.call(`/api/jobs/${id}`, { as: null, headers: { 'x-underway-share': token } })).status).toBe(200);

    for (const [method, path] of [
      ['POST', `/api/jobs/${id}/cancel`],
      ['POST', `/api/jobs/${id}/retry`],
      ['DELETE', `/api/jobs/${id}`],
    ] as const) {
      expect((await env.call(`${path}${q}`, { method, as: null })).status, `${method} ${path}`).toBe(401);
    }
    expect((await env.call(`/api/jobs${q}`, { as: null })).status).toBe(401);
    // Another job, with this job's link: as if it did not exist.
    const other = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'x' } } }),
    );
    expect((await env.call(`/api/jobs/${other.id}${q}`, { as: null })).status).toBe(404);
  });

  it('serves artifacts through a share link', async () => {
    env = setup();
    env.worker();
    const job = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'file!' } } }),
    );
    await waitForStatus(env.store, job.id, 'succeeded');
    const token = await share(job.id);
    const file = await env.call(`/api/jobs/${job.id}/artifacts/echo.txt?share=${token}`, { as: null });
    expect(file.status).toBe(200);
    expect(await file.text()).toBe('file!');
  });

  it('refuse expired, forged and malformed links with 401', async () => {
    env = setup();
    const job = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'x' } } }),
    );
    const links = new ShareLinks({ secret: SHARE_SECRET });
    const expired = links.create(job.id, 60, Date.now() - 120_000).token;
    const forged = new ShareLinks({ secret: 'another-secret-0123456789abcdefghijklmnop' }).create(job.id).token;
    const valid = links.create(job.id).token;
    const [, expires] = valid.split('.');
    const stretched = valid.replace(`.${expires}.`, `.${Number(expires) + 1_000_000}.`);
    for (const token of [expired, forged, stretched, 'garbage']) {
      const response = await env.call(`/api/jobs/${job.id}?share=${encodeURIComponent(token)}`, { as: null });
      expect(response.status, token).toBe(401);
      expect((await json(response)).error.code).toBe('SHARE_LINK_INVALID');
    }
    expect((await env.call(`/api/jobs/${job.id}?share=${valid}`, { as: null })).status).toBe(200);
  });

  it('caps the lifetime at maxTtlSeconds', async () => {
    env = setup({ shareLinks: { secret: SHARE_SECRET, maxTtlSeconds: 60 } });
    const job = await json(
      await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'x' } } }),
    );
    const response = await json(
      await env.call(`/api/jobs/${job.id}/share`, { method: 'POST', body: { ttlSeconds: 86_400 } }),
    );
    expect(Date.parse(response.expiresAt) - Date.now()).toBeLessThanOrEqual(61_000);
  });
});

describe('CSRF', () => {
  /** A host app whose users are signed in by a session cookie. */
  const cookieAuth = () =>
    setup({
      auth: {
        authenticate: (request) => {
          const session = /session=(\w+)/.exec(request.headers.get('cookie') ?? '')?.[1];
          return session ? { id: session, roles: [] } : null;
        },
      },
    });

  it('refuses cookie-authenticated POST/DELETE without the token; accepts with it; bearer needs none', async () => {
    env = cookieAuth();
    const body = { task: 'echo', params: { text: 'x' } };
    const plain = await env.call('/api/jobs', { method: 'POST', as: null, body, headers: { cookie: 'session=carol' } });
    expect(plain.status).toBe(403);
    expect((await json(plain)).error.code).toBe('CSRF_FAILED');

    const issued = await env.call('/api/csrf', { as: null, headers: { cookie: 'session=carol' } });
    const { token, headerName } = await json(issued);
    expect(issued.headers.get('set-cookie')).toContain(`underway_csrf=${token}`);
    expect(issued.headers.get('set-cookie')).toContain('SameSite=Strict');
    const cookie = `session=carol; underway_csrf=${token}`;

    const wrong = await env.call('/api/jobs', {
      method: 'POST',
      as: null,
      body,
      headers: { cookie, [headerName]: 'x'.repeat(43) },
    });
    expect(wrong.status).toBe(403);
    const ok = await env.call('/api/jobs', {
      method: 'POST',
      as: null,
      body,
      headers: { cookie, [headerName]: token },
    });
    expect(ok.status).toBe(201);
    const crossSite = await env.call('/api/jobs', {
      method: 'POST',
      as: null,
      body,
      headers: { cookie, [headerName]: token, origin: 'https://evil.example' },
    });
    expect(crossSite.status).toBe(403);
    const sameOrigin = await env.call('/api/jobs', {
      method: 'POST',
      as: null,
      body,
      headers: { cookie, [headerName]: token, origin: 'http://localhost' },
    });
    expect(sameOrigin.status).toBe(201);
    // Reads need no token.
    expect((await env.call('/api/jobs', { as: null, headers: { cookie: 'session=carol' } })).status).toBe(200);
  });

  it('needs no token with a bearer token', async () => {
    env = setup();
    const ok = await env.call('/api/jobs', {
      method: 'POST',
      body: { task: 'echo', params: { text: 'x' } },
      headers: { origin: 'https://elsewhere.example' },
    });
    expect(ok.status).toBe(201);
  });

  it('trusts configured origins', async () => {
    env = setup({
      csrf: { trustedOrigins: ['https://app.example.com'] },
      auth: { authenticate: () => ({ id: 'carol', roles: [] }) },
    });
    const { token } = await json(await env.call('/api/csrf', { as: null }));
    const headers = { cookie: `underway_csrf=${token}`, 'x-csrf-token': token, origin: 'https://app.example.com' };
    const response = await env.call('/api/jobs', {
      method: 'POST',
      as: null,
      body: { task: 'echo', params: { text: 'x' } },
      headers,
    });
    expect(response.status).toBe(201);
  });
});

describe('rate limit on job starts', () => {
  it('answers 429 with Retry-After past the burst, per user', async () => {
    env = setup({ rateLimit: { starts: 2, perSeconds: 60 } });
    const start = (as: 'alice' | 'bob') =>
      env.call('/api/jobs', { method: 'POST', as, body: { task: 'echo', params: { text: 'x' } } });
    expect((await start('alice')).status).toBe(201);
    expect((await start('alice')).status).toBe(201);
    const limited = await start('alice');
    expect(limited.status).toBe(429);
    expect((await json(limited)).error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await start('bob')).status).toBe(201);
    // A typo does not cost a start.
    const typo = await env.call('/api/jobs', { method: 'POST', as: 'bob', body: { task: 'echo', params: {} } });
    expect(typo.status).toBe(400);
    expect((await start('bob')).status).toBe(201);
  });
});

describe('standalone local admin', () => {
  it('treats loopback requests as the local admin when asked to; never through a proxy', async () => {
    const nobody = setup({ auth: {} });
    expect(nobody.underway.describeAuth()).toBe('nobody (no auth configured)');
    await nobody.close();
    env = setup({ auth: { localAdmin: true } });
    expect(env.underway.describeAuth()).toContain('local admin for requests from this machine');
    const server = await listen(env.underway);
    cleanups.push(() => server.close());
    const jobs = await fetch(`${server.url}/api/jobs`);
    expect(jobs.status).toBe(200);
    const proxied = await fetch(`${server.url}/api/jobs`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(proxied.status).toBe(401);
    // In-process (no socket, so no peer address): not local.
    expect((await env.call('/api/jobs', { as: null })).status).toBe(401);
    // The local admin is ambient authority, like a cookie: CSRF still applies.
    const post = await fetch(`${server.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'echo', params: { text: 'x' } }),
    });
    expect(post.status).toBe(403);
    const csrf = await fetch(`${server.url}/api/csrf`);
    const { token } = (await csrf.json()) as { token: string };
    const allowed = await fetch(`${server.url}/api/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie: `underway_csrf=${token}`, 'x-csrf-token': token },
      body: JSON.stringify({ task: 'echo', params: { text: 'x' } }),
    });
    expect(allowed.status).toBe(201);
    expect((await allowed.json()) as object).toMatchObject({ owner: 'local' });
  });

  it('is off once tokens are configured', async () => {
    env = setup();
    expect(env.underway.describeAuth()).not.toContain('local admin');
    const server = await listen(env.underway);
    cleanups.push(() => server.close());
    expect((await fetch(`${server.url}/api/jobs`)).status).toBe(401);
  });
});
