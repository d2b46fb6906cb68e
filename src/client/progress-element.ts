import { paintProgress } from './format.ts';
import { createClient } from './sdk.ts';
import type { WatchUpdate } from './types.ts';

/** HTMLElement, or a stand-in where there is no DOM (importing `underway/client` in node must not throw). */
export const ElementBase = (typeof HTMLElement === 'undefined' ? class {} : HTMLElement) as typeof HTMLElement;

/**
 * `<underway-progress job="ID">`: a live progress bar for one job, with the percent, "step 3 of
 * 40", the ETA and the message; an indeterminate bar when the total is unknown. Works in any page,
 * no framework needed. What the server rendered inside it is kept and updated in place.
 *
 * Attributes: `job` (the id), `events` (an events URL, e.g. with a share token), `api` (the API's
 * path, default the page's `data-underway-api` or `/api`).
 *
 * Events (bubbling): `underway:update` with the WatchUpdate as `detail` after each change,
 * `underway:end` once the job has ended, with the final job.
 *
 * @example
 * <underway-progress job="Zx3…"></underway-progress>
 * <script type="module" src="/assets/underway-client.js"></script>
 */
export class UnderwayProgress extends ElementBase {
  #stop: (() => void) | null = null;

  static get observedAttributes(): string[] {
    return ['job'];
  }

  connectedCallback(): void {
    this.#begin();
  }

  disconnectedCallback(): void {
    this.#stop?.();
    this.#stop = null;
  }

  attributeChangedCallback(): void {
    if (this.isConnected) this.#begin();
  }

  #begin(): void {
    this.#stop?.();
    const id = this.getAttribute('job');
    if (!id) return;
    if (!this.classList.contains('uw-progress')) this.classList.add('uw-progress');
    const client = createClient({ basePath: this.getAttribute('api') ?? undefined });
    const updates = client.watch(id, { eventsUrl: this.getAttribute('events') ?? undefined });
    this.#stop = () => void updates.return?.();
    void this.#follow(updates);
  }

  async #follow(updates: AsyncIterableIterator<WatchUpdate>): Promise<void> {
    let last: WatchUpdate | null = null;
    try {
      for await (const update of updates) {
        last = update;
        if (update.type !== 'log') paintProgress(this, update.job);
        this.dispatchEvent(new CustomEvent('underway:update', { detail: update, bubbles: true }));
      }
    } catch (error) {
      this.dataset.error = String((error as Error).message);
      return;
    }
    const job = last?.job;
    if (
      job &&
      this.isConnected &&
      (job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled')
    ) {
      this.dispatchEvent(new CustomEvent('underway:end', { detail: job, bubbles: true }));
    }
  }
}
