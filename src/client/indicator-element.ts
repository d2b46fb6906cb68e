import { type FeedJob, type FeedTrouble, JobFeed } from './feed.ts';
import { browserNumbers, progressView } from './format.ts';
import { ElementBase, FAILURES_TO_SAY, UNREACHABLE } from './progress-element.ts';

/**
 * The usual "visually hidden" rules, set on the element itself (CSSOM, which a CSP without
 * 'unsafe-inline' allows): the list must not show as bullets on a page without underway.css.
 */
const VISUALLY_HIDDEN =
  'position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;overflow:hidden;clip-path:inset(50%);white-space:nowrap';

const OFFLINE = `Jobs: ${UNREACHABLE.toLowerCase()}`;

/**
 * `<underway-indicator>`: the signed-in person's running and queued jobs, on any page of the
 * site: "2 jobs running" and a short list with each one's percent, linking to its page. Empty
 * (takes no room) when nothing runs. One `/api/events` stream per page, shared.
 *
 * Attributes: `api` (default the page's `data-underway-api` or `/api`), `href` (where the
 * count links to, e.g. the dashboard), `pages` (where job pages live; default the page's
 * `data-underway-pages`).
 *
 * When the stream is refused (signed out) or the server cannot be reached, it says so in a few
 * words instead ("Jobs: sign in to see them"), until the stream is back.
 */
export class UnderwayIndicator extends ElementBase {
  #off: (() => void) | null = null;
  readonly #tasks = new Map<string, string>();
  /** What is on screen, as drawn last (null before the first draw): an event that changes none of it touches nothing. */
  #shown: string | null = null;
  /** What it says instead of the jobs while the stream is refused or unreachable. */
  #problem: string | null = null;

  connectedCallback(): void {
    const root = document.documentElement.dataset;
    const api = this.getAttribute('api') ?? root.underwayApi ?? '/api';
    this.setAttribute('role', 'status');
    // Implied by role=status, but said outright for assistive technology that goes by the attribute.
    this.setAttribute('aria-live', 'polite');
    this.#off = JobFeed.of(api).listen(
      (change, feed) => {
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
      },
      (trouble) => void this.#troubled(trouble, api),
    );
  }

  async #troubled(trouble: FeedTrouble, api: string): Promise<void> {
    if (trouble.refused) this.#problem = await whyRefused(`${api}/events`);
    else if (trouble.failures >= FAILURES_TO_SAY) this.#problem = OFFLINE;
    else if (trouble.failures === 0) this.#problem = null;
    else return;
    if (this.isConnected) this.#draw(JobFeed.of(api));
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
    if (this.#problem !== null) {
      if (this.#shown === `!${this.#problem}`) return;
      this.#shown = `!${this.#problem}`;
      this.hidden = false;
      const note = document.createElement('span');
      note.className = 'uw-problem';
      note.textContent = this.#problem;
      this.replaceChildren(note);
      return;
    }
    const words = browserNumbers();
    const jobs = [...feed.jobs.values()];
    const pages = this.getAttribute('pages') ?? document.documentElement.dataset.underwayPages ?? '';
    const running = jobs.filter((j) => j.status === 'running').length;
    const active = running > 0 ? `${words.count(running)} running` : '';
    const waiting = jobs.length - running > 0 ? `${words.count(jobs.length - running)} queued` : '';
    const head = {
      href: this.getAttribute('href') ?? `${pages}/`,
      text: `Jobs: ${[active, waiting].filter(Boolean).join(', ')}`,
    };
    const items = jobs.slice(0, 5).map((job) => {
      const view = progressView(job, words);
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
      const ul = document.createElement('ul');
      ul.style.cssText = VISUALLY_HIDDEN;
      list = ul;
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

/** Why the stream was refused, in a few words: EventSource does not tell the status. */
async function whyRefused(url: string): Promise<string> {
  try {
    const response = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } });
    void response.body?.cancel().catch(() => {});
    return response.status === 401 ? 'Jobs: sign in to see them' : `Jobs: not available (HTTP ${response.status})`;
  } catch {
    return OFFLINE;
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
