import { progressView } from '../core/format.ts';
import type { JobProgress, JobStatus } from './types.ts';

export type { ProgressView } from '../core/format.ts';
export { humanDuration, progressView, stepCaption } from '../core/format.ts';

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
