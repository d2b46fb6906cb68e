import type { JobEvent } from './store.ts';

/**
 * Keeps every status and log event, and only the newest progress event of each job: what a batch
 * of events carries to other processes (a progress bar needs the latest value, not every step).
 */
export function coalesceProgress(events: readonly JobEvent[]): JobEvent[] {
  const last = new Map<string, number>();
  events.forEach((event, index) => {
    if (event.type === 'progress') last.set(event.jobId, index);
  });
  return events.filter((event, index) => event.type !== 'progress' || last.get(event.jobId) === index);
}
