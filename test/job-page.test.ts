/**
 * The job page in Chromium (issue 17): a job that fails once and then succeeds on a real worker
 * over SQLite, a failed job and a cancelled one. Every attempt with its error (markup shown as
 * text), the durations, the timeline, the result as a definition list, the bar's words for a job
 * that stopped, the log's block per attempt opening live and the progress chart's line per attempt;
 * at 1280 px and 390 px, light and dark, with nothing wider than a phone's screen.
 * Screenshots: test-results/job-page-*.png.
 */
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask } from '../src/core/task.ts';
import { createUnderway, type RunningServer, serveHttp, type Underway } from '../src/http/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import { launchChromium, Pages, screenshot, watchForTrouble } from './fixtures/dashboard/browser.ts';
import { silent } from './helpers/http.ts';
import { tempDir } from './helpers/temp.ts';
import { waitForStatus } from './helpers/wait.ts';

/** Would run script if a page put it into the DOM as HTML. */
const PAYLOAD = `<img src=x onerror="window.__pwned = 'img'"><script>window.__pwned = 'script'</script>`;

/** Opened by the test, one per attempt of `twice`: each attempt prints, then waits at its gate. */
const attemptGates = new Map<number, () => void>();

const tasks = [
  defineTask({
    name: 'flaky.import',
    description: 'Fails its first attempt, then imports.',
    params: z.object({}),
    maxAttempts: 3,
    // A second between the attempts: the timeline's "due to run again" is after the first end.
    backoff: { type: 'fixed', delaySeconds: 1 },
    async run(_params, ctx) {
      ctx.progress(1, 2, `Attempt ${ctx.job.attempt}`);
      ctx.log(`attempt ${ctx.job.attempt}`);
      if (ctx.job.attempt === 1) throw new Error(`first try: ${PAYLOAD}`);
      return { rows: 3, source: 'crm.csv', dryRun: false, note: PAYLOAD };
    },
  }),
  defineTask({
    name: 'crunch',
    description: 'Gets to 42 % and breaks; prints nothing.',
    params: z.object({}),
    maxAttempts: 1,
    async run(_params, ctx) {
      ctx.progress(42, 100, 'Crunching');
      throw new Error(`broke: ${PAYLOAD}`);
    },
  }),
  defineTask({
    name: 'hold',
    description: 'Gets to 30 % and waits to be cancelled.',
    params: z.object({}),
    maxAttempts: 1,
    async run(_params, ctx) {
      ctx.progress(3, 10, 'Holding');
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
      throw ctx.signal.reason;
    },
  }),
  defineTask({
    name: 'twice',
    description: 'Prints, waits for the test, fails its first attempt; the second prints and succeeds.',
    params: z.object({}),
    maxAttempts: 2,
    backoff: { type: 'fixed', delaySeconds: 0 },
    async run(_params, ctx) {
      ctx.log(`printed by attempt ${ctx.job.attempt}`);
      ctx.progress(ctx.job.attempt, 2);
      await new Promise<void>((resolve) => attemptGates.set(ctx.job.attempt, resolve));
      if (ctx.job.attempt === 1) throw new Error('first attempt fails');
      return { ok: true };
    },
  }),
];

let browser: Browser;
let store: Store;
let underway: Underway;
let worker: Worker;
let server: RunningServer;
const dir = tempDir('underway-job-page-');
let pages: Pages;
const ids = { flaky: '', failed: '', cancelled: '' };

