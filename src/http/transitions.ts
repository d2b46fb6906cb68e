import { isTerminal, type Job } from '../core/job.ts';
import type { Store } from '../store/store.ts';

/**
 * Wraps a store so that `onEnded` hears of every job that reaches a final status *through this
 * wrapper*: a worker's `finish`, a `requestCancel` that ends a queued job at once, a lease reaper
 * that fails a job STALLED. Every such transition happens exactly once, in one process, so what
 * is hung on it (the run-time histogram of metrics) also happens once per job, however many
 * servers share the store. Everything else passes straight through.
 *
 * The caller must hand the wrapped store to its worker (and queue): transitions made through the
 * bare store are not seen, and a process that dies right after a transition never reports it.
 * That is good enough for a histogram of this process's jobs, and not for anything that must
 * not be lost: webhooks no longer hang here (webhooks.ts derives them from the store's ended jobs).
 */
export function observeTransitions(store: Store, onEnded: (job: Job) => void): Store {
  const report = (job: Job | null | undefined) => {
    if (!job || !isTerminal(job.status)) return;
    try {
      onEnded(job);
    } catch (error) {
      // Observers are best-effort: a job's outcome is already written and must not be disturbed.
      process.emitWarning(`underway: a job-ended observer threw: ${String(error)}`);
    }
  };
  const overrides: Partial<Store> = {
    async finish(lease, outcome) {
      const job = await store.finish(lease, outcome);
      report(job);
      return job;
    },
    async requestCancel(id) {
      const before = await store.get(id);
      const after = await store.requestCancel(id);
      // Only a queued job ends here; a running one ends later, through finish.
      if (before?.status === 'queued' && after?.status === 'cancelled') report(after);
      return after;
    },
    async reapExpiredLeases() {
      const jobs = await store.reapExpiredLeases();
      for (const job of jobs) report(job);
      return jobs;
    },
  };
  return new Proxy(store, {
    get(target, key) {
      if (key in overrides) return overrides[key as keyof Store];
      const value = Reflect.get(target, key);
      // Bound, because stores keep their state in #private fields that a proxy `this` cannot reach.
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
