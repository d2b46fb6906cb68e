import type { JobEvent } from '../../src/store/store.ts';

/** A progress event as a worker publishes it: `current` of `total`, no caption, no estimate yet. */
export function progressEvent(
  job: { jobId: string; task: string; owner: string | null },
  current: number,
  total: number | null,
): JobEvent {
  return {
    type: 'progress',
    ...job,
    progress: {
      current,
      total,
      percent: total ? (current / total) * 100 : null,
      message: null,
      etaSeconds: null,
      updatedAt: new Date().toISOString(),
    },
  };
}
