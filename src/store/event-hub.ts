import { toError } from '../core/errors.ts';
import type { JobEvent } from './store.ts';

type Listener = (event: JobEvent) => void;

/**
 * The in-process half of every store's `subscribe`: delivers to this process's listeners at
 * once. A listener that throws is reported and does not stop delivery to the others.
 *
 * An event sent while another is being delivered waits for it (and for those sent before it):
 * a listener may act at once (a worker claims when it hears `queued`), and what that action
 * publishes must not pass the events of changes already made. `together` holds back what a
 * function sends the same way, for stores that publish several changes made in one write.
 */
export class EventHub {
  readonly #listeners = new Set<Listener>();
  #busy = false;
  /** Events sent while busy, in order; null when none wait. */
  #waiting: JobEvent[] | null = null;

  get size(): number {
    return this.#listeners.size;
  }

  add(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  deliver(event: JobEvent): void {
    if (this.#busy) {
      if (this.#waiting) this.#waiting.push(event);
      else this.#waiting = [event];
      return;
    }
    this.#busy = true;
    try {
      this.#toListeners(event);
      this.#drain();
    } finally {
      this.#busy = false;
    }
  }

  /** Runs `fn`; what it delivers reaches listeners after it returns, in the order sent. */
  together<T>(fn: () => T): T {
    if (this.#busy) return fn();
    this.#busy = true;
    try {
      return fn();
    } finally {
      this.#drain();
      this.#busy = false;
    }
  }

  #drain(): void {
    const waiting = this.#waiting;
    if (!waiting) return;
    // Listeners may add to `waiting` while it is walked: those are delivered in this loop too.
    for (let index = 0; index < waiting.length; index++) this.#toListeners(waiting[index] as JobEvent);
    this.#waiting = null;
  }

  #toListeners(event: JobEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        // A broken listener must not starve the others, nor fail the store call that published.
        process.emitWarning(`An underway event listener threw: ${toError(error).message}`);
      }
    }
  }
}
