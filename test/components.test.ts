import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Underway } from '../src/http/index.ts';
import { launchChromium, Pages, screenshot, watchForTrouble } from './fixtures/dashboard/browser.ts';
import { type DashboardEnv, pacer, startDashboard } from './fixtures/dashboard/setup.ts';
import { closeServer } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';

/**
 * `<underway-progress>` and `<underway-indicator>` on a host's own page (issue 17, components):
 * underway.css changes none of the host's elements, the components work without it, Cancel
 * cancels a real running job, and what cannot be shown is said in the element, not only in
 * `data-error`. Real server, SQLite store and worker (test/fixtures/dashboard/setup.ts).
 */

/** The host's own look: what underway.css must leave exactly as it is. */
const HOST_STYLE = `
:root{font:18px/1.6 Georgia,serif}
body{margin:24px;color:rgb(40,10,10);background:rgb(250,245,230)}
a{color:rgb(150,0,80);text-decoration:underline dotted}
h1{font-size:40px;margin:0 0 10px;color:rgb(0,80,0)}
main{padding:6px;max-width:none}
button{background:rgb(255,200,0);border:2px solid black;padding:3px 6px;font:inherit;border-radius:0}
progress{width:120px;height:20px}
ul{list-style:square;padding-left:30px}
label,input,pre,p{letter-spacing:.5px}
`;

/** The host's elements compared with and without underway.css: one of each that the old stylesheet restyled. */
const HOST_ELEMENTS = [
  'html',
  'body',
  'main',
  'h1',
  'p',
  'a',
  'button',
  'progress',
  'ul',
  'li',
  'label',
  'input',
  'pre',
];

