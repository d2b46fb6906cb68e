import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './fixtures/dashboard/browser.ts';
import { startHost } from './fixtures/dashboard/host.ts';
import { type DashboardEnv, pacer, startDashboard } from './fixtures/dashboard/setup.ts';

let browser: Browser;
let env: DashboardEnv;
let host: Awaited<ReturnType<typeof startHost>>;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  [browser, env] = await Promise.all([launchChromium(), startDashboard()]);
  host = await startHost(env.underway);
});
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await browser?.close();
  await host?.close();
  await env?.close();
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext();
  context.setDefaultTimeout(10_000);
  contexts.push(context);
  return context.newPage();
}

describe('full focus: startOrWait', () => {
  it('answers with the result at once when the job is fast: no waiting page', async () => {
    const page = await newPage();
    const seen: string[] = [];
    page.on('response', (r) => seen.push(new URL(r.url()).pathname));
    const response = await page.goto(`${host.url}/sum?a=2&b=3`);
    expect(response?.status()).toBe(200);
    await expect(page.locator('#answer').textContent()).resolves.toBe('5');
    expect(new URL(page.url()).pathname).toBe('/sum');
    expect(seen.some((path) => path.includes('/wait') || path.startsWith('/assets/'))).toBe(false);
  });

  it('shows the waiting page when it is slow, and goes on to `redirectTo` when the job ends', async () => {
    const page = await newPage();
    await page.goto(`${host.url}/sum?a=20&b=22&key=slow`);
    await expect(page.locator('h1').textContent()).resolves.toBe('Working on it…');
    await page.waitForSelector('underway-progress[data-status="running"]');
    pacer.allow('slow');
    await page.waitForURL(/\/sums\/[A-Za-z0-9_-]+$/);
    await expect(page.locator('#answer').textContent()).resolves.toBe('42');
  });

  it('without JavaScript, the waiting page refreshes through the wait route to `redirectTo`', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${host.url}/sum?a=1&b=1&key=slow-noscript`);
    await expect(page.locator('h1').textContent()).resolves.toBe('Working on it…');
    pacer.allow('slow-noscript');
    await page.waitForURL(/\/sums\//, { timeout: 10_000 });
    await expect(page.locator('#answer').textContent()).resolves.toBe('2');
  });
});

describe('underway/client in a host page', () => {
  it('starts, watches (async iterator) and cancels with the SDK; <underway-progress> shows a job live', async () => {
    const page = await newPage();
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
    await page.evaluate((jobId) => {
      const element = document.createElement('underway-progress');
      element.setAttribute('job', jobId);
      document.getElementById('slot')?.append(element);
    }, id);
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
