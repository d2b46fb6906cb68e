import { humanDuration, type ProgressInput, progressView } from '../../core/format.ts';
import type { JobStatus } from '../../core/job.ts';
import type { JobWaiting } from '../../queue/waiting.ts';
import type { JobJson } from '../job-json.ts';

const STATUS_WORDS: Record<JobStatus, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/** The status as a word in a coloured pill; `data-status` is what the live script and CSS key on. */
export function StatusBadge({ status, cancelRequested }: { status: JobStatus; cancelRequested?: boolean }) {
  const text = status === 'running' && cancelRequested ? 'Cancelling…' : STATUS_WORDS[status];
  return (
    <span class="uw-status" data-status={status}>
      {text}
    </span>
  );
}

export interface ProgressBarProps {
  job: ProgressInput & { id: string; task: string };
  /** On a job page the bar is `<underway-progress>`, live by itself; in a list a plain element the page script updates. */
  live?: boolean;
  /** The events URL (carries a share token when there is one). */
  events?: string;
}

/**
 * A progress bar: a native `<progress>` (role progressbar and its values come with it; no value
 * means indeterminate), with the percent, "step 3 of 40", the ETA and the message under it. The
 * browser's `paintProgress` (src/client/format.ts) redraws exactly these elements.
 */
export function ProgressBar({ job, live, events }: ProgressBarProps) {
  const view = progressView(job);
  const inner = (
    <>
      <progress
        max="100"
        value={view.value === null ? undefined : String(view.value)}
        hidden={!view.bar}
        aria-label={`Progress of ${job.task}`}
        aria-valuetext={view.label}
      >
        {view.percent}
      </progress>
      <span class="uw-caption" aria-hidden="true">
        <span class="uw-percent">{view.percent}</span>
        <span class="uw-step">{view.step}</span>
        <span class="uw-eta">{view.eta}</span>
        <span class="uw-message">{view.message}</span>
      </span>
    </>
  );
  if (live) {
    return (
      // no-cancel: the pages have their own Cancel form, which works without JavaScript too.
      <underway-progress class="uw-progress" job={job.id} events={events} data-status={job.status} no-cancel>
        {inner}
      </underway-progress>
    );
  }
  return (
    <div class="uw-progress" data-progress-of={job.id} data-status={job.status}>
      {inner}
    </div>
  );
}

/** "3 min ago", from an ISO date. */
export function Ago({ iso, now = Date.now() }: { iso: string | null; now?: number }) {
  if (!iso) return <span class="uw-muted">—</span>;
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000);
  return (
    <time datetime={iso} title={iso}>
      {seconds < 1 ? 'just now' : `${humanDuration(seconds)} ago`}
    </time>
  );
}

/** JSON shown readably: indented, in a `<pre>`, escaped like every other text. */
export function JsonView({ value, label }: { value: unknown; label: string }) {
  return (
    <section aria-label={label}>
      <pre tabindex={0}>{JSON.stringify(value, null, 2)}</pre>
    </section>
  );
}

/** One short line for a list: a string result itself, else the JSON cut to 120 characters. */
export function resultSummary(job: Pick<JobJson, 'status' | 'result' | 'error'>): string {
  if (job.status === 'failed' || job.status === 'cancelled') return job.error?.message ?? '';
  if (job.status !== 'succeeded' || job.result === null || job.result === undefined) return '';
  const text = typeof job.result === 'string' ? job.result : JSON.stringify(job.result);
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

/** "12.3 KB". */
export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Why a queued job has not started ("waiting: queue full (2 of 2 running)"); the page redraws it when the job starts. */
export function Waiting({ waiting }: { waiting: JobWaiting }) {
  return (
    <p class="uw-muted uw-waiting" data-waiting={waiting.reason}>
      {waiting.text}
    </p>
  );
}
