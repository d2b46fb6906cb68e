import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, Pages } from './fixtures/dashboard/browser.ts';
import { startHost } from './fixtures/dashboard/host.ts';
import { type DashboardEnv, pacer, startDashboard } from './fixtures/dashboard/setup.ts';

let browser: Browser;
let env: DashboardEnv;
let host: Awaited<ReturnType<typeof startHost>>;
let pages: Pages;

beforeAll(async () => {
  [browser, env] = await Promise.all([launchChromium(), startDashboard()]);
  host = await startHost(env.underway);
  pages = new Pages(browser, 10_000);
});
afterEach(() => pages?.closeAll());
afterAll(async () => {
  await browser?.close();
  await host?.close();
  await env?.close();
});

describe('full focus: startOrWait', () => {
  it('answers with the result at once when the job is fast: no waiting page', async () => {
    const page = await pages.newPage();
    const seen: string[] = [];
    page.on('response', (r) => seen.push(new URL(r.url()).pathname));
    const response = await page.goto(`${host.url}/sum?a=2&b=3`);
    expect(response?.status()).toBe(200);
    await expect(page.locator('#answer').textContent()).resolves.toBe('5');
    expect(new URL(page.url()).pathname).toBe('/sum');
    expect(seen.some((path) => path.includes('/wait') || path.startsWith('/assets/'))).toBe(false);
  });

  it('shows the waiting page when it is slow, and goes on to `redirectTo` when the job ends', async () => {
    const page = await pages.newPage();
    await page.goto(`${host.url}/sum?a=20&b=22&key=slow`);
    await expect(page.locator('h1').textContent()).resolves.toBe('Working on it…');
    await page.waitForSelector('underway-progress[data-status="running"]');
    pacer.allow('slow');
    await page.waitForURL(/\/sums\/[A-Za-z0-9_-]+$/);
    await expect(page.locator('#answer').textContent()).resolves.toBe('42');
  });

  it('without JavaScript, the waiting page refreshes through the wait route to `redirectTo`', async () => {
    const page = await pages.newPage({ javaScriptEnabled: false });
    await page.goto(`${host.url}/sum?a=1&b=1&key=slow-noscript`);
    await expect(page.locator('h1').textContent()).resolves.toBe('Working on it…');
    pacer.allow('slow-noscript');
    await page.waitForURL(/\/sums\//, { timeout: 10_000 });
    await expect(page.locator('#answer').textContent()).resolves.toBe('2');
  });
});

describe('underway/client in a host page', () => {
  it('starts, watches (async iterator) and cancels with the SDK; <underway-progress> shows a job live', async () => {
    const page = await pages.newPage();
    await page.goto(`${host.url}/host`);
    // A string, not a function: vitest would rewrite a dynamic import() inside a function.
    const statuses = (await page.evaluate(`(async () => {
      const sdk = await import('/assets/underway-client.js');
      const job = await sdk.start('quick.sum', { a: 4, b: 5 });
      const seen = [];
      let result = null;
      for await (const update of sdk.watch(job.id)) {
        seen.push(update.job.status);
        result = update.job.result;
      }
      return { seen, result };
    })()`)) as { seen: string[]; result: unknown };
    expect(statuses.seen.at(-1)).toBe('succeeded');
    expect(statuses.result).toEqual({ sum: 9 });

    // A component dropped into the host page, empty: it draws its own bar and follows the job.
    const id = (
      await env.underway.queue.start(
        'report.build',
        { title: 'Host', sections: 2, key: 'host' },
        {
          owner: 'local',
        },
      )
    ).job.id;
    await dropProgress(page, id);
    await page.waitForSelector('underway-progress[data-status="running"] progress');
    await expect.poll(() => page.locator('underway-indicator').textContent()).toContain('1 running');
    pacer.allow('host');
    await expect.poll(() => page.locator('underway-progress progress').getAttribute('value')).toBe('50');
    expect(await page.getByRole('progressbar').getAttribute('aria-valuetext')).toContain('step 1 of 2');

    const cancelled = await page.evaluate(`(async () => {
      const sdk = await import('/assets/underway-client.js');
      await sdk.cancel(${JSON.stringify(id)});
      let last = '';
      for await (const update of sdk.watch(${JSON.stringify(id)})) last = update.job.status;
      return last;
    })()`);
    expect(cancelled).toBe('cancelled');
    await page.waitForSelector('underway-progress[data-status="cancelled"]');
    await expect.poll(() => page.locator('underway-indicator').isHidden()).toBe(true);
  });
});

describe('underway/client reading the event stream over fetch in a browser', () => {
  /** The requests for event streams a page makes: how (`fetch` or `eventsource`), to where, with which headers. */
  function streamsOf(page: Page) {
    const streams: { type: string; path: string; headers: Record<string, string> }[] = [];
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (path.endsWith('/events')) streams.push({ type: request.resourceType(), path, headers: request.headers() });
    });
    return streams;
  }

  it('uses fetch when the client has headers, which EventSource cannot send', async () => {
    const page = await pages.newPage();
    const streams = streamsOf(page);
    await page.goto(`${host.url}/host`);
    const { id, seen } = (await page.evaluate(`(async () => {
      const sdk = await import('/assets/underway-client.js');
      const client = sdk.createClient({ headers: { 'x-underway-test': 'over fetch' } });
      const job = await client.start('quick.sum', { a: 20, b: 22 });
      const seen = [];
      for await (const update of client.watch(job.id)) seen.push([update.job.status, update.job.result]);
      return { id: job.id, seen };
    })()`)) as { id: string; seen: [string, unknown][] };
    expect(seen.at(-1)).toEqual(['succeeded', { sum: 42 }]);
    const own = streams.find((s) => s.path.endsWith(`/jobs/${id}/events`));
    expect(own).toMatchObject({ type: 'fetch', headers: { 'x-underway-test': 'over fetch' } });
    // Without headers the page's own stream (the indicator's) stays an EventSource.
    expect(streams.find((s) => s.path.endsWith('/api/events'))?.type).toBe('eventsource');

    // An Authorization header goes along too: here a wrong one, which the server refuses.
    const refused = await page.evaluate(`(async () => {
      const sdk = await import('/assets/underway-client.js');
      const client = sdk.createClient({ headers: { authorization: 'Bearer not-a-token' } });
      try {
        for await (const update of client.watch(${JSON.stringify(id)})) return 'watched: ' + update.type;
      } catch (error) {
        return error.message;
      }
    })()`);
    expect(refused).toBe(`Cannot watch job ${id}: the event stream was refused (HTTP 401).`);
    expect(streams.at(-1)).toMatchObject({ type: 'fetch', headers: { authorization: 'Bearer not-a-token' } });
  });

  it('works in a browser without EventSource: watch, <underway-progress> and <underway-indicator>', async () => {
    const page = await pages.newPage();
    // biome-ignore lint/suspicious/noExplicitAny: taking a standard global away.
    await page.addInitScript(() => delete (window as any).EventSource);
    const streams = streamsOf(page);
    await page.goto(`${host.url}/host`);
    expect(await page.evaluate('typeof EventSource')).toBe('undefined');
    const title = 'Größe 📊 報告';
    const id = (
      await env.underway.queue.start('report.build', { title, sections: 2, key: 'no-es' }, { owner: 'local' })
    ).job.id;
    await dropProgress(page, id);
    await page.waitForSelector('underway-progress[data-status="running"] progress');
    await expect.poll(() => page.locator('underway-indicator').textContent()).toContain('1 running');

    const watched = page.evaluate(`(async () => {
      const sdk = await import('/assets/underway-client.js');
      const logs = [];
      let last = null;
      for await (const update of sdk.watch(${JSON.stringify(id)})) {
        window.__watching = true;
        if (update.type === 'log') logs.push(update.log.line);
        last = update.job;
      }
      return { logs, status: last.status, result: last.result };
    })()`) as Promise<{ logs: string[]; status: string; result: unknown }>;
    await page.waitForFunction('window.__watching === true');
    pacer.allow('no-es', 2);
    const { logs, status, result } = await watched;
    expect(status).toBe('succeeded');
    expect(result).toEqual({ title, sections: 2, pages: 6 });
    expect(logs).toContain(`section 2 of ${title}`);
    await page.waitForSelector('underway-progress[data-status="succeeded"]');
    await expect.poll(() => page.locator('underway-indicator').isHidden()).toBe(true);
    expect(streams.length).toBeGreaterThanOrEqual(3);
    expect(streams.every((s) => s.type === 'fetch')).toBe(true);
  });
});

/** Drops an empty `<underway-progress job=…>` into the host page's slot, as a host page would. */
function dropProgress(page: Page, jobId: string): Promise<void> {
  return page.evaluate((id) => {
    const element = document.createElement('underway-progress');
    element.setAttribute('job', id);
    document.getElementById('slot')?.append(element);
  }, jobId);
}
