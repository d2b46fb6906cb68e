import { type FeedJob, JobFeed } from './feed.ts';
import { progressView } from './format.ts';
import { ElementBase } from './progress-element.ts';

/**
 * `<underway-indicator>`: the signed-in person's running and queued jobs, on any page of the
 * site: "2 jobs running" and a short list with each one's percent, linking to its page. Empty
 * (takes no room) when nothing runs. One `/api/events` stream per page, shared.
 *
 * Attributes: `api` (default the page's `data-underway-api` or `/api`), `href` (where the
 * count links to, e.g. the dashboard), `pages` (where job pages live; default the page's
 * `data-underway-pages`).
 */
export class UnderwayIndicator extends ElementBase {
  #off: (() => void) | null = null;
  readonly #tasks = new Map<string, string>();

  connectedCallback(): void {
    const root = document.documentElement.dataset;
    const api = this.getAttribute('api') ?? root.underwayApi ?? '/api';
    this.setAttribute('role', 'status');
    this.#off = JobFeed.of(api).listen((change, feed) => {
      if (change.type === 'status' && !change.known && !this.#tasks.has(change.id)) {
        // The status event does not name the task: read the job once for its name.
        fetch(`${api}/jobs/${encodeURIComponent(change.id)}`, { credentials: 'same-origin' })
          .then((r) => (r.ok ? r.json() : null))
          .then((job: FeedJob | null) => {
            if (job?.task) this.#tasks.set(job.id, job.task);
            this.#draw(feed);
          })
          .catch(() => {});
      }
      if (change.type === 'snapshot') for (const job of change.jobs) if (job.task) this.#tasks.set(job.id, job.task);
      this.#draw(feed);
    });
  }

  disconnectedCallback(): void {
    this.#off?.();
    this.#off = null;
  }

  #draw(feed: JobFeed): void {
    const jobs = [...feed.jobs.values()];
    const pages = this.getAttribute('pages') ?? document.documentElement.dataset.underwayPages ?? '';
    this.replaceChildren();
    this.hidden = jobs.length === 0;
    if (jobs.length === 0) return;
    const running = jobs.filter((j) => j.status === 'running').length;
    const words = running > 0 ? `${running} running` : '';
    const waiting = jobs.length - running > 0 ? `${jobs.length - running} queued` : '';
    const head = document.createElement('a');
    head.href = this.getAttribute('href') ?? `${pages}/`;
    head.textContent = `Jobs: ${[words, waiting].filter(Boolean).join(', ')}`;
    const list = document.createElement('ul');
    list.className = 'uw-sr';
    for (const job of jobs.slice(0, 5)) {
      const item = document.createElement('li');
      const link = document.createElement('a');
      link.href = `${pages}/jobs/${encodeURIComponent(job.id)}`;
      const view = progressView(job);
      link.textContent = `${this.#tasks.get(job.id) ?? 'job'} ${view.percent || view.message || job.status}`;
      item.append(link);
      list.append(item);
    }
    this.append(head, list);
  }
}
