/**
 * Every page and component, in every state a person meets them in, checked by axe-core in
 * Chromium at 1280 px and 390 px, light and dark: no serious or critical violation. A
 * screenshot of each is kept in test-results/a11y-*.png for people to look at.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { launchChromium, Pages, screenshot } from './fixtures/dashboard/browser.ts';
import { serveHostPage } from './fixtures/dashboard/host-page.ts';
import { type DashboardEnv, pacer, startDashboard } from './fixtures/dashboard/setup.ts';
import { waitForStatus } from './helpers/wait.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** What a page must show before it is checked: its live parts have painted. */
interface Screen {
  name: string;
  path: () => string;
  ready: () => string;
}

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

const VIEWS = [
  { width: 1280, height: 800, colorScheme: 'light' },
  { width: 1280, height: 800, colorScheme: 'dark' },
  { width: 390, height: 844, colorScheme: 'light' },
  { width: 390, height: 844, colorScheme: 'dark' },
] as const;

// Each check drives a browser against a real server; on a busy machine a page takes seconds.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 60_000 });

let browser: Browser;
let pages: Pages;
let env: DashboardEnv;
let hosts: { url: string; close(): Promise<void> }[] = [];
const jobs: Record<string, string> = {};

beforeAll(async () => {
  [browser, env] = await Promise.all([launchChromium(), startDashboard()]);
  // bypassCSP: axe is injected as an inline script, which the pages' own policy refuses.
  pages = new Pages(browser, 30_000, { bypassCSP: true });
  const start = async (task: string, params: unknown) =>
    (await env.underway.queue.start(task, params as never, { owner: 'local' })).job.id;
  jobs.succeeded = await start('report.build', { title: 'Q3 numbers', sections: 2, key: 'a11y-done' });
  pacer.allow('a11y-done');
  pacer.allow('a11y-done');
  await waitForStatus(env.store, jobs.succeeded, 'succeeded');
  jobs.failed = await start('hostile', { key: 'a11y-failed', fail: true });
  pacer.allow('a11y-failed');
  await waitForStatus(env.store, jobs.failed, 'failed');
  jobs.running = await start('report.build', { title: 'Running report', sections: 4, key: 'a11y-running' });
  pacer.allow('a11y-running');
  await waitForStatus(env.store, jobs.running, 'running');
  jobs.cancelled = await start('files.scan', { key: 'a11y-cancelled' });
  await waitForStatus(env.store, jobs.cancelled, 'running');
  await env.underway.queue.cancel(jobs.cancelled);
  await waitForStatus(env.store, jobs.cancelled, 'cancelled');
  const components = `<main><h1>Host app</h1><underway-indicator></underway-indicator>
<h2>Running</h2><underway-progress job="${jobs.running}"></underway-progress>
<h2>Done</h2><underway-progress job="${jobs.succeeded}"></underway-progress>
<h2>Unknown</h2><underway-progress job="no-such-job"></underway-progress></main>`;
  // A page that declares no colour scheme stays light on a dark system; one that declares both
  // goes dark with it. The components must be readable on each (light-dark() in underway.css).
  hosts = await Promise.all([
    serveHostPage(env.underway, components),
    // Its background said outright, as a dark page's is: axe takes an unset one for white.
    serveHostPage(
      env.underway,
      components,
      '<meta name="color-scheme" content="light dark"><style>html{background:Canvas;color:CanvasText}</style>',
    ),
  ]);
});
afterEach(() => pages?.closeAll());
afterAll(async () => {
  // The running job ends, so the worker stops at once.
  pacer.allow('a11y-running', 10);
  await Promise.all(hosts.map((host) => host.close()));
  await browser?.close();
  await env?.close();
});

const SCREENS: Screen[] = [
  { name: 'list', path: () => '/', ready: () => `tr[data-job="${jobs.running}"]` },
  {
    name: 'list-searched',
    path: () => '/?q=q3&bulk=cancel&done=2&skipped=1',
    ready: () => `tr[data-job="${jobs.succeeded}"]`,
  },
  { name: 'job-running', path: () => `/jobs/${jobs.running}`, ready: () => 'underway-progress[data-status="running"]' },
  { name: 'job-succeeded', path: () => `/jobs/${jobs.succeeded}`, ready: () => '#uw-job[data-status="succeeded"]' },
  { name: 'job-failed', path: () => `/jobs/${jobs.failed}`, ready: () => '#uw-job[data-status="failed"]' },
  { name: 'job-cancelled', path: () => `/jobs/${jobs.cancelled}`, ready: () => '#uw-job[data-status="cancelled"]' },
  { name: 'not-found', path: () => '/jobs/no-such-job', ready: () => 'main' },
  { name: 'overview', path: () => '/overview', ready: () => '#uw-overview #uw-chart-hour' },
];

/** axe-core's serious and critical violations on the page as it stands. */
async function violations(page: Page): Promise<Violation[]> {
  const found = await page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: { run(context: Document, options: { resultTypes: string[] }): Promise<{ violations: unknown[] }> };
      }
    ).axe;
    // Only violations are wanted: axe then skips collecting every passing node, and finds the same violations.
    return (await axe.run(document, { resultTypes: ['violations'] })).violations as {
      id: string;
      impact: string | null;
      help: string;
      nodes: { target: string[] }[];
    }[];
  });
  return found
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

async function check(url: string, ready: () => string, name: string): Promise<Record<string, Violation[]>> {
  const found: Record<string, Violation[]> = {};
  // One page per screen, resized and switched between light and dark in turn: the pages' looks
  // follow width and scheme through CSS alone, so this checks what four fresh loads would, without
  // loading the page and axe four times.
  const [first] = VIEWS;
  const page = await pages.open(url, { viewport: { width: first.width, height: first.height } });
  await page.waitForSelector(ready());
  await page.addScriptTag({ content: AXE });
  for (const view of VIEWS) {
    await page.setViewportSize({ width: view.width, height: view.height });
    await page.emulateMedia({ colorScheme: view.colorScheme });
    await page.waitForSelector(ready());
    await screenshot(page, `a11y-${name}-${view.width}-${view.colorScheme}`);
    const list = await violations(page);
    if (list.length > 0) found[`${view.width} ${view.colorScheme}`] = list;
  }
  await pages.closeAll();
  return found;
}

describe('accessibility (axe-core in Chromium)', () => {
  for (const screen of SCREENS) {
    it(`the ${screen.name} page has no serious or critical violation, wide and narrow, light and dark`, async () => {
      expect(await check(`${env.url}${screen.path()}`, screen.ready, screen.name)).toEqual({});
    });
  }

  it('the components on a host page have none either: a live bar, an ended one, an unknown job, the indicator', async () => {
    for (const [i, name] of ['components-light-page', 'components-light-dark-page'].entries()) {
      const ready = () => 'underway-progress[job="no-such-job"] .uw-problem';
      expect(await check(`${hosts[i]?.url}/host`, ready, name), name).toEqual({});
    }
  });
});
