import { isTerminal } from '../core/job.ts';
import type { JobEvent } from '../store/store.ts';

/** Jobs remembered as ended, at most; older ones are forgotten first. */
const ENDED_REMEMBERED = 10_000;

/**
 * Drops events that arrive after the job's final status. A finished job never changes, so such an
 * event is stale: on PostgreSQL a job's events travel two ways (the sending process's batched
 * NOTIFYs, and the NOTIFY of the transaction that ended it) and a claim's `running` or a last
 * progress sent by the first can arrive after the second; on any store, a worker that lost its
 * lease may still send progress after another process ended the job. Log lines always pass.
 */
export class LateEvents {
  readonly #ended = new Set<string>();
  /**
   * The same ids in the order they ended, as a ring: once full, the slot written next holds the
   * oldest. Forgetting the oldest by reading a Set from its start cost 5-8 µs a job in a drain:
   * the walk passes over every entry deleted since the Set last compacted itself.
   */
  readonly #order: string[] = [];
  #next = 0;

  /** True if the event is stale; remembers jobs whose final status it sees. */
  stale(event: JobEvent): boolean {
    if (event.type === 'log') return false;
    if (this.#ended.has(event.jobId)) return true;
    if (event.type === 'status' && isTerminal(event.status)) this.#remember(event.jobId);
    return false;
  }

  #remember(jobId: string): void {
    this.#ended.add(jobId);
    if (this.#order.length < ENDED_REMEMBERED) {
      this.#order.push(jobId);
      return;
    }
    this.#ended.delete(this.#order[this.#next] as string);
    this.#order[this.#next] = jobId;
    this.#next = (this.#next + 1) % ENDED_REMEMBERED;
  }
}
