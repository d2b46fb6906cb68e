import type { JobProgress, JobStatus } from './job.ts';

/**
 * Words for people: durations and progress captions, shared by the CLI, the dashboard's pages
 * and the browser bundle (src/client), so all three say the same thing. Pure: no Node APIs here,
 * since the browser bundle includes this file.
 */

/** A duration in the two largest units worth saying: 12 s, 3 min 5 s, 2 h 10 min, 3 days. */
export interface DurationParts {
  days?: number;
  hours?: number;
  minutes?: number;
  seconds?: number;
}

/** Cuts a duration of 1 s or more into the units `humanDuration` says (the browser says them with Intl). */
export function durationParts(seconds: number): DurationParts {
  const s = Math.round(seconds);
  if (s < 60) return { seconds: s };
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? { minutes: m, seconds: s % 60 } : { minutes: m };
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? { hours: h, minutes: m % 60 } : { hours: h };
  return { days: Math.round(h / 24) };
}

const UNIT_WORDS = { days: ' days', hours: ' h', minutes: ' min', seconds: ' s' } as const;

/** Under a finished job's empty log: the server's job page and the page script, when a job ends while shown. */
export const NOTHING_PRINTED = 'Nothing was printed.';

/** The heading of a job log's lines of one attempt (the job page, and its script for live lines). */
export function logAttemptTitle(attempt: number | null): string {
  if (attempt === null) return 'Earlier lines';
  return attempt === 0 ? 'Before the first attempt' : `Attempt ${attempt}`;
}

/** "less than a second", "12 s", "3 min 5 s", "2 h 10 min", "3 days". */
export function humanDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return 'unknown';
  if (seconds < 1) return 'less than a second';
  const parts = durationParts(seconds);
  return (Object.keys(UNIT_WORDS) as (keyof DurationParts)[])
    .filter((unit) => parts[unit] !== undefined)
    .map((unit) => `${parts[unit]}${UNIT_WORDS[unit]}`)
    .join(' ');
}

/**
 * How a bar writes its numbers. The server (the first paint, the CLI) writes them the same for
 * everyone; the browser repaints them in its own language with Intl (src/client/format.ts).
 */
export interface NumberWords {
  /** A whole percent, 0..100: "7 %". */
  percent(value: number): string;
  /** A count of steps: "40". */
  count(n: number): string;
  /** A duration of 1 s or more: "3 min 5 s". */
  duration(seconds: number): string;
}

/** The server's numbers, alike for everyone: "7 %", "40", "3 min 5 s". */
export const PLAIN_NUMBERS: NumberWords = {
  percent: (value) => `${value} %`,
  count: String,
  duration: humanDuration,
};

/** "about 12 s left", or "almost done" under a second (not "about less than a second left"). */
export function etaCaption(seconds: number, words: NumberWords = PLAIN_NUMBERS): string {
  return seconds < 1 ? 'almost done' : `about ${words.duration(seconds)} left`;
}

/** "step 3 of 40", or "step 3" when the total is unknown. */
export function stepCaption(current: number, total: number | null, words: NumberWords = PLAIN_NUMBERS): string {
  return total === null ? `step ${words.count(current)}` : `step ${words.count(current)} of ${words.count(total)}`;
}

/** What a progress bar shows, in words: the server draws it and the browser redraws it, from this one function. */
export interface ProgressView {
  /** 0..100 for the bar; null draws an indeterminate bar. */
  value: number | null;
  /**
   * false: no bar at all. A failed or cancelled job that never said how far it got shows its end
   * in words ("Failed"), not as an empty bar at 0 %.
   */
  bar: boolean;
  /** "42 %"; for a job that failed or was cancelled, where it stopped: "Failed at 42 %", "Cancelled at step 17". */
  percent: string;
  step: string;
  eta: string;
  message: string;
  /** Everything above in one sentence, for `aria-valuetext`. */
  label: string;
}

/** The job fields a bar needs. */
export interface ProgressInput {
  status: JobStatus;
  progress: JobProgress | null;
  cancelRequested: boolean;
}

/** The words under a bar, for the dashboard's server-side pages and the browser bundle alike. */
export function progressView(job: ProgressInput, words: NumberWords = PLAIN_NUMBERS): ProgressView {
  const p = job.progress;
  const stopped = job.status === 'failed' || job.status === 'cancelled';
  let value: number | null = p && p.total !== null && p.percent !== null ? Math.min(100, Math.max(0, p.percent)) : null;
  // A failed or cancelled job keeps the bar where its last attempt stopped.
  const bar = !stopped || value !== null;
  if (job.status === 'succeeded') value = 100;
  if (job.status === 'queued' || (stopped && value === null)) value = 0;
  let percent = value === null || job.status === 'queued' ? '' : words.percent(Math.floor(value));
  if (job.status === 'failed' || job.status === 'cancelled') {
    percent = stoppedCaption(
      job.status,
      bar ? percent : p && p.current > 0 ? stepCaption(p.current, p.total, words) : '',
    );
  }
  const step =
    p && job.status === 'running' && (p.total !== null || p.current > 0) ? stepCaption(p.current, p.total, words) : '';
  const eta =
    job.status === 'running' && p?.etaSeconds !== null && p?.etaSeconds !== undefined
      ? etaCaption(p.etaSeconds, words)
      : '';
  let message = visibleBidi(p?.message ?? '');
  if (job.status === 'queued') message = 'Waiting to start';
  else if (job.status === 'running' && job.cancelRequested) message = 'Cancelling…';
  const label = [percent, step, eta, message].filter(Boolean).join(', ') || job.status;
  return { value, bar, percent, step, eta, message, label };
}

/** "Failed at 42 %", "Cancelled at step 17", or "Failed" when it is not known how far it got. */
function stoppedCaption(status: 'failed' | 'cancelled', where: string): string {
  const word = status === 'failed' ? 'Failed' : 'Cancelled';
  return where ? `${word} at ${where}` : word;
}

/**
 * The bidi controls (embeddings, overrides, isolates, marks: U+202A-U+202E, U+2066-U+2069,
 * U+200E, U+200F, U+061C), which reorder the text around them: a file named `invoice\u202Ecod.exe`
 * read as `invoice"exe.doc` and scrambled the JSON beside it ("Trojan Source").
 */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Task text with its bidi controls shown as `\u202e`, as the CLI shows them, instead of obeyed. */
export function visibleBidi(text: string): string {
  return text.replace(BIDI, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