/** A host page: its own styles, optionally underway.css, the bundle, an indicator and a slot for bars. */
function hostPage(css: boolean): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Host</title>
<style>${HOST_STYLE}</style>
${css ? '<link rel="stylesheet" href="/assets/underway.css">' : ''}
<script type="module" src="/assets/underway-client.js"></script></head>
<body><main><h1>Host app</h1><underway-indicator></underway-indicator>
<p>Text with <a id="host-link" href="/elsewhere">a link</a> and <button id="host-button" type="button">a button</button>.</p>
<progress id="host-progress" value="3" max="10"></progress>
<ul id="host-list"><li>first</li><li>second</li></ul>
<label for="host-input">Name</label><input id="host-input"><pre>pre text</pre>
<div id="slot"></div></main></body></html>`;
}

/** underway's node handler in front of the host's pages, on one origin (cookies, CSRF, relative /api). */
async function startHostPages(underway: Underway): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) =>
    underway.nodeHandler(req, res, () => {
      const path = new URL(req.url ?? '/', 'http://host').pathname;
      if (path !== '/with-css' && path !== '/without-css') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(hostPage(path === '/with-css'));
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => closeServer(server) };
}

// Each test drives a browser against a real server; on a busy machine a step takes seconds.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });
/** Waits for the page to show something, as long as the browser's own waits. */
const poll = <T>(look: () => Promise<T> | T) => expect.poll(look, { timeout: 30_000 });

let browser: Browser;
let env: DashboardEnv;
let host: Awaited<ReturnType<typeof startHostPages>>;
let pages: Pages;

beforeAll(async () => {
  [browser, env] = await Promise.all([launchChromium(), startDashboard()]);
  host = await startHostPages(env.underway);
  pages = new Pages(browser, 30_000, { viewport: { width: 900, height: 700 } });
});
afterEach(() => pages?.closeAll());
afterAll(async () => {
  await browser?.close();
  await host?.close();
  await env?.close();
});

const open = (url: string, options?: BrowserContextOptions) => pages.open(url, options);

async function start(task: string, params: unknown): Promise<string> {
  return (await env.underway.queue.start(task, params as never, { owner: 'local' })).job.id;
}

/** Drops `<underway-progress job=…>` (with any other attributes) into the page's slot, as a host page would. */
function dropProgress(page: Page, attributes: Record<string, string>): Promise<void> {
  return page.evaluate((attrs) => {
    const element = document.createElement('underway-progress');
    for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
    document.getElementById('slot')?.append(element);
  }, attributes);
}

/** Every computed property of each host element, by selector. */
function hostStyles(page: Page): Promise<Record<string, Record<string, string>>> {
  return page.evaluate((selectors) => {
    const styles: Record<string, Record<string, string>> = {};
    for (const selector of selectors) {
      const element = document.querySelector(selector);
      if (!element) throw new Error(`no ${selector} on the host page`);
      const computed = getComputedStyle(element);
      styles[selector] = Object.fromEntries([...computed].map((name) => [name, computed.getPropertyValue(name)]));
    }
    return styles;
  }, HOST_ELEMENTS);
}

describe('underway.css on a host page', () => {
  it('changes no computed style of the host’s own elements, and does style the components', async () => {
    const bare = await open(`${host.url}/without-css`);
    const styled = await open(`${host.url}/with-css`);
    // The stylesheet did load, and has rules: an empty or missing file would pass the comparison.
    const rules = await styled.evaluate(
      () =>
        [...document.styleSheets].find((sheet) => sheet.href?.endsWith('/assets/underway.css'))?.cssRules.length ?? 0,
    );
    expect(rules).toBeGreaterThan(5);

    const [without, withCss] = await Promise.all([hostStyles(bare), hostStyles(styled)]);
    expect(Object.keys(without.body ?? {}).length).toBeGreaterThan(300);
    for (const selector of HOST_ELEMENTS)
      expect({ selector, ...withCss[selector] }).toEqual({ selector, ...without[selector] });

    // It does style the components: the bar's caption is laid out, the host's progress rule is not the bar's.
    const id = await start('report.build', { title: 'Styled', sections: 4, key: 'styled' });
    for (const page of [bare, styled]) await dropProgress(page, { job: id });
    for (const page of [bare, styled]) await page.waitForSelector('underway-progress[data-status="running"] progress');
    const caption = (page: Page) =>
      page.evaluate(() => {
        const bar = document.querySelector('underway-progress progress') as HTMLElement;
        return {
          display: getComputedStyle(document.querySelector('underway-progress .uw-caption') as HTMLElement).display,
          barWidth: bar.getBoundingClientRect().width,
        };
      });
    expect(await caption(bare)).toMatchObject({ display: 'inline', barWidth: 120 });
    const withSheet = await caption(styled);
    expect(withSheet.display).toBe('flex');
    // The component's rule is :where(), zero specificity: the host's `progress{width:120px}` still wins.
    expect(withSheet.barWidth).toBe(120);
    await screenshot(bare, 'components-host-without-css');
    await screenshot(styled, 'components-host-with-css');
    await env.underway.queue.cancel(id);
    await waitForStatus(env.store, id, 'cancelled');
  });
});

describe('<underway-progress> on a host page', () => {
  it('draws its bar, and its Cancel button (keyboard) cancels a real running job: "Cancelling…" until it ends', async () => {
    const id = await start('stubborn', { key: 'host-cancel' });
    await waitForStatus(env.store, id, 'running');
    const page = await open(`${host.url}/with-css`);
    const trouble = watchForTrouble(page);
    await dropProgress(page, { job: id });
    await page.waitForSelector('underway-progress[data-status="running"] progress');
    await expect(
      page.getByRole('progressbar', { name: 'Progress of stubborn' }).getAttribute('aria-valuetext'),
    ).resolves.toContain('step 1 of 3');

    const cancel = page.getByRole('button', { name: 'Cancel stubborn', exact: true });
    await expect(cancel.evaluate((b) => b.tagName)).resolves.toBe('BUTTON');
    await screenshot(page, 'components-progress-running');
    await cancel.focus();
    await page.keyboard.press('Enter');
    const pending = page.getByRole('button', { name: 'Cancelling stubborn…', exact: true });
    await expect(pending.textContent()).resolves.toBe('Cancelling…');
    await expect(pending.getAttribute('aria-disabled')).resolves.toBe('true');
    // aria-disabled, not disabled: the focus stays where the keyboard left it.
    expect(await page.evaluate(() => document.activeElement?.className)).toBe('uw-cancel');
    // The job heard it (the task now waits for the test to let it end), and the bar says so too.
    await poll(async () => (await env.store.get(id))?.cancelRequested).toBe(true);
    await poll(() => page.locator('underway-progress .uw-message').textContent()).toBe('Cancelling…');
    await screenshot(page, 'components-progress-cancelling');
    // Pressing again sends nothing more.
    const posts: string[] = [];
    page.on('request', (r) => r.method() === 'POST' && posts.push(r.url()));
    await page.keyboard.press('Enter');

    pacer.allow('host-cancel');
    await page.waitForSelector('underway-progress[data-status="cancelled"]');
    await expect(page.locator('underway-progress button').count()).resolves.toBe(0);
    expect((await env.store.get(id))?.status).toBe('cancelled');
    expect(posts).toEqual([]);
    expect(trouble).toEqual([]);
  });

  it('has no Cancel button with `no-cancel`, and gets one when the attribute goes', async () => {
    const id = await start('report.build', { title: 'No cancel', sections: 2, key: 'no-cancel' });
    const page = await open(`${host.url}/without-css`);
    await dropProgress(page, { job: id, 'no-cancel': '' });
    await page.waitForSelector('underway-progress[data-status="running"] progress');
    expect(await page.locator('underway-progress button').count()).toBe(0);
    await page.locator('underway-progress').evaluate((el) => el.removeAttribute('no-cancel'));
    await page.getByRole('button', { name: 'Cancel report.build' }).waitFor();
    await env.underway.queue.cancel(id);
    await page.waitForSelector('underway-progress[data-status="cancelled"]');
    expect(await page.locator('underway-progress button').count()).toBe(0);
  });

  it('says what went wrong when Cancel is refused (a 403), and lets the viewer try again', async () => {
    const id = await start('report.build', { title: 'Refused', sections: 2, key: 'refused' });
    const page = await open(`${host.url}/with-css`);
    // Locally everyone is the admin: the refusal a host's own auth would give is answered here.
    await page.route(`**/api/jobs/${id}/cancel`, (route) =>
      route.fulfill({ status: 403, json: { error: { code: 'FORBIDDEN', message: 'You may not cancel this job.' } } }),
    );
    await dropProgress(page, { job: id });
    await page.getByRole('button', { name: 'Cancel report.build' }).click();
    const alert = page.locator('underway-progress .uw-problem[role="alert"]');
    await expect(alert.textContent()).resolves.toBe('You may not cancel this job.');
    expect(await alert.isVisible()).toBe(true);
    await expect(page.getByRole('button', { name: 'Cancel report.build' }).getAttribute('aria-disabled')).resolves.toBe(
      'false',
    );
    await screenshot(page, 'components-progress-cancel-refused');
    expect((await env.store.get(id))?.cancelRequested).toBe(false);
    await env.underway.queue.cancel(id);
    await page.waitForSelector('underway-progress[data-status="cancelled"]');
  });

  it('shows an unknown job as a visible sentence (role=alert), not only in data-error', async () => {
    for (const css of [true, false]) {
      const page = await open(`${host.url}/${css ? 'with' : 'without'}-css`);
      await dropProgress(page, { job: 'no-such-job' });
      const alert = page.locator('underway-progress .uw-problem[role="alert"]');
      await expect(alert.textContent()).resolves.toBe('There is no job no-such-job.');
      expect(await alert.isVisible()).toBe(true);
      await expect(page.locator('underway-progress').getAttribute('data-error')).resolves.toContain('no-such-job');
      expect(await page.locator('underway-progress button, underway-progress progress').count()).toBe(0);
      await screenshot(page, `components-progress-unknown-${css ? 'with' : 'without'}-css`);
    }
  });

  it('says it cannot reach the server after failed reconnects, and carries on when it can', async () => {
    const id = await start('report.build', { title: 'Offline', sections: 2, key: 'offline' });
    const page = await open(`${host.url}/with-css`);
    const events = `**/api/jobs/${id}/events`;
    let refused = 0;
    await page.route(events, (route) => {
      refused++;
      return route.abort('connectionrefused');
    });
    await dropProgress(page, { job: id });
    const alert = page.locator('underway-progress .uw-problem[role="alert"]');
    await expect(alert.textContent()).resolves.toBe('Cannot reach the server. Trying again…');
    expect(refused).toBeGreaterThanOrEqual(3);
    await screenshot(page, 'components-progress-unreachable');
    await page.unroute(events);
    await page.waitForSelector('underway-progress[data-status="running"] progress');
    await expect(alert.count()).resolves.toBe(0);
    await env.underway.queue.cancel(id);
    await page.waitForSelector('underway-progress[data-status="cancelled"]');
  });

  it('writes numbers in the browser’s language (Intl); the server’s first paint stays as it was', async () => {
    const id = await start('report.build', { title: 'Zahlen', sections: 2, key: 'intl' });
    pacer.allow('intl');
    await poll(async () => (await env.store.get(id))?.progress?.current).toBe(1);
    // The dashboard's own job page: rendered "50 %" by the server, repainted in German by the browser.
    const page = await open(`${env.url}/jobs/${id}`, { locale: 'de-DE' });
    expect(await page.evaluate(() => navigator.language)).toBe('de-DE');
    await poll(() => page.locator('#uw-job .uw-percent').textContent()).toBe('50\u00a0%');
    await expect(
      page.getByRole('progressbar', { name: 'Progress of report.build' }).getAttribute('aria-valuetext'),
    ).resolves.toMatch(/^50\u00a0%, step 1 of 2/);
    const english = await open(`${env.url}/jobs/${id}`, { locale: 'en-US', javaScriptEnabled: false });
    await expect(english.locator('#uw-job .uw-percent').textContent()).resolves.toBe('50 %');
    await screenshot(page, 'components-job-page-de');
    pacer.allow('intl');
    await waitForStatus(env.store, id, 'succeeded');
  });
});

describe('<underway-indicator>', () => {
  it('without underway.css shows no list bullets: its screen-reader list hides itself', async () => {
    const id = await start('report.build', { title: 'Bullets', sections: 4, key: 'bullets' });
    const page = await open(`${host.url}/without-css`);
    const indicator = page.locator('underway-indicator');
    await poll(() => indicator.textContent()).toContain('report.build');
    const list = await indicator.locator('ul').evaluate((ul) => {
      const box = ul.getBoundingClientRect();
      return { width: box.width, height: box.height, position: getComputedStyle(ul).position, live: ul.ariaLive };
    });
    expect(list).toEqual({ width: 1, height: 1, position: 'absolute', live: 'off' });
    // What shows is the count link alone, on one line.
    const box = await indicator.boundingBox();
    expect(box?.height).toBeLessThan(40);
    await screenshot(page, 'components-indicator-without-css');

    // The same on the dashboard, whose CSP allows no inline style: set through CSSOM, it applies.
    const dashboard = await open(`${env.url}/`);
    await poll(() => dashboard.locator('underway-indicator').textContent()).toContain('report.build');
    await expect(
      dashboard.locator('underway-indicator ul').evaluate((ul) => getComputedStyle(ul).position),
    ).resolves.toBe('absolute');
    await env.underway.queue.cancel(id);
    await waitForStatus(env.store, id, 'cancelled');
  });

  it('says "sign in" where the API refuses the stream, instead of staying empty', async () => {
    const closed = await startDashboard({ auth: { localAdmin: false } });
    const refusing = await startHostPages(closed.underway);
    try {
      const page = await open(`${refusing.url}/with-css`);
      await poll(() => page.locator('underway-indicator').textContent()).toBe('Jobs: sign in to see them');
      expect(await page.locator('underway-indicator').isVisible()).toBe(true);
      await dropProgress(page, { job: 'anything' });
      await expect(page.locator('underway-progress .uw-problem').textContent()).resolves.toMatch(/^Sign in/);
      await screenshot(page, 'components-signed-out');
    } finally {
      await refusing.close();
      await closed.close();
    }
  });
});
