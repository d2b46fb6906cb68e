import { paintProgress } from './format.ts';
import { createClient, type UnderwayClient, UnderwayError } from './sdk.ts';
import { isFinished, type JobSnapshot, type WatchUpdate } from './types.ts';

/** HTMLElement, or a stand-in where there is no DOM (importing `underway/client` in node must not throw). */
export const ElementBase = (typeof HTMLElement === 'undefined' ? class {} : HTMLElement) as typeof HTMLElement;

/**
 * Failed connection attempts in a row before the element says it cannot reach the server: one
 * drop is routine (a deploy, a proxy closing an idle stream), and Chromium retries every 3 s, so
 * this speaks after about 6 s of silence.
 */
export const FAILURES_TO_SAY = 3;

/** What a refused stream or request says when the server gave no words of its own. */
export const UNREACHABLE = 'Cannot reach the server.';

/**
 * `<underway-progress job="ID">`: a live progress bar for one job, with the percent, "step 3 of
 * 40", the ETA and the message; an indeterminate bar when the total is unknown; a Cancel button
 * while the job is queued or running; a short sentence (role=alert) when the job cannot be shown
 * (unknown, not the viewer's, signed out) or the server cannot be reached. Works in any page, no
 * framework or stylesheet needed. What the server rendered inside it is kept and updated in place.
 *
 * Attributes: `job` (the id), `events` (an events URL, e.g. with a share token: then read-only,
 * no Cancel), `api` (the API's path, default the page's `data-underway-api` or `/api`),
 * `no-cancel` (no Cancel button).
 *
 * Events (bubbling): `underway:update` with the WatchUpdate as `detail` after each change,
 * `underway:end` once the job has ended, with the final job.
 *
 * @example
 * <underway-progress job="Zx3…"></underway-progress>
 * <script type="module" src="/assets/underway-client.js"></script>
 */
export class UnderwayProgress extends ElementBase {
  #updates: AsyncIterableIterator<WatchUpdate> | null = null;
  #client: UnderwayClient | null = null;
  #job: JobSnapshot | null = null;
  /** Cancel was pressed: "Cancelling…" from then until the job has ended (or the request failed). */
  #cancelling = false;
  #connected = false;

  static get observedAttributes(): string[] {
    return ['job', 'no-cancel'];
  }

  connectedCallback(): void {
    this.#connected = true;
    this.#begin();
  }

  disconnectedCallback(): void {
    this.#connected = false;
    void this.#updates?.return?.();
    this.#updates = null;
  }

