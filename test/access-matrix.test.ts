/**
 * Access, as a matrix: every endpoint and page that names a job, called by every kind of caller.
 * Another user's job must be invisible (404, byte for byte the answer for a job that does not
 * exist) and unchangeable; a share link reads one job and changes nothing; a forged, tampered or
 * expired link opens nothing (a link that worked stops working once it expires); artifact names
 * cannot step out of their folder.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ShareLinks } from '../src/http/index.ts';
import { recordFigures } from './chaos/fleet.ts';
import { json, SHARE_SECRET, setup, type TestEnv } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';

let env: TestEnv;
let done = ''; // alice's finished job, with a file
let queued = ''; // alice's job waiting an hour: cancel would change it
let bobs = ''; // bob's job, for "a link to another job"
let link = '';
beforeAll(async () => {
  env = setup({ rateLimit: false });
  env.worker();
  const start = async (as: 'alice' | 'bob', body: unknown) =>
    (await json(await env.call('/api/jobs', { method: 'POST', body, as }))).id as string;
  done = await start('alice', { task: 'echo', params: { text: 'secret text' } });
  queued = await start('alice', { task: 'echo', params: { text: 'later' }, delaySeconds: 3_600 });
  bobs = await start('bob', { task: 'echo', params: { text: 'bob' } });
  await waitForStatus(env.store, done, 'succeeded');
  link = (await json(await env.call(`/api/jobs/${done}/share`, { method: 'POST', body: { ttlSeconds: 600 } }))).token;
});
afterAll(() => env.close());

type Caller = 'owner' | 'admin' | 'other user' | 'anonymous' | 'share link' | 'link to another job' | 'forged link';
const CALLERS: Caller[] = [
  'owner',
  'admin',
  'other user',
  'anonymous',
  'share link',
  'link to another job',
  'forged link',
];

/** The request as this caller makes it. */
async function as(caller: Caller, method: string, path: string): Promise<Response> {
  const share = (token: string) => `${path}${path.includes('?') ? '&' : '?'}share=${encodeURIComponent(token)}`;
  const body = method === 'POST' ? {} : undefined;
  switch (caller) {
    case 'owner':
      return env.call(path, { method, as: 'alice', body });
    case 'admin':
      return env.call(path, { method, as: 'admin', body });
    case 'other user':
      return env.call(path, { method, as: 'bob', body });
    case 'anonymous':
      return env.call(path, { method, as: null, body });
    case 'share link':
      return env.call(share(link), { method, as: null, body });
    case 'link to another job': {
      const other = new ShareLinks({ secret: SHARE_SECRET }).create(bobs, 600).token;
      return env.call(share(other), { method, as: null, body });
    }
    case 'forged link': {
      const [id, expires] = link.split('.');
      return env.call(share(`${id}.${expires}.${'A'.repeat(43)}`), { method, as: null, body });
    }
  }
}

interface Row {
  method: string;
  path: (id: string) => string;
  /** Status per caller; the job must be unchanged after every call not marked `changes`. */
  expect: Record<Caller, number>;
  changes?: Caller[];
  page?: boolean;
}

const READ = {
  owner: 200,
  admin: 200,
  'other user': 404,
  anonymous: 401,
  'share link': 200,
  'link to another job': 404,
  'forged link': 401,
};
const CHANGE = {
  owner: 0,
  admin: 0,
  'other user': 404,
  anonymous: 401,
  'share link': 401,
  'link to another job': 401,
  'forged link': 401,
};

const ROWS: Row[] = [
  { method: 'GET', path: (id) => `/api/jobs/${id}`, expect: READ },
  { method: 'GET', path: (id) => `/api/jobs/${id}/logs`, expect: READ },
  { method: 'GET', path: (id) => `/api/jobs/${id}/events`, expect: READ },
  { method: 'GET', path: (id) => `/api/jobs/${id}/artifacts/echo.txt`, expect: READ },
  // Owner and admin may: these are checked on the queued job below, where they take effect.
  { method: 'POST', path: (id) => `/api/jobs/${id}/cancel`, expect: CHANGE },
  { method: 'POST', path: (id) => `/api/jobs/${id}/retry`, expect: CHANGE },
  { method: 'POST', path: (id) => `/api/jobs/${id}/share`, expect: CHANGE },
  { method: 'DELETE', path: (id) => `/api/jobs/${id}`, expect: CHANGE },
  { method: 'GET', path: (id) => `/jobs/${id}`, expect: { ...READ, anonymous: 401 }, page: true },
];