beforeAll(async () => {
  process.env.UNDERWAY_SECRET_KEY ??= 'job-page-tests-secret-key-passphrase';
  store = sqliteStore({ file: dir.file('underway.db') });
  underway = createUnderway({
    mountPath: '',
    store,
    tasks,
    logger: silent,
    rateLimit: false,
    auth: { localAdmin: true },
  });
  worker = createWorker({ store: underway.store, tasks, logger: silent, pollMs: 50 }).start();
  [browser, server] = await Promise.all([
    launchChromium(),
    serveHttp(underway, { port: 0, host: '127.0.0.1', logger: silent }),
  ]);
  pages = new Pages(browser, 10_000);
  const start = async (task: string) => (await underway.queue.start(task, {} as never, { owner: 'local' })).job.id;
  ids.flaky = await start('flaky.import');
  ids.failed = await start('crunch');
  // Cancelled once its bar is at 30 % (saved before the status changes, so the page shows it).
  const holding = new Promise<void>((resolve) => {
    const off = store.events.listen((event) => {
      // By task: the event may come before start() has returned the id.
      if (event.type === 'progress' && event.task === 'hold') {
        off();
        resolve();
      }
    });
  });
  ids.cancelled = await start('hold');
  await holding;
  await underway.queue.cancel(ids.cancelled);
  await Promise.all([
    waitForStatus(store, ids.flaky, 'succeeded'),
    waitForStatus(store, ids.failed, 'failed'),
    waitForStatus(store, ids.cancelled, 'cancelled'),
  ]);
}, 90_000);
afterEach(() => {
  // Each test's `twice` job opens its own gates.
  attemptGates.clear();
  return pages?.closeAll();
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await underway?.close();
  await worker?.stop({ graceMs: 0 });
  await store?.close();
  dir.cleanup();
});

/** The job's page, in a context of its own. */
const open = (id: string, options?: BrowserContextOptions) => pages.open(`${server.url}/jobs/${id}`, options);

const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();
const pwned = (page: Page) => page.evaluate(() => (window as { __pwned?: string }).__pwned ?? null);

