import { etaCaption, stepCaption } from '../core/format.ts';
import type { Job, JobProgress, JobStatus } from '../core/job.ts';

/**
 * Drawing jobs on a terminal. Everything a task wrote passes through `printable` first: a job's
 * message could hold escape sequences that move the cursor, change the title or hide text.
 */

// C0 and C1 control characters (ESC included, so every ANSI sequence is broken), except tab, and
// the bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): a U+202E in a job's
// message reversed the rest of the terminal line ("Trojan Source"), so `logs` showed text that
// was not there.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** Task text made safe to print: control and bidi characters shown as \uXXXX, newlines as spaces, capped. */
export function printable(text: string, max = 2_000): string {
  const flat = text
    .replace(/\r?\n/g, ' ')
    .replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/**
 * One line: `[#########-----------]  45.0%  step 18 of 40  about 52 s left  Zipping pub/`. Only
 * a running job has an estimate: a job that ended, or waits for its next attempt, shows where it
 * stopped, not what was left when it did.
 */
export function progressLine(
  progress: JobProgress | null,
  width = 30,
  now = Date.now(),
  status: JobStatus = 'running',
): string {
  if (!progress) return `[${' '.repeat(width)}]  ${status === 'running' ? 'starting' : 'waiting to start'}`;
  const parts: string[] = [];
  if (progress.percent === null) {
    // Indeterminate: a block that moves, so the person sees it is alive.
    const pos = Math.floor(now / 150) % width;
    parts.push(`[${' '.repeat(pos)}###${' '.repeat(Math.max(0, width - pos - 3))}]`.slice(0, width + 2));
  } else {
    const filled = Math.round((progress.percent / 100) * width);
    parts.push(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`, `${progress.percent.toFixed(1).padStart(5)}%`);
  }
  parts.push(stepCaption(progress.current, progress.total));
  if (status === 'running' && progress.etaSeconds !== null && progress.percent !== 100) {
    parts.push(etaCaption(progress.etaSeconds));
  }
  if (status === 'failed' || status === 'cancelled') parts.push('stopped here');
  if (progress.message) parts.push(printable(progress.message, 200));
  return parts.join('  ');
}

/** How a finished job ended, in one line. */
export function endLine(job: Job): string {
  switch (job.status) {
    case 'succeeded':
      return `Succeeded${job.result === null || job.result === undefined ? '' : `: ${printable(JSON.stringify(job.result), 500)}`}`;
    case 'failed':
      return `Failed (${job.error?.code ?? 'TASK_ERROR'}): ${printable(job.error?.message ?? 'no reason given')}`;
    case 'cancelled':
      return `Cancelled${job.error?.message ? `: ${printable(job.error.message)}` : ''}`;
    default:
      return job.status;
  }
}

/** Rows as aligned columns. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '))
    .join('\n');
}
