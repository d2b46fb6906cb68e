import { logAttemptTitle, NOTHING_PRINTED, visibleBidi } from '../core/format.ts';
import { JobFeed } from './feed.ts';
import { paintProgress } from './format.ts';
import { isFinished, type LogEntry, type WatchUpdate } from './types.ts';

/**
 * The dashboard's pages, made live. Each page works without this (it reloads itself while a job
 * runs); with it:
 * - list: one `/api/events` stream moves the bars in place; when a job starts or ends, the list
 *   is redrawn from the server's own rendering of this same URL (no second template here);
 * - job: the log grows line by line, and on each change of status the job's part of the page is
 *   redrawn from the server (result, files, buttons, "Cancelling…");
 * - wait: goes on to the next page as soon as the job has ended.
 * Task text only ever enters the page as server-escaped HTML or through textContent.
 */
export function enhanceDashboard(doc: Document = document): void {
  const page = doc.body?.dataset.underwayPage;
  const api = doc.documentElement.dataset.underwayApi ?? '/api';
  for (const button of doc.querySelectorAll<HTMLButtonElement>('button[data-confirm]')) {
    button.form?.addEventListener('submit', (e) => {
      if (!confirm(button.dataset.confirm ?? 'Sure?')) e.preventDefault();
    });
  }
  if (page === 'list') enhanceList(doc, api);
  if (page === 'job') enhanceJob(doc);
  if (page === 'overview') enhanceOverview(doc, api);
  if (page === 'wait') {
    doc.addEventListener('underway:end', () => {
      const to = doc.querySelector<HTMLElement>('#uw-wait')?.dataset.redirect;
      if (to) location.replace(to);
    });
  }
}

/**
 * Redraws one region (`#id`) from a fresh render of this page; at most one fetch at a time.
 * `keep` carries state of the old region into the new one before the swap.
 */
function regionRefresher(doc: Document, id: string, keep?: (from: Element, to: Element) => void): () => void {
  let running = false;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const response = await fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } });
      if (response.ok) {
        // DOMParser never runs scripts; the server escaped every task text in this HTML.
        const fresh = new DOMParser().parseFromString(await response.text(), 'text/html').getElementById(id);
        const current = doc.getElementById(id);
        if (fresh && current) {
          const next = doc.importNode(fresh, true);
          keep?.(current, next);
          current.replaceWith(next);
        }
      }
    } finally {
      running = false;
      if (again) {
        again = false;
        void run();
      }
    }
  };
  return () => void run();
}

/** A redrawn list keeps the rows a person has ticked for a bulk action. */
function keepTicked(from: Element, to: Element): void {
  const boxes = (region: Element) => [...region.querySelectorAll<HTMLInputElement>('input[name="job"]')];
  const ticked = new Set(
    boxes(from)
      .filter((box) => box.checked)
      .map((box) => box.value),
  );
  for (const box of boxes(to)) box.checked = ticked.has(box.value);
}

function enhanceList(doc: Document, api: string): void {
  const refresh = regionRefresher(doc, 'uw-jobs', keepTicked);
  const redrawnFor = new Set<string>();
  let first = true;
  JobFeed.of(api).listen((change, feed) => {
    if (change.type === 'snapshot') {
      // The first snapshot usually says what the page already shows; but jobs may have started
      // or ended between the page's render and the stream's start. A later one follows a reconnect.
      if (!first || !agrees(doc, change.jobs)) refresh();
      first = false;
      return;
    }
    if (change.type === 'progress') {
      const bar = doc.querySelector<HTMLElement>(`[data-progress-of="${CSS.escape(change.id)}"]`);
      const job = feed.jobs.get(change.id);
      if (bar && job) paintProgress(bar, job);
      // A job this page does not show (yet): redraw once, not on every step of a job that
      // another filter or page holds.
      else if (!bar && !redrawnFor.has(change.id)) {
        redrawnFor.add(change.id);
        refresh();
      }
      return;
    }
    refresh();
  });
}

/** Whether the rows show the unfinished jobs of a snapshot, each in its status, and no others as unfinished. */
function agrees(doc: Document, jobs: { id: string; status: string }[]): boolean {
  const shown = new Map<string, string>();
  for (const row of doc.querySelectorAll<HTMLElement>('tr[data-job]'))
    shown.set(row.dataset.job ?? '', row.dataset.status ?? '');
  const live = new Set(jobs.map((j) => j.id));
  for (const [id, status] of shown) if ((status === 'queued' || status === 'running') && !live.has(id)) return false;
  // A job the page does not show may be new, or only filtered out or on another page: one redraw tells.
  return jobs.every((j) => shown.get(j.id) === j.status);
}

