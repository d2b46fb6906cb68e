import { afterEach, describe, expect, it } from 'vitest';
import { setup, type TestEnv, TOKENS } from './helpers/http.ts';

let env: TestEnv;
afterEach(async () => {
  await env?.close();
});

const bearer = { authorization: `Bearer ${TOKENS.alice}` };

describe('dashboard pages (no browser)', () => {
  it('renders with a doctype, a strict CSP and the CSRF cookie', async () => {
    env = setup();
    const response = await env.underway.app.request('/', { headers: bearer });
    expect(response.status).toBe(200);
    expect((await response.text()).startsWith('<!DOCTYPE html><html')).toBe(true);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(response.headers.get('set-cookie')).toContain('underway_csrf=');
  });

  it('refuses a form post without the CSRF token, and from another origin', async () => {
    env = setup({ auth: { authenticate: () => ({ id: 'alice', roles: [] }) } });
    const form = new URLSearchParams({ task: 'echo', 'p.text': 'hi', _csrf: 'a'.repeat(43) });
    const noCookie = await env.underway.app.request('/jobs', { method: 'POST', body: form });
    expect(noCookie.status).toBe(403);
    const crossSite = await env.underway.app.request('http://localhost/jobs', {
      method: 'POST',
      body: form,
      headers: { cookie: `underway_csrf=${'a'.repeat(43)}`, origin: 'https://evil.example' },
    });
    expect(crossSite.status).toBe(403);
    expect(await crossSite.text()).toContain('<!DOCTYPE html>');
    const ok = await env.underway.app.request('http://localhost/jobs', {
      method: 'POST',
      body: form,
      headers: { cookie: `underway_csrf=${'a'.repeat(43)}`, origin: 'http://localhost' },
    });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toMatch(/^\/jobs\/[A-Za-z0-9_-]+$/);
  });

  it('gives admins Pause and Resume buttons per task and per queue, and the schedules; others see neither', async () => {
    let admin = true;
    env = setup({ auth: { authenticate: () => ({ id: admin ? 'root' : 'alice', roles: admin ? ['admin'] : [] }) } });
    const csrf = 'c'.repeat(43);
    const post = (path: string, fields: Record<string, string>) =>
      env.underway.app.request(`http://localhost${path}`, {
        method: 'POST',
        body: new URLSearchParams({ ...fields, _csrf: csrf }),
        headers: { cookie: `underway_csrf=${csrf}`, origin: 'http://localhost' },
      });
    const page = async () => (await env.underway.app.request('/')).text();
    let html = await page();
    expect(html).toContain('Tasks, queues and schedules');
    expect(html).toMatch(/<tr data-task="echo" data-paused="false">/);
    const paused = await post('/tasks/echo/pause', { reason: 'disk <swap>' });
    expect(paused.status).toBe(303);
    html = await page();
    expect(html).toMatch(/<tr data-task="echo" data-paused="true">/);
    expect(html).toContain('by root');
    expect(html).toContain('(disk &lt;swap&gt;)');
    expect(await env.store.listPauses()).toMatchObject([{ name: 'echo', by: 'root', reason: 'disk <swap>' }]);
    expect((await post('/tasks/echo/resume', {})).status).toBe(303);
    expect(await env.store.listPauses()).toEqual([]);
    expect((await post('/tasks/nope/pause', {})).status).toBe(404);
    // A whole queue: its row says how full it is; a job in it says why it waits.
    expect(html).toMatch(/<tr data-queue="echo" data-paused="false">/);
    expect((await post('/queues/echo/pause', { reason: 'quota' })).status).toBe(303);
    expect(await env.store.listPauses()).toMatchObject([{ kind: 'queue', name: 'echo', reason: 'quota' }]);
    await env.call('/api/jobs', { method: 'POST', as: 'admin', body: { task: 'echo', params: { text: 'x' } } });
    html = await page();
    expect(html).toMatch(/<tr data-queue="echo" data-paused="true">/);
    expect(html).toContain('0 running · 1 due');
    expect(html).toMatch(
      /<p class="uw-muted uw-waiting" data-waiting="queue paused">waiting: queue echo paused by root/,
    );
    // A task pause and a queue pause of the same name are two things.
    expect(html).toMatch(/<tr data-task="echo" data-paused="false">/);
    expect((await post('/queues/echo/resume', {})).status).toBe(303);
    expect((await post('/queues/nope/pause', {})).status).toBe(404);
    expect(await env.store.listPauses()).toEqual([]);
    admin = false;
    expect(await page()).not.toContain('Tasks, queues and schedules');
    expect((await post('/tasks/echo/pause', {})).status).toBe(403);
    expect((await post('/queues/echo/pause', {})).status).toBe(403);
    expect(await env.store.listPauses()).toEqual([]);
  });

  it('searches the list by id and params text, and acts on the ticked rows: only on jobs the user may change', async () => {
    let user = 'alice';
    env = setup({ auth: { authenticate: () => ({ id: user, roles: [] }) } });
    const start = async (text: string, owner = 'alice') =>
      (await env.underway.queue.start('echo', { text }, { owner })).job.id;
    const q3 = await start('Q3 <numbers>');
    const weekly = await start('weekly');
    const bobs = await start('Q3 for bob', 'bob');
    const csrf = 'd'.repeat(43);
    const page = async (path: string) => (await env.underway.app.request(`http://localhost${path}`)).text();
    const bulk = (fields: [string, string][]) =>
      env.underway.app.request('http://localhost/jobs/bulk', {
        method: 'POST',
        body: new URLSearchParams([...fields, ['_csrf', csrf]]),
        headers: { cookie: `underway_csrf=${csrf}`, origin: 'http://localhost' },
      });

    const html = await page('/?q=q3');
    expect(html).toContain(`data-job="${q3}"`);
    expect(html).not.toContain(`data-job="${weekly}"`);
    expect(html).not.toContain(`data-job="${bobs}"`);
    expect(html).toContain('value="q3"');
    expect(await page(`/?q=${weekly.slice(0, 8)}`)).toContain(`data-job="${weekly}"`);
    expect(await page('/?q=nothing-like-it')).toContain('No jobs match this filter.');
    const api = await env.underway.app.request('http://localhost/api/jobs?q=WEEKLY');
    expect(((await api.json()) as { jobs: { id: string }[] }).jobs.map((job) => job.id)).toEqual([weekly]);

    // Ticked: both of alice's jobs and bob's, which she may not change: skipped, untouched.
    const cancelled = await bulk([
      ['action', 'cancel'],
      ['job', q3],
      ['job', weekly],
      ['job', bobs],
      ['back', '/?q=q3'],
    ]);
    expect(cancelled.status).toBe(303);
    const back = cancelled.headers.get('location') ?? '';
    expect(back).toBe('/?q=q3&bulk=cancel&done=2&skipped=1');
    expect(await page(back)).toContain('Cancelled 2 jobs; 1 skipped');
    expect((await env.store.get(q3))?.status).toBe('cancelled');
    expect((await env.store.get(weekly))?.status).toBe('cancelled');
    expect((await env.store.get(bobs))?.status).toBe('queued');

    const deleted = await bulk([
      ['action', 'delete'],
      ['job', q3],
      ['back', '//evil.example/'],
    ]);
    expect(deleted.headers.get('location')).toBe('/?bulk=delete&done=1&skipped=0');
    expect(await env.store.get(q3)).toBeNull();

    expect((await bulk([['action', 'cancel']])).status).toBe(400);
    expect(
      (
        await bulk([
          ['action', 'explode'],
          ['job', weekly],
        ])
      ).status,
    ).toBe(400);
    user = 'bob';
    expect(await page('/?q=q3')).toContain(`data-job="${bobs}"`);
  });

  it('shows 404 for a job the caller may not see, and nothing without a user', async () => {
    env = setup();
    const job = await (
      await env.call('/api/jobs', { method: 'POST', as: 'bob', body: { task: 'echo', params: { text: 'x' } } })
    ).json();
    expect((await env.underway.app.request(`/jobs/${(job as { id: string }).id}`, { headers: bearer })).status).toBe(
      404,
    );
    expect((await env.underway.app.request('/')).status).toBe(401);
  });

  it('refuses a full-focus redirect to another site', async () => {
    env = setup();
    await expect(
      env.underway.startOrWait({ task: 'echo', params: { text: 'x' }, redirectTo: '//evil.example' }),
    ).rejects.toThrow(/path on this site/);
  });

  it('is off with dashboard: false', async () => {
    env = setup({ dashboard: false });
    expect((await env.underway.app.request('/', { headers: bearer })).status).toBe(404);
  });
});
