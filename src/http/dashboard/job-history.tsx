import { type AttemptEnd, type AttemptView, jobDurations, type TimelineEntry, timeline } from '../../core/attempts.ts';
import { humanDuration, visibleBidi } from '../../core/format.ts';
import type { IsoDate } from '../../core/job.ts';
import type { JobJson } from '../job-json.ts';

/**
 * A job's history on its page: every attempt (when, where, how long, how it ended, why) and the
 * timeline of its life, from the job's attempt records and its own row (core/attempts.ts).
 */

/** How an attempt ended, for people. */
const ENDINGS: Record<AttemptEnd, string> = {
  retry: 'Failed, tried again',
  stalled: 'Stalled: its worker stopped responding',
  released: 'Handed back by a stopping worker (not counted)',
  waited: 'Asleep until its child jobs end (not counted)',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/** The same, as the end of a sentence that starts "Attempt 2 …". */
const ENDED: Record<AttemptEnd, string> = {
  retry: 'failed',
  stalled: 'stalled',
  released: 'was handed back',
  waited: 'went to sleep for its child jobs',
  running: 'is running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'was cancelled',
};

/** "2026-05-04 10:03:25 UTC", or the time alone when `date` is false. */
export function When({ iso, date = true }: { iso: IsoDate; date?: boolean }) {
  return (
    <time datetime={iso} title={iso}>
      {date ? `${iso.slice(0, 10)} ` : ''}
      {iso.slice(11, 19)} UTC
    </time>
  );
}

const duration = (seconds: number | null) => (seconds === null ? '—' : humanDuration(seconds));

/** "Queued for 3 s" and "Ran for 12 s" (all attempts together), for the facts list. */
export function DurationFacts({ job, attempts }: { job: JobJson; attempts: readonly AttemptView[] }) {
  const { queuedFor, ranFor } = jobDurations(job, attempts);
  return (
    <>
      <dt>Queued for</dt>
      <dd data-queued-for="">{queuedFor === null ? 'not started' : humanDuration(queuedFor)}</dd>
      <dt>Ran for</dt>
      <dd data-ran-for="">
        {ranFor === null ? (job.status === 'running' ? 'running now' : '—') : humanDuration(ranFor)}
        {ranFor !== null && attempts.length > 1 ? ` in ${attempts.length} attempts` : ''}
      </dd>
    </>
  );
}

/** Every attempt, oldest first: start, end, worker, how long, how it ended and why. */
export function Attempts({ attempts, maxAttempts }: { attempts: readonly AttemptView[]; maxAttempts: number }) {
  if (attempts.length === 0) return null;
  return (
    <section class="uw-card" aria-labelledby="uw-attempts-title">
      <h2 id="uw-attempts-title">Attempts</h2>
      <ol class="uw-attempts">
        {attempts.map((a) => (
          <li data-attempt={String(a.attempt)} data-outcome={a.outcome}>
            <h3>
              Attempt {a.attempt} of {maxAttempts}: <span class="uw-outcome">{ENDINGS[a.outcome]}</span>
            </h3>
            <dl class="uw-facts">
              <dt>Started</dt>
              <dd>{a.startedAt ? <When iso={a.startedAt} /> : '—'}</dd>
              <dt>Ended</dt>
              <dd>{a.endedAt ? <When iso={a.endedAt} /> : 'not yet'}</dd>
              <dt>Ran for</dt>
              <dd data-ran="">{a.outcome === 'running' ? 'running now' : duration(a.seconds)}</dd>
              <dt>Worker</dt>
              <dd>{a.workerId ?? '—'}</dd>
              {a.error && <dt>Error</dt>}
              {a.error && (
                <dd class="uw-attempt-error">
                  <span class="uw-muted">{a.error.code}:</span> {visibleBidi(a.error.message)}
                </dd>
              )}
            </dl>
          </li>
        ))}
      </ol>
    </section>
  );
}

/** The job's life in order, each moment with its time and how long after the one before it. */
export function Timeline({ job, attempts }: { job: JobJson; attempts: readonly AttemptView[] }) {
  const entries = timeline(job, attempts);
  return (
    <section class="uw-card" aria-labelledby="uw-timeline-title">
      <h2 id="uw-timeline-title">Timeline</h2>
      <ol class="uw-timeline">
        {entries.map((entry, i) => (
          <li data-kind={entry.kind}>
            <When iso={entry.at} date={i === 0 || entry.at.slice(0, 10) !== entries[i - 1]?.at.slice(0, 10)} />{' '}
            <span class="uw-what">{words(entry, job)}</span>
            {entry.seconds !== null && <span class="uw-muted"> ({gap(entry)})</span>}
          </li>
        ))}
      </ol>
    </section>
  );
}

function words(entry: TimelineEntry, job: JobJson): string {
  const a = entry.attempt;
  switch (entry.kind) {
    case 'queued':
      return 'Queued';
    case 'started':
      return `Attempt ${a?.attempt} started${a?.workerId ? ` on ${a.workerId}` : ''}`;
    case 'ended':
      return `Attempt ${a?.attempt} ${a ? ENDED[a.outcome] : 'ended'}${a?.error ? ` (${a.error.code})` : ''}`;
    case 'due':
      return 'Due to run again';
    case 'final':
      return job.status === 'cancelled' ? 'Cancelled' : `Ended: ${job.status}`;
  }
}

/** How long after the moment before: waiting before a start, running before an end, the retry's wait before it is due. */
function gap(entry: TimelineEntry): string {
  const d = duration(entry.seconds);
  if (entry.kind === 'started') return `after ${d} queued`;
  if (entry.kind === 'ended') return `after ${d} running`;
  if (entry.kind === 'due') return `a wait of ${d}`;
  return `${d} later`;
}