describe('access matrix', () => {
  it('every endpoint × every caller: invisible and unchangeable to anyone but the owner and admins', async () => {
    const pagesMounted = (await env.call(`/jobs/${done}`)).headers.get('content-type')?.startsWith('text/html');
    const before = JSON.stringify(await env.store.get(done));
    const notFound = await json(await env.call('/api/jobs/AAAAAAAAAAAAAAAAAAAAAA'));
    let cells = 0;
    const wrong: string[] = [];
    for (const row of ROWS) {
      if (row.page && !pagesMounted) continue;
      for (const caller of CALLERS) {
        const wanted = row.expect[caller];
        if (wanted === 0) continue;
        const path = row.path(done);
        const response = await as(caller, row.method, path);
        cells++;
        if (response.headers.get('content-type')?.startsWith('text/event-stream')) await response.body?.cancel();
        // Pages answer a stranger in HTML; the API must answer exactly as for a job that does not exist.
        const body = row.page ? null : response.status >= 400 ? await json(response) : null;
        if (row.page && response.body) await response.body.cancel();
        if (response.status !== wanted)
          wrong.push(`${caller} ${row.method} ${path}: ${response.status}, wanted ${wanted}`);
        if (!row.page && wanted === 404) {
          const same = {
            error: { code: 'NOT_FOUND', message: notFound.error.message.replace('AAAAAAAAAAAAAAAAAAAAAA', done) },
          };
          if (JSON.stringify(body) !== JSON.stringify(same))
            wrong.push(`${caller} ${row.method} ${path}: ${JSON.stringify(body)}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    // Nothing the callers above did changed the job.
    expect(JSON.stringify(await env.store.get(done))).toBe(before);

    // Lists and the all-jobs stream never show another user's job.
    const bobsList = await json(await env.call('/api/jobs?limit=200', { as: 'bob' }));
    expect(bobsList.jobs.map((j: { owner: string }) => j.owner)).not.toContain('alice');
    const bobsFilter = await json(await env.call('/api/jobs?owner=alice', { as: 'bob' }));
    expect(bobsFilter.jobs.map((j: { id: string }) => j.id)).toEqual([bobs]);
    const stream = await env.call('/api/events', { as: 'bob' });
    const reader = stream.body?.getReader();
    const first = new TextDecoder().decode((await reader?.read())?.value);
    await reader?.cancel();
    expect(first).toMatch(/event: snapshot/);
    expect(first).not.toContain(done);
    expect(first).not.toContain(queued);

    // Owner and admin changes do take effect (on the queued job): the matrix is not all refusals.
    expect((await env.call(`/api/jobs/${queued}/cancel`, { method: 'POST', as: 'bob' })).status).toBe(404);
    expect((await env.call(`/api/jobs/${queued}/cancel`, { method: 'POST', as: 'alice' })).status).toBe(202);
    expect((await env.store.get(queued))?.status).toBe('cancelled');
    expect((await env.call(`/api/jobs/${queued}/retry`, { method: 'POST', as: 'admin' })).status).toBe(201);
    expect((await env.call(`/api/jobs/${queued}`, { method: 'DELETE', as: 'bob' })).status).toBe(404);
    expect((await env.call(`/api/jobs/${queued}`, { method: 'DELETE', as: 'alice' })).status).toBe(204);
    recordFigures('access matrix', { cells, wrong: wrong.length, pages: pagesMounted ? 'covered' : 'not mounted' });
  });

  it('a share link that worked stops working once it expires, and cannot be stretched or moved', async () => {
    const token = (await json(await env.call(`/api/jobs/${done}/share`, { method: 'POST', body: { ttlSeconds: 60 } })))
      .token as string;
    const read = (t: string) => env.call(`/api/jobs/${done}?share=${encodeURIComponent(t)}`, { as: null });
    expect((await read(token)).status).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 61_000);
      const expired = await read(token);
      expect(expired.status).toBe(401);
      expect((await json(expired)).error.code).toBe('SHARE_LINK_INVALID');
    } finally {
      vi.useRealTimers();
    }
    const [id, expires, signature] = token.split('.');
    const tampered = [
      `${id}.${Number(expires) + 86_400}.${signature}`, // a longer life
      `${bobs}.${expires}.${signature}`, // another job
      `${id}.${expires}.${signature?.slice(0, -1)}${signature?.endsWith('A') ? 'B' : 'A'}`, // one character off
      `${id}.${expires}`,
      `${id}..${signature}`,
      `../${id}.${expires}.${signature}`,
    ];
    for (const t of tampered) expect((await read(t)).status, t).toBe(401);
  });

  it('artifact names cannot step out of their folder', async () => {
    const names = [
      '../underway.db',
      '..%2Funderway.db',
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '..',
      '.',
      '.hidden',
      'a/../../b',
      'echo.txt%00.png',
      '..\\..\\x',
    ];
    for (const name of names) {
      const response = await env.call(`/api/jobs/${done}/artifacts/${name}`);
      expect([400, 404], name).toContain(response.status);
      await response.body?.cancel();
    }
    // And a task cannot save one under such a name.
    for (const name of ['../evil.txt', '/etc/evil', 'a/b', '..', '.env', 'x\u0000y']) {
      await expect(env.store.saveArtifact(done, { name, source: 'x' } as never), name).rejects.toThrow(/not allowed/);
    }
  });
});
