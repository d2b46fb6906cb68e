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
  /** What is on screen, as drawn last (null before the first draw): an event that changes none of it touches nothing. */
  #shown: string | null = null;

  connectedCallback(): void {
    const root = document.documentElement.dataset;
    const api = this.getAttribute('api') ?? root.underwayApi ?? '/api';
    this.setAttribute('role', 'status');
    // Implied by role=status, but said outright for assistive technology that goes by the attribute.
    this.setAttribute('aria-live', 'polite');
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

  /**
   * Draws the count and the list, changing only the text and links that differ from what is
   * shown: each DOM change is work for the page and, in a live region, words for a screen reader.
   */
  #draw(feed: JobFeed): void {
    const jobs = [...feed.jobs.values()];
    const pages = this.getAttribute('pages') ?? document.documentElement.dataset.underwayPages ?? '';
    const running = jobs.filter((j) => j.status === 'running').length;
    const words = running > 0 ? `${running} running` : '';
    const waiting = jobs.length - running > 0 ? `${jobs.length - running} queued` : '';
    const head = {
      href: this.getAttribute('href') ?? `${pages}/`,
      text: `Jobs: ${[words, waiting].filter(Boolean).join(', ')}`,
    };
    const items = jobs.slice(0, 5).map((job) => {
      const view = progressView(job);
      return {
        href: `${pages}/jobs/${encodeURIComponent(job.id)}`,
        text: `${this.#tasks.get(job.id) ?? 'job'} ${view.percent || view.message || job.status}`,
      };
    });
    const shown = jobs.length === 0 ? '' : JSON.stringify([head, items]);
    if (shown === this.#shown) return;
    this.#shown = shown;
    if (jobs.length === 0) {
      this.hidden = true;
      this.replaceChildren();
      return;
    }
    if (this.hidden) this.hidden = false;
    let [link, list] = [this.children[0], this.children[1]];
    if (!(link instanceof HTMLAnchorElement) || !(list instanceof HTMLUListElement)) {
      link = document.createElement('a');
      list = document.createElement('ul');
      list.className = 'uw-sr';
      // Read on demand: a percent ticking over in a polite region would be announced at every step.
      list.setAttribute('aria-live', 'off');
      this.replaceChildren(link, list);
    }
    paintLink(link as HTMLAnchorElement, head);
    while (list.children.length > items.length) list.lastElementChild?.remove();
    while (list.children.length < items.length) {
      const item = document.createElement('li');
      item.append(document.createElement('a'));
      list.append(item);
    }
    for (const [i, want] of items.entries()) paintLink(list.children[i]?.firstElementChild as HTMLAnchorElement, want);
  }
}

/** Sets a link's address and words where they differ, the words in place in their text node. */
function paintLink(link: HTMLAnchorElement, want: { href: string; text: string }): void {
  if (link.getAttribute('href') !== want.href) link.setAttribute('href', want.href);
  const text = link.firstChild;
  if (text instanceof Text && text === link.lastChild) {
    if (text.data !== want.text) text.data = want.text;
  } else link.textContent = want.text;
}
