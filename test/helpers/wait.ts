import type { Job, JobStatus } from '../../src/core/job.ts';
import type { JobEvent, Store } from '../../src/store/store.ts';

/**
 * Resolves with the job once it reaches one of `statuses`, woken by the store's events (it
 * subscribes before it looks, so no change slips between the look and the listening).
 */
export async function waitForStatus(
  store: Store,
  id: string,
  statuses: JobStatus | JobStatus[],
  timeoutMs = 20_000,
): Promise<Job> {
  const wanted = new Set(Array.isArray(statuses) ? statuses : [statuses]);
  return new Promise<Job>((resolve, reject) => {
    let settled = false;
    const check = async () => {
      const job = await store.get(id);
      if (!settled && job && wanted.has(job.status)) finish(() => resolve(job));
    };
    const off = store.events.listen((event) => {
      if (event.jobId === id && event.type === 'status') void check();
    });
    const timer = setTimeout(
      () => finish(() => reject(new Error(`job ${id} did not reach ${[...wanted]} in ${timeoutMs} ms`))),
      timeoutMs,
    );
    const finish = (fn: () => void) => {
      settled = true;
      clearTimeout(timer);
      off();
      fn();
    };
    void check();
  });
}

/** Collects events until `until` says stop; resolves with them. */
export function collectEvents(
  store: Store,
  until: (event: JobEvent, all: JobEvent[]) => boolean,
  timeoutMs = 20_000,
): Promise<JobEvent[]> {
  return new Promise((resolve, reject) => {
    const all: JobEvent[] = [];
    const timer = setTimeout(() => {
      off();
      reject(new Error(`the expected event did not come in ${timeoutMs} ms (${all.length} events seen)`));
    }, timeoutMs);
    const off = store.events.listen((event) => {
      all.push(event);
      if (until(event, all)) {
        clearTimeout(timer);
        off();
        resolve(all);
      }
    });
  });
}

/**
 * Resolves with what `look` finds (anything but null or undefined), looking now and again after
 * each event of the store, which the stores send once the change is written: no timer polls.
 */
export function eventually<T>(
  store: Store,
  look: () => Promise<T | null | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let looking = false;
    let again = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      off();
      fn();
    };
    const check = async () => {
      if (looking) {
        again = true;
        return;
      }
      looking = true;
      try {
        do {
          again = false;
          const found = await look();
          if (found !== null && found !== undefined) finish(() => resolve(found));
        } while (again && !settled);
      } catch (error) {
        finish(() => reject(error));
      } finally {
        looking = false;
      }
    };
    const off = store.events.listen(() => void check());
    const timer = setTimeout(() => finish(() => reject(new Error(`${what}: not seen in ${timeoutMs} ms`))), timeoutMs);
    void check();
  });
}
