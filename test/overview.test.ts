import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, Pages, screenshot, watchForTrouble } from './fixtures/dashboard/browser.ts';
import { type DashboardEnv, PAYLOAD, pacer, startDashboard } from './fixtures/dashboard/setup.ts';
import { waitForStatus } from './helpers/wait.ts';

let browser: Browser;
let env: DashboardEnv;
let pages: Pages;
let running = '';

beforeAll(async () => {
  [browser, env] = await Promise.all([launchChromium(), startDashboard()]);
  pages = new Pages(browser, 10_000);
  // Real jobs through the real worker: two succeed, one fails, one stays running.
  const started = async (task: string, params: unknown) =>
    (await env.underway.queue.start(task, params as never, { owner: 'local' })).job.id;
  const sums = [await started('quick.sum', { a: 1, b: 2 }), await started('quick.sum', { a: 3, b: 4 })];
  const failing = await started('hostile', { key: 'overview-fail', fail: true });
  running = await started('files.scan', { key: 'overview-scan' });
  for (const id of sums) await waitForStatus(env.store, id, 'succeeded');
  pacer.allow('overview-fail');
  await waitForStatus(env.store, failing, 'failed');
  await waitForStatus(env.store, running, 'running');
  // What a job or a worker names reaches the page as text: a task name and a worker made of markup.
  await env.store.enqueue({
    task: PAYLOAD,
    params: {},
    maxAttempts: 1,
    runAt: new Date(Date.now() + 3_600_000).toISOString(),
  });
  await env.store.touchWorker({
    id: `ghost ${PAYLOAD}`,
    host: PAYLOAD,
    pid: 1,
    concurrency: 1,
    tasks: [PAYLOAD],
    beatMs: 10,
    startedAt: new Date(Date.now() - 60_000).toISOString(),
  });
}, 60_000);

afterEach(() => pages?.closeAll());
afterAll(async () => {
  pacer.allow('overview-scan');
  await browser?.close();
  await env?.close();
});

const open = (path: string, options?: BrowserContextOptions) => pages.open(`${env.url}${path}`, options);

const cell = (page: Page, task: string, status: string) =>
  page.locator(`#uw-counts tr[data-task="${task}"] td[data-status="${status}"]`).textContent();

/** Nothing wider than the window: the page does not scroll sideways, nor does any table's box. */
const overflow = (page: Page) =>
  page.evaluate(() => {
    const wide = [document.documentElement, ...document.querySelectorAll<HTMLElement>('.uw-table-scroll, figure')]
      .filter((el) => el.scrollWidth > el.clientWidth + 1)
      .map((el) => `${el.tagName}#${el.id || el.querySelector('table')?.id} ${el.scrollWidth} > ${el.clientWidth}`);
    return wide;
  });

