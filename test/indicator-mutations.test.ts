import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask } from '../src/core/task.ts';
import { createUnderway, type RunningServer, serveHttp, type Underway } from '../src/http/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import { launchChromium, Pages } from './fixtures/dashboard/browser.ts';
import { silent } from './helpers/http.ts';
import { tempDir } from './helpers/temp.ts';

/**
 * `<underway-indicator>` touches the DOM only when what it shows changes (issue 17: it rebuilt
 * its list 6,281 times in 5 s on a job page). The server here sends every progress report
 * (`progressPerSecond: Infinity`), so this is the element's own doing, not the stream's.
 */

const UPDATES = 3_000;

const tasks = [
  defineTask({
    name: 'count.up',
    params: z.object({}),
    maxAttempts: 1,
    async run(_params, ctx) {
      for (let i = 1; i <= UPDATES; i++) {
        ctx.progress(i, UPDATES);
        // Each report in its own turn, as a real task's would come.
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  }),
];

const dir = tempDir('underway-indicator-');
let browser: Browser;
let pages: Pages;
let store: Store;
let underway: Underway;
let server: RunningServer;
let worker: Worker;

beforeAll(async () => {
  store = sqliteStore({ file: dir.file('underway.db') });
  underway = createUnderway({
    mountPath: '',
    store,
    tasks,
    logger: silent,
    rateLimit: false,
    auth: { localAdmin: true },
    sse: { progressPerSecond: Number.POSITIVE_INFINITY },
  });
  worker = createWorker({ store, tasks, logger: silent, pollMs: 50 }).start();
  [browser, server] = await Promise.all([
    launchChromium(),
    serveHttp(underway, { port: 0, host: '127.0.0.1', logger: silent }),
  ]);
  pages = new Pages(browser, 20_000);
});
afterEach(() => pages?.closeAll());
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await underway?.close();
  await worker?.stop({ graceMs: 0 });
  await store?.close();
  dir.cleanup();
});

interface Watch {
  records: number;
  /** What the indicator showed after each batch of changes ('' while hidden), each change once. */
  shown: string[];
  /** Progress events on a second stream of the page, like the one the indicator reads. */
  progress: number;
  ready: boolean;
  /** The list's own aria-live, while it was there. */
  listLive: string | null;
}

const watch = (page: Page) => page.evaluate(() => (window as unknown as { __watch: Watch }).__watch);

describe('<underway-indicator>', () => {
  it('changes the DOM only when what it shows changes, in a polite live region', async () => {
    const page = await pages.open(`${server.url}/`);
    // Hidden once the feed's first snapshot (no jobs) is drawn.
    await page.waitForSelector('underway-indicator[hidden]', { state: 'attached' });
    await page.evaluate(() => {
      const el = document.querySelector('underway-indicator') as HTMLElement;
      const state: Watch = { records: 0, shown: [], progress: 0, ready: false, listLive: null };
      Object.assign(window, { __watch: state });
      new MutationObserver((records) => {
        state.records += records.length;
        const now = el.hidden ? '' : [el.textContent, ...[...el.querySelectorAll('a')].map((a) => a.href)].join('|');
        if (state.shown.at(-1) !== now) state.shown.push(now);
        state.listLive = el.querySelector('ul')?.getAttribute('aria-live') ?? state.listLive;
      }).observe(el, { subtree: true, childList: true, characterData: true, attributes: true });
      const events = new EventSource('/api/events');
      events.addEventListener('snapshot', () => {
        state.ready = true;
      });
      events.addEventListener('progress', () => {
        state.progress++;
      });
    });
    await page.waitForFunction(() => (window as unknown as { __watch: Watch }).__watch.ready);

    await underway.queue.start('count.up', {}, { owner: 'local' });
    await page.waitForFunction((updates) => {
      const { progress, shown } = (window as unknown as { __watch: Watch }).__watch;
      return progress === updates && shown.length > 1 && shown.at(-1) === '';
    }, UPDATES);

    const seen = await watch(page);
    expect(seen.progress).toBe(UPDATES);
    // It showed the job (by name, once read) going through every percent, then nothing.
    // (The percent in the browser's language: "100%" in English, "100 %" in German.)
    expect(seen.shown.some((text) => text.startsWith('Jobs: 1 running') && /count\.up 100\s?%/.test(text))).toBe(true);
    // What it shows can change at most: appearing, queued, the name read, running, 0 to 100 %, gone.
    expect(seen.shown.length).toBeLessThanOrEqual(110);
    // A few records to build it and to empty it; otherwise one in-place text change per change shown.
    expect(seen.records).toBeLessThanOrEqual(seen.shown.length + 10);

    const indicator = page.locator('underway-indicator');
    expect(await indicator.getAttribute('role')).toBe('status');
    expect(await indicator.getAttribute('aria-live')).toBe('polite');
    // The per-job percents are there to be read, not announced at every step.
    expect(seen.listLive).toBe('off');
  });
});
