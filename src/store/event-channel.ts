import type { JobEvent } from './store.ts';

/**
 * How job events travel between the processes that share a store: the second seam of a backend,
 * beside its storage (the Store). SQLite tails a table that every process appends batches to;
 * PostgreSQL uses LISTEN/NOTIFY. Both deliver in this process at once, coalesce a job's progress
 * on the way out (coalesce.ts), tag what they send with their origin so that they skip their own,
 * and catch up after a gap (a missed read, a lost connection), so that a listener never has to
 * poll. A store's own transitions send their status events here; the Jobs layer sends progress
 * and log lines.
 */
export interface EventChannel {
  /** Sends an event to every listener: in this process at once, in others as fast as the backend can. */
  send(event: JobEvent): void;
  /** Listens to the events of all jobs, from every process sharing the store; returns the unsubscribe. */
  listen(listener: (event: JobEvent) => void): () => void;
}
