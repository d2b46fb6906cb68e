/**
 * Words for people: durations and progress captions, shared by the CLI and the dashboard.
 */

/** "less than a second", "12 s", "3 min 5 s", "2 h 10 min", "3 days". */
export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return 'unknown';
  if (seconds < 1) return 'less than a second';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.round(h / 24)} days`;
}

/** "step 3 of 40", or "step 3" when the total is unknown. */
export function stepCaption(current: number, total: number | null): string {
  return total === null ? `step ${current}` : `step ${current} of ${total}`;
}
