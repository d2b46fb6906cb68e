import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, expect, inject, it } from 'vitest';
import { launchChromium, watchForTrouble } from '../fixtures/dashboard/browser.ts';
import { copyApp, nodeTitle, type RunningApp, rootsWith, startApp, stopAll } from './harness.ts';
import { API, alice, describeHost } from './host-suite.ts';

const setup = inject('underwayConsumer');
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  await stopAll();
});

/** In Chromium: a job's page shows the running job, then, live, its finished state. */
function inChromium(app: () => RunningApp): void {
  it('shows a job in Chromium: <underway-progress> follows it live to its finished state', async () => {
    browser ??= await launchChromium();
    const context = await browser.newContext();
    try {
      context.setDefaultTimeout(20_000);
      const url = app().url;
      await context.addCookies([{ name: 'session', value: 'alice', url }]);
      const hold = join(app().dataDir, `hold-${randomUUID()}`);
      const job = await alice(app()).startJob(API, 'count', { n: 4, hold });
      const page = await context.newPage();
      const trouble = watchForTrouble(page);
      // A CSP refusal or a failed fetch shows as a console error; failed loads are listed by URL below.
      page.on('console', (message) => {
        if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
          trouble.push(`console: ${message.text()}`);
        }
      });
      // The host has no favicon: that 404 is Express's, not underway's.
      page.on('response', (response) => {
        if (response.status() >= 400 && !response.url().endsWith('/favicon.ico')) {
          trouble.push(`${response.status()} ${response.url()}`);
        }
      });
      await page.goto(`${url}${job.urls.page}`);
      await page.waitForSelector('underway-progress[data-status="running"]');
      expect(await page.evaluate(() => customElements.get('underway-progress') !== undefined)).toBe(true);
      writeFileSync(hold, '');
      await page.waitForSelector('underway-progress[data-status="succeeded"]');
      await page.waitForSelector('#uw-job[data-status="succeeded"]');
      expect(await page.locator('underway-progress progress').getAttribute('value')).toBe('100');
      await expect(page.locator('#uw-job [aria-label="Result"] pre').textContent()).resolves.toContain('"counted": 4');
      expect(trouble).toEqual([]);
    } finally {
      await context.close();
    }
  });
}

// Express 5 with its body parsers and session before underway; the worker is sandboxed.
for (const [index, root] of rootsWith(setup, 'express').entries()) {
  describeHost(`Express 5 app, ${nodeTitle(root)}`, {
    host: 'express',
    root,
    worker: 'sandbox',
    start: (root) => {
      copyApp(root, 'express');
      return startApp(root, 'express');
    },
    // One browser run is enough: the page and bundle are the same on every Node.
    more: index === 0 ? (app) => inChromium(app) : undefined,
  });
}