/**
 * Overview: the figures redrawn from the server every 10 s while the tab is visible, and 2 s after
 * a job starts or ends (coalesced: a busy queue costs one redraw per 2 s). Open number tables stay open.
 */
function enhanceOverview(doc: Document, api: string): void {
  const refresh = regionRefresher(doc, 'uw-overview', (from, to) => {
    for (const open of from.querySelectorAll('details[open] table[data-chart]')) {
      to.querySelector(`table[data-chart="${CSS.escape(open.getAttribute('data-chart') ?? '')}"]`)
        ?.closest('details')
        ?.setAttribute('open', '');
    }
  });
  setInterval(() => doc.visibilityState !== 'hidden' && refresh(), 10_000);
  let soon: ReturnType<typeof setTimeout> | undefined;
  JobFeed.of(api).listen((change) => {
    if (change.type !== 'status' || soon) return;
    soon = setTimeout(() => {
      soon = undefined;
      refresh();
    }, 2_000);
  });
}

/** A log line as the page draws it: from a stream's `log` event or the JSON `/logs` catch-up. */
type LogLine = Pick<LogEntry, 'seq' | 'stream' | 'line' | 'at' | 'attempt'>;

function enhanceJob(doc: Document): void {
  let log = doc.getElementById('uw-log');
  const refresh = regionRefresher(doc, 'uw-job');
  let next = Number(log?.dataset.next ?? 0);
  const heading = (attempt: number | null) => {
    const h = doc.createElement('h3');
    h.className = 'uw-log-attempt';
    h.textContent = logAttemptTitle(attempt);
    return h;
  };
  /** A line of a new attempt opens its own block under its heading (as the server draws them). */
  const openAttempt = (current: HTMLElement, attempt: number) => {
    const before = current.dataset.attempt;
    if (!current.textContent) {
      // Nothing shown of the attempt before (a page opened before this one started): relabel.
      current.dataset.attempt = String(attempt);
      const h = current.previousElementSibling;
      if (h?.classList.contains('uw-log-attempt')) h.textContent = logAttemptTitle(attempt);
      return current;
    }
    if (!current.previousElementSibling?.classList.contains('uw-log-attempt')) {
      current.before(heading(before ? Number(before) : null));
    }
    const pre = doc.createElement('pre');
    pre.className = 'uw-log';
    pre.tabIndex = 0;
    pre.dataset.attempt = String(attempt);
    if (current.dataset.logs) pre.dataset.logs = current.dataset.logs;
    current.removeAttribute('id');
    pre.id = 'uw-log';
    current.after(heading(attempt), pre);
    return pre;
  };
  const append = (entries: LogLine[]) => {
    for (const entry of entries) {
      if (!log || entry.seq <= next) continue;
      next = entry.seq;
      if (typeof entry.attempt === 'number' && String(entry.attempt) !== log.dataset.attempt) {
        log = openAttempt(log, entry.attempt);
      }
      const prefix = entry.stream === 'stdout' ? '' : `[${entry.stream}] `;
      log.append(doc.createTextNode(`${entry.at.slice(11, 19)} ${prefix}${visibleBidi(entry.line)}\n`));
      doc.querySelector('.uw-log-empty')?.remove();
    }
    if (log) log.scrollTop = log.scrollHeight;
  };
  /** Lines printed while no stream was open (between page load and connect, or a redraw). */
  const catchUp = async () => {
    const url = log?.dataset.logs;
    if (!url) return;
    const response = await fetch(`${url}${url.includes('?') ? '&' : '?'}since=${next}`, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
    });
    if (!response.ok) return;
    // With their attempt, so that a line of an attempt that began while no stream was open opens its block.
    append(((await response.json()) as { lines: LogLine[] }).lines);
  };
  /**
   * Whether the page shows another state than the job's. A redraw brings a new bar, whose stream
   * starts with the state the page now shows: redrawing only on a difference ends there.
   */
  const changed = (job: WatchUpdate['job']) => {
    const region = doc.getElementById('uw-job');
    return (
      !!region &&
      (region.dataset.status !== job.status ||
        (region.dataset.cancelling === 'true') !== (job.cancelRequested && !isFinished(job.status)))
    );
  };
  doc.addEventListener('underway:update', (e) => {
    const update = (e as CustomEvent<WatchUpdate>).detail;
    // The log is outside the redrawn region: its note follows the job's end here, whichever
    // update brings it (a redraw for a cancel request may already show the end).
    const empty = doc.querySelector('.uw-log-empty');
    if (empty && isFinished(update.job.status)) empty.textContent = NOTHING_PRINTED;
    if (update.type === 'log') append([update.log]);
    else if (update.type === 'snapshot') void catchUp();
    else if (update.type === 'status' && changed(update.job)) refresh();
  });
}
