import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, Pages, screenshot, watchForTrouble } from './fixtures/dashboard/browser.ts';
import { type DashboardEnv, PAYLOAD, pacer, startDashboard } from './fixtures/dashboard/setup.ts';
import { waitForStatus } from './helpers/wait.ts';

let browser: Browser;
let env: DashboardEnv;
let pages: Pages;

beforeAll(async () => {
  [browser, env] = await Promise.all([launchChromium(), startDashboard()]);
  // Shorter than the test's own limit, so a wait that fails says which.
  pages = new Pages(browser, 10_000);
});
afterEach(() => pages?.closeAll());
afterAll(async () => {
  await browser?.close();
  await env?.close();
});

const open = (path: string, options?: BrowserContextOptions) => pages.open(`${env.url}${path}`, options);

/** Marks the document, so a test can tell that it was updated in place, not reloaded. */
const mark = (page: Page) => page.evaluate(() => Object.assign(window, { __sameDocument: true }));
const sameDocument = (page: Page) => page.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument);
const barValue = (page: Page, scope = '#uw-job') => page.locator(`${scope} progress`).first().getAttribute('value');

async function start(task: string, params: unknown): Promise<string> {
  const { job } = await env.underway.queue.start(task, params as never, { owner: 'local' });
  return job.id;
}

