import type { JobProgress, JobStatus } from './types.ts';

/*
 * The browser's copies of src/core/format.ts and src/http/dashboard/progress-view.ts (the bundle
 * may import nothing from the server's code); test/client-format.test.ts keeps them equal.
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

export interface ProgressView {
  value: number | null;
  percent: string;
  step: string;
  eta: string;
  message: string;
  label: string;
}

/** The words under a bar (see the server's progressView). */
export function progressView(job: {
  status: JobStatus;
  progress: JobProgress | null;
  cancelRequested: boolean;
}): ProgressView {
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

const PARTS = ['percent', 'step', 'eta', 'message'] as const;

/**
 * Draws a job's progress into `container`: a `<progress>` and the caption spans, as the server
 * renders them (created when missing). Text goes in through textContent only, never as HTML.
 */
export function paintProgress(
  container: HTMLElement,
  job: { task?: string; status: JobStatus; progress: JobProgress | null; cancelRequested: boolean },
): void {
  const doc = container.ownerDocument;
  let bar = container.querySelector('progress');
  if (!bar) {
    bar = doc.createElement('progress');
    bar.max = 100;
    bar.setAttribute('aria-label', job.task ? `Progress of ${job.task}` : 'Progress');
    const caption = doc.createElement('span');
    caption.className = 'uw-caption';
    caption.setAttribute('aria-hidden', 'true');
    for (const part of PARTS) {
      const span = doc.createElement('span');
      span.className = `uw-${part}`;
      caption.append(span, ' ');
    }
    container.append(bar, caption);
  }
  const view = progressView(job);
  // No value attribute at all is what makes a <progress> indeterminate.
  if (view.value === null) bar.removeAttribute('value');
  else bar.value = view.value;
  bar.textContent = view.percent;
  bar.setAttribute('aria-valuetext', view.label);
  for (const part of PARTS) {
    const span = container.querySelector(`.uw-${part}`);
    if (span) span.textContent = view[part];
  }
  container.dataset.status = job.status;
}
