/**
 * The walk every test app must pass, whatever hosts underway: its own routes still answer, a job
 * started over the API streams its events to `succeeded`, the dashboard's pages and start form
 * work, the browser bundle is the shipped one, and the app stops cleanly. One describe per app
 * and Node version, as describeStore is one suite per store.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstallRoot, RunningApp } from './harness.ts';
import { assertCleanPage, EventStream, findForm, type JobJson, readJson, Session } from './http.ts';

/** Where underway lives in every app: its default mount path. */
export const MOUNT = '/underway';
export const API = `${MOUNT}/api`;

export interface HostSpec {
  /** What the host answers on its own routes: `hello from <host> at <path>`. */
  host: string;
  /** The install root, or undefined when the global setup did not make one here. */
  root: InstallRoot | undefined;
  /** Starts the app (after whatever preparation it needs) in the root. */
  start(root: InstallRoot): Promise<RunningApp>;
  /** Where jobs run: checked through the pid the task logs. Unset: not checked. */
  worker?: 'sandbox' | 'in-process';
  /** How the app's process ends on SIGTERM. Default 0 (`next start` exits 143 by design). */
  exitCode?: number;
  /** More tests on the same running app. */
  more?(app: () => RunningApp, root: () => InstallRoot): void;
}

/** alice, signed in through the host's own session cookie; an admin. */
export const alice = (app: RunningApp) => new Session(app.url, { session: 'alice' });

/** Starts `count` over the API and reads its event stream to the end; the final job. */
export async function runJob(session: Session, n: number): Promise<JobJson> {
  const job = await session.startJob(API, 'count', { n });
  const stream = await EventStream.open(session, job.urls.events);
  await stream.rest();
  return readJson<JobJson>(await session.fetch(`${API}/jobs/${job.id}`), 200);
}

