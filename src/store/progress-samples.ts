import type { ProgressSample } from '../core/job.ts';

/** [at ms, current, total, attempt] tuples as samples; anything else in the array is skipped. */
export function toSamples(value: unknown): ProgressSample[] {
  if (!Array.isArray(value)) return [];
  const samples: ProgressSample[] = [];
  for (const item of value) {
    if (!Array.isArray(item)) continue;
    const [at, current, total, attempt] = item as unknown[];
    if (typeof at !== 'number' || typeof current !== 'number' || typeof attempt !== 'number') continue;
    samples.push({ at: new Date(at).toISOString(), current, total: typeof total === 'number' ? total : null, attempt });
  }
  return samples;
}