describe('the job page', () => {
  it('lists both attempts of a job that failed once, with the first error as text, the timeline and durations', async () => {
    const page = await open(ids.flaky);
    const trouble = watchForTrouble(page);
    const attempts = page.locator('#uw-job ol.uw-attempts > li');
    await expect(attempts.count()).resolves.toBe(2);
    expect(await attempts.evaluateAll((items) => items.map((li) => li.getAttribute('data-outcome')))).toEqual([
      'retry',
      'succeeded',
    ]);
    const first = attempts.nth(0);
    await expect(first.locator('h3').textContent()).resolves.toBe('Attempt 1 of 3: Failed, tried again');
    await expect(first.locator('.uw-attempt-error').textContent()).resolves.toBe(`TASK_ERROR: first try: ${PAYLOAD}`);
    await expect(first.locator('.uw-attempt-error img, .uw-attempt-error script').count()).resolves.toBe(0);
    // Each attempt: start, end, how long, the worker.
    for (const item of [first, attempts.nth(1)]) {
      await expect(item.locator('time').count()).resolves.toBe(2);
      await expect(item.locator('[data-ran]').textContent()).resolves.toMatch(/^(less than a second|\d+ s)$/);
      await expect(item.locator('dd').nth(3).textContent()).resolves.toMatch(/\S/);
    }
    await expect(attempts.nth(1).locator('.uw-attempt-error').count()).resolves.toBe(0);
    // queued → started → ended (failed) → due again a second later → started again → succeeded.
    const kinds = await page
      .locator('#uw-job ol.uw-timeline > li')
      .evaluateAll((items) => items.map((li) => li.getAttribute('data-kind')));
    expect(kinds).toEqual(['queued', 'started', 'ended', 'due', 'started', 'ended']);
    const timeline = await texts(page, '#uw-job ol.uw-timeline > li');
    expect(timeline[2]).toMatch(/Attempt 1 failed \(TASK_ERROR\) \(after .+ running\)$/);
    expect(timeline[3]).toMatch(/Due to run again \(a wait of (1 s|less than a second)\)$/);
    expect(timeline[5]).toMatch(/Attempt 2 succeeded/);
    await expect(page.locator('#uw-job [data-queued-for]').textContent()).resolves.toMatch(
      /^(less than a second|\d+ s)$/,
    );
    await expect(page.locator('#uw-job [data-ran-for]').textContent()).resolves.toMatch(/ in 2 attempts$/);
    // The result, readably, and its raw JSON one click away.
    const result = page.locator('#uw-job dl.uw-result');
    expect(await texts(page, '#uw-job dl.uw-result dt')).toEqual(['rows', 'source', 'dryRun', 'note']);
    expect(await texts(page, '#uw-job dl.uw-result dd')).toEqual(['3', 'crm.csv', 'false', PAYLOAD]);
    await expect(result.locator('img, script').count()).resolves.toBe(0);
    const raw = page.locator('#uw-job details.uw-raw');
    await expect(raw.getAttribute('open')).resolves.toBeNull();
    await raw.locator('summary').click();
    await expect(raw.locator('[aria-label="Result"] pre').textContent()).resolves.toContain('"rows": 3');
    await expect(page.locator('#uw-job .uw-percent').textContent()).resolves.toMatch(/^100\s?%$/);
    expect(await pwned(page)).toBeNull();
    expect(trouble).toEqual([]);
  });

  it('keeps a failed job’s bar where it stopped and says so; its empty log says nothing was printed', async () => {
    const page = await open(ids.failed);
    const trouble = watchForTrouble(page);
    const bar = page.locator('#uw-job progress');
    await expect(bar.getAttribute('value')).resolves.toBe('42');
    await expect(bar.isVisible()).resolves.toBe(true);
    await expect(page.locator('#uw-job .uw-percent').textContent()).resolves.toMatch(/^Failed at 42\s?%$/); // in the browser's language
    const attempts = page.locator('#uw-job ol.uw-attempts > li');
    await expect(attempts.count()).resolves.toBe(1);
    await expect(attempts.first().getAttribute('data-outcome')).resolves.toBe('failed');
    await expect(attempts.first().locator('.uw-attempt-error').textContent()).resolves.toBe(
      `TASK_ERROR: broke: ${PAYLOAD}`,
    );
    await expect(page.locator('.uw-log-empty').textContent()).resolves.toBe('Nothing was printed.');
    expect(await pwned(page)).toBeNull();
    expect(trouble).toEqual([]);
  });

  it('keeps a cancelled job’s bar where it stopped and says so', async () => {
    const page = await open(ids.cancelled);
    await expect(page.locator('#uw-job progress').getAttribute('value')).resolves.toBe('30');
    await expect(page.locator('#uw-job .uw-percent').textContent()).resolves.toMatch(/^Cancelled at 30\s?%$/);
    await expect(page.locator('#uw-job ol.uw-attempts > li').getAttribute('data-outcome')).resolves.toBe('cancelled');
  });

  it('changes the bar and the empty log’s words in place when a job shown is cancelled', async () => {
    const { job } = await underway.queue.start('hold', {} as never, { owner: 'local' });
    const page = await open(job.id);
    await page.locator('underway-progress[data-status="running"] .uw-percent:text-matches("30")').waitFor();
    await expect(page.locator('.uw-log-empty').textContent()).resolves.toBe('Nothing printed yet.');
    await underway.queue.cancel(job.id);
    await page.locator('#uw-job[data-status="cancelled"]').waitFor();
    // The status, the log's words and the bar are redrawn by separate listeners of one event.
    await expect.poll(() => page.locator('.uw-log-empty').textContent()).toBe('Nothing was printed.');
    await expect.poll(() => page.locator('#uw-job .uw-percent').textContent()).toMatch(/^Cancelled at 30\s?%$/);
  });

  it('opens a block under its own heading when a live log line of a new attempt arrives, as a reload draws it', async () => {
    const { job } = await underway.queue.start('twice', {} as never, { owner: 'local' });
    // The first attempt's line is stored before its gate exists (log lines go out before progress waits).
    await expect.poll(() => attemptGates.has(1)).toBe(true);
    await expect.poll(async () => (await store.readLogs(job.id)).length).toBe(1);
    const page = await open(job.id);
    const trouble = watchForTrouble(page);
    await expect(page.locator('#uw-log').textContent()).resolves.toContain('printed by attempt 1');
    await expect(page.locator('h3.uw-log-attempt').count()).resolves.toBe(0);
    attemptGates.get(1)?.();
    await page.locator('#uw-log[data-attempt="2"]').waitFor();
    await expect.poll(() => page.locator('#uw-log').textContent()).toContain('printed by attempt 2');
    expect(await texts(page, 'h3.uw-log-attempt')).toEqual(['Attempt 1', 'Attempt 2']);
    expect(await texts(page, 'pre.uw-log')).toEqual([
      expect.stringContaining('printed by attempt 1'),
      expect.stringContaining('printed by attempt 2'),
    ]);
    await expect(page.locator('pre.uw-log').first().textContent()).resolves.not.toContain('attempt 2');
    await expect.poll(() => attemptGates.has(2)).toBe(true);
    attemptGates.get(2)?.();
    await waitForStatus(store, job.id, 'succeeded');
    // A reload draws the same blocks from the server, and the progress chart with a line per attempt.
    await page.reload();
    expect(await texts(page, 'h3.uw-log-attempt')).toEqual(['Attempt 1', 'Attempt 2']);
    await expect(page.locator('#uw-progress-chart polyline[data-attempt="1"]').count()).resolves.toBe(1);
    await expect(page.locator('#uw-progress-chart polyline[data-attempt="2"]').count()).resolves.toBe(1);
    expect(trouble).toEqual([]);
  });

  it('catches up on the lines of an attempt that began while the page had no stream open', async () => {
    const { job } = await underway.queue.start('twice', {} as never, { owner: 'local' });
    await expect.poll(() => attemptGates.has(1)).toBe(true);
    // The page's event stream is held back until the second attempt has printed: its lines reach
    // the page only through the catch-up read that follows the stream's snapshot.
    let letStreamThrough = () => {};
    const streamHeld = new Promise<void>((resolve) => {
      letStreamThrough = resolve;
    });
    const page = await pages.newPage();
    const trouble = watchForTrouble(page);
    await page.route(/\/events(\?|$)/, async (route) => {
      await streamHeld;
      await route.continue();
    });
    await page.goto(`${server.url}/jobs/${job.id}`);
    await expect(page.locator('#uw-log').textContent()).resolves.toContain('printed by attempt 1');
    attemptGates.get(1)?.();
    await expect.poll(() => attemptGates.has(2)).toBe(true);
    await expect.poll(async () => (await store.readLogs(job.id)).length).toBe(2);
    letStreamThrough();
    await page.locator('#uw-log[data-attempt="2"]').waitFor();
    expect(await texts(page, 'h3.uw-log-attempt')).toEqual(['Attempt 1', 'Attempt 2']);
    expect(await texts(page, 'pre.uw-log')).toEqual([
      expect.stringContaining('printed by attempt 1'),
      expect.stringContaining('printed by attempt 2'),
    ]);
    attemptGates.get(2)?.();
    await waitForStatus(store, job.id, 'succeeded');
    expect(trouble).toEqual([]);
  });

  it('gives the attempts in the API, and keeps the first attempt’s error', async () => {
    const response = await fetch(`${server.url}/api/jobs/${ids.flaky}`);
    expect(response.status).toBe(200);
    const job = (await response.json()) as { attempts: unknown[]; workerId: string | null; attempt: number };
    expect(job.attempt).toBe(2);
    expect(job.workerId).toEqual(expect.any(String));
    expect(job.attempts).toEqual([
      {
        attempt: 1,
        workerId: job.workerId,
        startedAt: expect.any(String),
        endedAt: expect.any(String),
        outcome: 'retry',
        runAt: expect.any(String),
        error: { code: 'TASK_ERROR', message: `first try: ${PAYLOAD}` },
      },
    ]);
  });

  it('looks right at 1280 px and 390 px, light and dark, and nothing is wider than the screen', async () => {
    for (const [size, viewport] of [
      ['1280', { width: 1280, height: 900 }],
      ['390', { width: 390, height: 844 }],
    ] as const) {
      // isMobile is fixed for a context's life; the colour scheme is not: each page is loaded once
      // per width and shown in both schemes.
      const page = await open(ids.flaky, { viewport, isMobile: size === '390' });
      for (const [which, id] of Object.entries(ids)) {
        if (id !== ids.flaky) await page.goto(`${server.url}/jobs/${id}`);
        await page.locator('#uw-job ol.uw-timeline').waitFor();
        for (const scheme of ['light', 'dark'] as const) {
          await page.emulateMedia({ colorScheme: scheme });
          const overflow = await page.evaluate(
            () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
          );
          expect(overflow, `${which} at ${size} px, ${scheme}`).toBeLessThanOrEqual(0);
          await screenshot(page, `job-page-${which}-${size}-${scheme}`);
        }
      }
      await pages.closeAll();
    }
  }, 180_000); // 12 screenshots: about 20 s, but a minute and more on a machine loaded 10 times over
});