export function describeHost(title: string, spec: HostSpec): void {
  const skip = spec.root?.skip;
  describe.skipIf(skip !== undefined)(skip ? `${title} (skipped: ${skip})` : title, () => {
    let app: RunningApp;
    const root = () => {
      if (!spec.root) throw new Error('No install root for this Node version.');
      if (spec.root.error) throw new Error(`The install for ${spec.root.label} failed:\n${spec.root.error}`);
      return spec.root;
    };
    beforeAll(async () => {
      app = await spec.start(root());
    });
    afterAll(async () => {
      await app?.stop();
    });

    it("leaves the host's own routes to the host, and takes only its mount path", async () => {
      for (const path of ['/hello', '/jobs']) {
        const response = await fetch(`${app.url}${path}`);
        expect(response.status, path).toBe(200);
        expect(await response.text()).toBe(`hello from ${spec.host} at ${path}`);
      }
      const unknown = await fetch(`${app.url}${API}/no-such-route`, { headers: { cookie: 'session=alice' } });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    });

    it('answers /healthz to anyone, the API and /metrics only to who may see them', async () => {
      const health = await fetch(`${app.url}${MOUNT}/healthz`);
      expect(health.status, await health.clone().text()).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok' });
      expect((await fetch(`${app.url}${API}/jobs`)).status).toBe(401);
      const anonymous = await fetch(`${app.url}${MOUNT}/metrics`);
      expect([401, 403], `anonymous /metrics answered ${anonymous.status}`).toContain(anonymous.status);
      const { text } = await alice(app).text(`${MOUNT}/metrics`);
      expect(text).toContain('underway_jobs');
    });

    it('starts a job over the API and follows its live event stream to succeeded', async () => {
      const session = alice(app);
      const hold = join(app.dataDir, `hold-${randomUUID()}`);
      const job = await session.startJob(API, 'count', { n: 3, hold });
      expect(job.urls.events).toBe(`${API}/jobs/${job.id}/events`);
      expect(job.urls.page).toBe(`${MOUNT}/jobs/${job.id}`);
      const stream = await EventStream.open(session, job.urls.events);
      try {
        expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
        const snapshot = await stream.next();
        expect(snapshot).toMatchObject({ event: 'snapshot', data: { id: job.id } });
        // Held at its first step: the stream is open while the job is unfinished, so what follows is live.
        expect(['queued', 'running']).toContain((snapshot?.data as JobJson | undefined)?.status);
        writeFileSync(hold, '');
        const frames = await stream.rest();
        expect(frames.map((frame) => frame.event)).toContain('progress');
        expect(frames.at(-1)).toMatchObject({ event: 'status', data: { id: job.id, status: 'succeeded' } });
      } finally {
        stream.close();
      }
      const final = await readJson<JobJson>(await session.fetch(`${API}/jobs/${job.id}`), 200);
      expect(final).toMatchObject({ status: 'succeeded', result: { counted: 3 } });
    });

    it("serves the dashboard's list page and a job's page", async () => {
      const session = alice(app);
      const job = await runJob(session, 1);
      const { text: list, response } = await session.text(MOUNT);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      assertCleanPage(list, `The list page ${MOUNT}`);
      expect(list).toContain(job.id);
      expect(list).toContain('data-task="count"');
      // With the trailing slash: the same page, or a redirect to it.
      const slash = await session.fetch(`${MOUNT}/`);
      if (slash.status !== 200) {
        expect(slash.status, `GET ${MOUNT}/`).toBeOneOf([301, 302, 307, 308]);
        expect(new URL(slash.headers.get('location') ?? '', app.url).pathname).toBe(MOUNT);
      } else {
        assertCleanPage(await slash.text(), `The list page ${MOUNT}/`);
      }
      const { text } = await session.text(job.urls.page);
      assertCleanPage(text, `The job page ${job.urls.page}`);
      expect(text).toMatch(/<underway-progress\b[^>]*data-status="succeeded"/);
      expect(text).toContain(`${MOUNT}/assets/underway-client.js`);
    });

    it("starts a job from the list page's form: 303 to the job's page", async () => {
      const session = alice(app);
      const list = await session.text(MOUNT);
      const form = findForm(list.text, 'data-task', 'count');
      expect(form.method).toBe('post');
      expect(form.action).toBe(`${MOUNT}/jobs`);
      expect(form.hidden).toMatchObject({ task: 'count' });
      expect(form.hidden._csrf, 'the hidden CSRF field').toBeTruthy();
      const posted = await session.fetch(form.action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...form.hidden, 'p.n': '2' }).toString(),
      });
      expect(posted.status, await posted.clone().text()).toBe(303);
      const location = new URL(posted.headers.get('location') ?? '', app.url);
      expect(location.origin).toBe(app.url);
      expect(location.pathname).toMatch(new RegExp(`^${MOUNT}/jobs/[A-Za-z0-9_-]+$`));
      const id = location.pathname.split('/').pop() ?? '';
      const stream = await EventStream.open(session, `${API}/jobs/${id}/events`);
      await stream.rest();
      const page = await session.text(location.pathname);
      assertCleanPage(page.text, `The job page ${location.pathname}`);
      expect(page.text).toMatch(/<underway-progress\b[^>]*data-status="succeeded"/);
      const job = await readJson<JobJson>(await session.fetch(`${API}/jobs/${id}`), 200);
      expect(job).toMatchObject({ status: 'succeeded', result: { counted: 2 } });
    });

    it('serves the browser bundle shipped in the package', async () => {
      const response = await fetch(`${app.url}${MOUNT}/assets/underway-client.js`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/javascript/);
      const shipped = readFileSync(join(root().dir, 'node_modules/underway/dist/client/underway-client.js'), 'utf8');
      expect((await response.text()) === shipped, 'the served bundle equals dist/client/underway-client.js').toBe(true);
    });

    if (spec.worker) {
      const where = spec.worker === 'sandbox' ? 'in a sandboxed child process' : "in the server's own process";
      it(`runs jobs ${where}`, async () => {
        const session = alice(app);
        const job = await runJob(session, 1);
        const { text } = await session.text(`${API}/jobs/${job.id}/logs`);
        const pid = Number(/counted by pid (\d+)/.exec(text)?.[1]);
        expect(pid, text).toBeGreaterThan(0);
        if (spec.worker === 'sandbox') expect(pid).not.toBe(app.pid);
        else expect(pid).toBe(app.pid);
      });
    }

    spec.more?.(() => app, root);

    it('stops cleanly on SIGTERM', async () => {
      const stopped = await app.stop();
      const code = spec.exitCode ?? 0;
      expect(stopped, app.output().slice(-4000)).toEqual({ code, signal: null, forced: false });
    });
  });
}