describe('dashboard in Chromium', () => {
  it('starts a job from the form, moves the bar to 100 % live, and shows the result in the list', async () => {
    const page = await open('/');
    const trouble = watchForTrouble(page);
    await page.getByText('Start report.build…').click();
    const form = page.locator('form[data-task="report.build"]');
    await form.getByLabel('title').fill('Q3 numbers');
    await form.getByLabel('key').fill('form');
    await form.getByRole('button', { name: 'Start report.build' }).click();
    await page.waitForURL(/\/jobs\/[A-Za-z0-9_-]+$/);
    const id = page.url().split('/').pop() as string;
    await page.waitForSelector('underway-progress[data-status="running"]');
    await mark(page);
    for (const [step, percent] of [
      [1, '25'],
      [2, '50'],
      [3, '75'],
    ] as const) {
      pacer.allow('form');
      await expect.poll(() => barValue(page)).toBe(percent);
      await expect.poll(() => page.locator('#uw-job .uw-step').textContent()).toBe(`step ${step} of 4`);
    }
    // The browser repaints the percent in its own language (Intl): "75%" in English, "75 %" in German.
    await expect(page.getByRole('progressbar').getAttribute('aria-valuetext')).resolves.toMatch(/^75\s?%/);
    await expect.poll(() => page.locator('#uw-log').textContent()).toContain('section 4 of Q3 numbers');
    pacer.allow('form');
    await page.waitForSelector('#uw-job[data-status="succeeded"]');
    expect(await barValue(page)).toBe('100');
    await expect(page.locator('#uw-job [aria-label="Result"] pre').textContent()).resolves.toContain('"pages": 12');
    await expect(page.getByRole('link', { name: 'Download report.txt' }).count()).resolves.toBe(1);
    expect(await sameDocument(page)).toBe(true);

    await page.getByRole('link', { name: '← All jobs' }).click();
    const row = page.locator(`tr[data-job="${id}"]`);
    await expect(row.getAttribute('data-status')).resolves.toBe('succeeded');
    await expect(row.textContent()).resolves.toContain('"title":"Q3 numbers"');

    // The list is live: a job started elsewhere appears, its bar moves, it ends, without a reload.
    await mark(page);
    const other = await start('report.build', { title: 'Live row', sections: 2, key: 'live' });
    const live = page.locator(`tr[data-job="${other}"]`);
    await live.waitFor();
    await expect.poll(() => page.locator('underway-indicator').textContent()).toContain('1 running');
    pacer.allow('live');
    await expect.poll(() => barValue(page, `tr[data-job="${other}"]`)).toBe('50');
    pacer.allow('live');
    await expect.poll(() => live.getAttribute('data-status')).toBe('succeeded');
    await expect.poll(() => page.locator('underway-indicator').isHidden()).toBe(true);
    expect(await page.locator('#uw-jobs tbody tr').first().getAttribute('data-job')).toBe(other);
    expect(await sameDocument(page)).toBe(true);
    expect(trouble).toEqual([]);
  });

  it('keeps ticked rows ticked while the list redraws itself, and cancels them together', async () => {
    const first = await start('quick.sum', { a: 1, b: 2, key: 'tick-1' });
    const second = await start('quick.sum', { a: 3, b: 4, key: 'tick-2' });
    const page = await open('/');
    const trouble = watchForTrouble(page);
    await mark(page);
    for (const id of [first, second]) await page.locator(`tr[data-job="${id}"] input[name="job"]`).check();
    // A job started elsewhere redraws the list from the server; the ticks stay.
    const other = await start('quick.sum', { a: 5, b: 6 });
    await page.locator(`tr[data-job="${other}"]`).waitFor();
    expect(
      await page
        .locator('input[name="job"]:checked')
        .evaluateAll((boxes) => boxes.map((b) => (b as HTMLInputElement).value)),
    ).toEqual([second, first]);
    await page.getByLabel('With the selected jobs').selectOption('cancel');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: 'Cancelled' }).textContent())
      .toContain('Cancelled 2 jobs.');
    expect((await env.store.get(first))?.status).toBe('cancelled');
    expect((await env.store.get(second))?.status).toBe('cancelled');
    // The form was posted: a new page, not the one marked.
    expect(await sameDocument(page)).toBeUndefined();
    expect(trouble).toEqual([]);
  });

  it('cancels a running job from its page: "Cancelling…" until it really ends, then cancelled', async () => {
    const id = await start('stubborn', { key: 'stubborn' });
    await waitForStatus(env.store, id, 'running');
    const page = await open(`/jobs/${id}`);
    await page.waitForSelector('underway-progress[data-status="running"]');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForSelector('button:disabled:text("Cancelling…")');
    await expect(page.locator('#uw-job .uw-status').textContent()).resolves.toBe('Cancelling…');
    await mark(page);
    pacer.allow('stubborn');
    await page.waitForSelector('#uw-job[data-status="cancelled"]');
    await expect(page.getByRole('button', { name: 'Retry' }).isVisible()).resolves.toBe(true);
    expect(await sameDocument(page)).toBe(true);
    // Retry starts a new job and goes to its page.
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.waitForURL((url) => !url.pathname.endsWith(id));
    const retried = page.url().split('/').pop() as string;
    await env.underway.queue.cancel(retried);
    pacer.allow('stubborn');
    await waitForStatus(env.store, retried, 'cancelled');
  });

  it('shows the true state on a bookmarked page after navigating away and coming back', async () => {
    const id = await start('report.build', { title: 'Bookmark', sections: 4, key: 'bookmark' });
    const page = await open(`/jobs/${id}`);
    await page.waitForSelector('underway-progress[data-status="running"]');
    await page.goto(`${env.url}/`);
    pacer.allow('bookmark', 2);
    await expect.poll(async () => (await env.store.get(id))?.progress?.current).toBe(2);
    await page.goBack();
    await expect.poll(() => barValue(page)).toBe('50');
    // Closed tab, new visit from the bookmark: the same truth, and live.
    await page.context().close();
    const again = await open(`/jobs/${id}`);
    await expect.poll(() => barValue(again)).toBe('50');
    pacer.allow('bookmark', 2);
    await again.waitForSelector('#uw-job[data-status="succeeded"]');
  });

  it('works without JavaScript: the form starts the job, errors show by their field, the page reaches the end', async () => {
    const page = await open('/', { javaScriptEnabled: false });
    await page.getByText('Start report.build…').click();
    const form = page.locator('form[data-task="report.build"]');
    await form.getByLabel('title').fill('ab');
    await form.getByLabel('sections').fill('2');
    await form.getByRole('button', { name: 'Start report.build' }).click();
    const bad = page.locator('form[data-task="report.build"]');
    await expect(bad.locator('#f-report-build-title-error').textContent()).resolves.toMatch(/at least 3|>=3/);
    await expect(bad.getByLabel('title').getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(bad.getByLabel('sections').inputValue()).resolves.toBe('2');
    await bad.getByLabel('title').fill('No script');
    await bad.getByLabel('key').fill('noscript');
    await bad.getByRole('button', { name: 'Start report.build' }).click();
    await page.waitForURL(/\/jobs\//);
    expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(1);
    pacer.allow('noscript', 2);
    await page.waitForSelector('#uw-job[data-status="succeeded"]', { timeout: 15_000 });
    expect(await page.locator('meta[http-equiv="refresh"]').count()).toBe(0);
    await expect(page.locator('#uw-job [aria-label="Result"] pre').textContent()).resolves.toContain('No script');
  });

  it('runs nothing a task wrote: messages, logs, results and errors are text', async () => {
    const list = await open('/');
    const trouble = watchForTrouble(list);
    const ok = await start('hostile', { key: 'xss-ok' });
    const failing = await start('hostile', { key: 'xss-fail', fail: true });
    await expect.poll(() => list.locator(`[data-progress-of="${failing}"] .uw-message`).textContent()).toBe(PAYLOAD);
    const page = await list.context().newPage();
    const pageTrouble = watchForTrouble(page);
    await page.goto(`${env.url}/jobs/${ok}`);
    await expect(page.locator('#uw-job .uw-message').textContent()).resolves.toBe(PAYLOAD);
    await expect(page.locator('#uw-log').textContent()).resolves.toContain(PAYLOAD);
    pacer.allow('xss-ok');
    pacer.allow('xss-fail');
    await page.waitForSelector('#uw-job[data-status="succeeded"]');
    await expect(page.locator('#uw-log').textContent()).resolves.toContain(`after: ${PAYLOAD}`);
    await expect(page.locator('#uw-job [aria-label="Result"] pre').textContent()).resolves.toContain('<script>');
    await page.goto(`${env.url}/jobs/${failing}`);
    await expect(page.locator('.uw-error-message').textContent()).resolves.toBe(PAYLOAD);
    await list.locator(`tr[data-job="${failing}"][data-status="failed"]`).waitFor();
    for (const p of [page, list]) {
      expect(await p.evaluate(() => (window as { __pwned?: string }).__pwned)).toBeUndefined();
      expect(await p.locator('img[src="x"], main script').count()).toBe(0);
    }
    expect([...trouble, ...pageTrouble]).toEqual([]);
  });

  it('looks right: list and job pages, light and dark, desktop and phone (screenshots in test-results/)', async () => {
    const running = await start('report.build', { title: 'Screenshot', sections: 40, key: 'shot' });
    const scan = await start('files.scan', { key: 'shot-scan' });
    pacer.allow('shot', 3);
    await expect.poll(async () => (await env.store.get(running))?.progress?.current).toBe(3);
    for (const [name, options] of [
      ['light', { viewport: { width: 1100, height: 900 } }],
      ['dark-phone', { viewport: { width: 390, height: 844 }, colorScheme: 'dark' as const, isMobile: true }],
    ] as const) {
      const list = await open('/', options);
      await list.locator(`tr[data-job="${running}"]`).waitFor();
      await screenshot(list, `dashboard-list-${name}`);
      // A second tab of the same context: the same viewport and scheme, without making another.
      const job = await list.context().newPage();
      await job.goto(`${env.url}/jobs/${running}`);
      await expect.poll(() => barValue(job)).toBe('7.5');
      await screenshot(job, `dashboard-job-${name}`);
    }
    const indeterminate = await open(`/jobs/${scan}`);
    await indeterminate.waitForSelector('underway-progress[data-status="running"]');
    expect(await indeterminate.locator('#uw-job progress').getAttribute('value')).toBeNull();
    await expect(indeterminate.locator('#uw-job .uw-step').textContent()).resolves.toBe('step 17');
    await screenshot(indeterminate, 'dashboard-job-indeterminate');
    await env.underway.queue.cancel(running);
    await env.underway.queue.cancel(scan);
    await waitForStatus(env.store, running, 'cancelled');
  });
});
