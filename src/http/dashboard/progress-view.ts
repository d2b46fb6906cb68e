import { humanDuration, stepCaption } from '../../core/format.ts';
import type { JobProgress, JobStatus } from '../../core/job.ts';

/** What a progress bar shows, in words: the server draws it and the browser (src/client/format.ts) redraws it. */
export interface ProgressView {
  /** 0..100 for the bar; null draws an indeterminate bar. */
  value: number | null;
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

/**
 * The words under a bar. Kept equal to the browser's copy (src/client/format.ts) by
 * test/client-format.test.ts, since the browser bundle may import nothing from the server.
 */
export function progressView(job: ProgressInput): ProgressView {
  const p = job.progress;
  const ended = job.status === 'succeeded' || job.status === 'failed' || job.status === 'cancelled';
  let value: number | null = p && p.total !== null && p.percent !== null ? Math.min(100, Math.max(0, p.percent)) : null;
  if (job.status === 'succeeded') value = 100;
  if (job.status === 'queued') value = 0;
  if (ended && value === null) value = 0;
  const percent = value === null || job.status === 'queued' ? '' : `${Math.floor(value)} %`;
  const step =
    p && job.status === 'running' && (p.total !== null || p.current > 0) ? stepCaption(p.current, p.total) : '';
  const eta =
    job.status === 'running' && p?.etaSeconds !== null && p?.etaSeconds !== undefined
      ? `about ${humanDuration(p.etaSeconds)} left`
      : '';
  let message = p?.message ?? '';
  if (job.status === 'queued') message = 'Waiting to start';
  else if (job.status === 'running' && job.cancelRequested) message = 'Cancelling…';
  const label = [percent, step, eta, message].filter(Boolean).join(', ') || job.status;
  return { value, percent, step, eta, message, label };
}
