import { toError } from '../core/errors.ts';
import type { JobEvent } from './store.ts';

type Listener = (event: JobEvent) => void;

/**
 * The in-process half of every store's `subscribe`: delivers to this process's listeners at
 * once. A listener that throws is reported and does not stop delivery to the others.
 */
export class EventHub {
  readonly #listeners = new Set<Listener>();

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