  attributeChangedCallback(name: string, before: string | null, now: string | null): void {
    // An upgraded element hears its parsed attributes before connectedCallback, which starts it.
    if (!this.#connected || before === now) return;
    if (name === 'job') this.#begin();
    else this.#paintCancel();
  }

  #begin(): void {
    void this.#updates?.return?.();
    this.#updates = null;
    this.#job = null;
    this.#cancelling = false;
    this.#paintCancel();
    this.#say('');
    delete this.dataset.error;
    const id = this.getAttribute('job');
    if (!id) return;
    if (!this.classList.contains('uw-progress')) this.classList.add('uw-progress');
    this.#client = createClient({ basePath: this.getAttribute('api') ?? undefined });
    const updates = this.#client.watch(id, {
      eventsUrl: this.getAttribute('events') ?? undefined,
      onConnection: (failures) => {
        if (failures >= FAILURES_TO_SAY) this.#say(`${UNREACHABLE} Trying again…`, 'connection');
        else if (failures === 0) this.#say('', 'connection');
      },
    });
    this.#updates = updates;
    void this.#follow(updates, id);
  }

  async #follow(updates: AsyncIterableIterator<WatchUpdate>, id: string): Promise<void> {
    let last: WatchUpdate | null = null;
    try {
      for await (const update of updates) {
        last = update;
        if (update.type !== 'log') {
          this.#job = update.job;
          paintProgress(this, update.job);
          this.#paintCancel();
        }
        this.dispatchEvent(new CustomEvent('underway:update', { detail: update, bubbles: true }));
      }
    } catch (error) {
      if (this.#updates !== updates) return;
      this.dataset.error = error instanceof Error ? error.message : String(error);
      const why = await this.#whyRefused(id);
      if (this.#updates === updates) this.#say(why);
      return;
    }
    const job = last?.job;
    if (job && this.#updates === updates && isFinished(job.status)) {
      this.dispatchEvent(new CustomEvent('underway:end', { detail: job, bubbles: true }));
    }
  }

  /**
   * Why the stream was refused, in the server's words ("There is no job …", "Sign in …"), asked
   * of the job's own URL: EventSource does not tell the status it was refused with.
   */
  async #whyRefused(id: string): Promise<string> {
    const events = this.getAttribute('events');
    try {
      if (!events) {
        await this.#client?.get(id);
      } else {
        // The job's URL is its events URL without `/events`, with the same share token.
        const response = await fetch(events.replace(/\/events(?=[?#]|$)/, ''), {
          credentials: 'same-origin',
          headers: { accept: 'application/json' },
        });
        if (!response.ok) {
          const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
          return body?.error?.message ?? `Cannot show this job (HTTP ${response.status}).`;
        }
      }
      return 'Cannot follow this job right now.';
    } catch (error) {
      return error instanceof UnderwayError ? error.message : UNREACHABLE;
    }
  }

  /**
   * The Cancel button, a real `<button>` named after the task: while the job is queued or running,
   * unless `no-cancel` or a share link's `events` (read-only). Changed only where it differs,
   * since this runs at every progress event.
   */
  #paintCancel(): void {
    const job = this.#job;
    const readOnly = this.hasAttribute('no-cancel') || /[?&]share=/.test(this.getAttribute('events') ?? '');
    let button = this.querySelector<HTMLButtonElement>(':scope > button.uw-cancel');
    if (!job || isFinished(job.status) || readOnly) {
      button?.remove();
      return;
    }
    if (!button) {
      button = document.createElement('button');
      button.type = 'button';
      button.className = 'uw-cancel';
      button.addEventListener('click', () => void this.#cancel());
      this.insertBefore(button, this.querySelector(':scope > .uw-problem'));
    }
    const pending = this.#cancelling || job.cancelRequested;
    const want = {
      text: pending ? 'Cancelling…' : 'Cancel',
      label: pending ? `Cancelling ${job.task}…` : `Cancel ${job.task}`,
      // aria-disabled, not disabled: a disabled button drops the keyboard focus to the page.
      disabled: String(pending),
    };
    if (button.textContent !== want.text) button.textContent = want.text;
    if (button.getAttribute('aria-label') !== want.label) button.setAttribute('aria-label', want.label);
    if (button.getAttribute('aria-disabled') !== want.disabled) button.setAttribute('aria-disabled', want.disabled);
  }

  async #cancel(): Promise<void> {
    const job = this.#job;
    if (!job || !this.#client || this.#cancelling || job.cancelRequested) return;
    this.#cancelling = true;
    this.#paintCancel();
    this.#say('');
    try {
      // "Cancelling…" stays until the stream's status event says the job has ended.
      await this.#client.cancel(job.id);
    } catch (error) {
      this.#cancelling = false;
      this.#paintCancel();
      this.#say(error instanceof UnderwayError ? error.message : UNREACHABLE);
    }
  }

  /**
   * A short sentence at the end of the element, read out at once (role=alert); '' takes it away.
   * `about` keeps a "cannot reach" line from taking away any other and the other way round.
   */
  #say(text: string, about: 'job' | 'connection' = 'job'): void {
    let line = this.querySelector<HTMLElement>(':scope > .uw-problem');
    if (!text) {
      if (line && (about === 'job' || line.dataset.about === about)) line.remove();
      return;
    }
    if (line && about === 'connection' && line.dataset.about !== about) return;
    if (!line) {
      line = document.createElement('p');
      line.className = 'uw-problem';
      line.setAttribute('role', 'alert');
      this.append(line);
    }
    line.dataset.about = about;
    if (line.textContent !== text) line.textContent = text;
  }
}