describe('Overview page in Chromium', () => {
  it('shows the counts, charts, run times, queues and workers, and follows new jobs live', async () => {
    const page = await open('/', { viewport: { width: 1280, height: 900 } });
    const trouble = watchForTrouble(page);
    await page.getByRole('navigation', { name: 'Dashboard' }).getByRole('link', { name: 'Overview' }).click();
    await page.waitForURL(/\/overview$/);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Overview');

    expect(await cell(page, 'quick.sum', 'succeeded')).toBe('2');
    expect(await cell(page, 'hostile', 'failed')).toBe('1');
    expect(await cell(page, 'files.scan', 'running')).toBe('1');

    // Charts: an image with a title and a description of the totals; the numbers in a table.
    const hour = page.getByRole('img', { name: 'Jobs per minute, last hour' });
    await expect(hour.count()).resolves.toBe(1);
    const desc = await page.locator('#uw-chart-hour desc').textContent();
    expect(desc).toMatch(/^In total: started 4, succeeded 2, failed 1\. At most [1-4] in one minute\.$/);
    await expect(page.locator('#uw-chart-day desc').textContent()).resolves.toContain(
      'started 4, succeeded 2, failed 1',
    );
    await expect(page.locator('#uw-chart-hour polyline').count()).resolves.toBe(3);
    const tableSum = (series: string) =>
      page.$$eval(`table[data-chart="uw-chart-hour"] td[data-series="${series}"]`, (cells) =>
        cells.reduce((n, c) => n + Number(c.textContent), 0),
      );
    expect([await tableSum('started'), await tableSum('succeeded'), await tableSum('failed')]).toEqual([4, 2, 1]);
    await expect(page.locator('table[data-chart="uw-chart-hour"] tbody tr').count()).resolves.toBe(60);
    await expect(page.locator('table[data-chart="uw-chart-day"] tbody tr').count()).resolves.toBe(48);
    // The numbers open with a click, without script. (The hour chart's own: other charts on the page
    // offer their numbers under the same words.)
    await page.locator('#uw-chart-hour').getByText('The numbers per minute').click();
    await expect(page.locator('table[data-chart="uw-chart-hour"]').isVisible()).resolves.toBe(true);

    await expect(
      page.locator('#uw-runtimes-hour tr[data-task="quick.sum"] td[data-field="count"]').textContent(),
    ).resolves.toBe('2');
    await expect(
      page.locator('#uw-runtimes-hour tr[data-task="hostile"] td[data-field="count"]').textContent(),
    ).resolves.toBe('1');
    await expect(
      page.locator('#uw-depth tr[data-queue="files.scan"] td[data-field="running"]').textContent(),
    ).resolves.toBe('1');

    // The worker alive, running the scan; the ghost (its beats long missed) shown as not heard from.
    const worker = page.locator(`li[data-worker="${env.worker.id}"]`);
    await expect(worker.getAttribute('data-alive')).resolves.toBe('true');
    await expect(worker.locator('[data-field="running"]').getAttribute('data-count')).resolves.toBe('1');
    await expect(worker.getByRole('link', { name: 'files.scan' }).getAttribute('href')).resolves.toBe(
      `/jobs/${running}`,
    );
    const ghost = page.locator('li[data-alive="false"]');
    await expect(ghost.locator('h3').textContent()).resolves.toBe(`ghost ${PAYLOAD}`);
    await expect(page.locator('#uw-workers-alive').getAttribute('data-alive')).resolves.toBe('1');
    // Markup from the store is text: the PAYLOAD task's row and the ghost's host, never run.
    await expect(page.locator('#uw-counts tbody th').filter({ hasText: '<script>' }).count()).resolves.toBe(1);
    expect(await page.evaluate(() => (window as { __pwned?: string }).__pwned)).toBeUndefined();
    await screenshot(page, 'overview-desktop-light');

    // Live: a job ending elsewhere shows up without a reload; the open table stays open.
    await page.evaluate(() => Object.assign(window, { __sameDocument: true }));
    const third = await env.underway.queue.start('quick.sum', { a: 5, b: 6 } as never, { owner: 'local' });
    await waitForStatus(env.store, third.job.id, 'succeeded');
    await expect.poll(() => cell(page, 'quick.sum', 'succeeded'), { timeout: 15_000 }).toBe('3');
    expect(await page.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    await expect(page.locator('#uw-chart-hour details').getAttribute('open')).resolves.toBe('');
    expect(await overflow(page)).toEqual([]);
    expect(trouble).toEqual([]);
  }, 60_000);

  for (const [name, options] of [
    ['desktop-dark', { viewport: { width: 1280, height: 900 }, colorScheme: 'dark' }],
    ['phone-light', { viewport: { width: 390, height: 844 }, colorScheme: 'light', isMobile: true }],
    ['phone-dark', { viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true }],
  ] as const) {
    it(`fits and reads at ${name}`, async () => {
      const page = await open('/overview', options);
      const trouble = watchForTrouble(page);
      await expect(page.getByRole('img', { name: 'Jobs per 30 minutes, last day' }).count()).resolves.toBe(1);
      expect(await cell(page, 'hostile', 'failed')).toBe('1');
      const box = await page.locator('#uw-chart-hour svg.uw-chart-svg').boundingBox();
      expect(box?.width).toBeGreaterThan(Math.min(400, options.viewport.width - 80));
      expect(box && box.x + box.width).toBeLessThanOrEqual(options.viewport.width);
      await screenshot(page, `overview-${name}`);
      expect(await overflow(page)).toEqual([]);
      // The number tables too, opened.
      for (const details of await page.locator('#uw-overview details').all()) await details.locator('summary').click();
      expect(await overflow(page)).toEqual([]);
      expect(trouble).toEqual([]);
    });
  }
});
