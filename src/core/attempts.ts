import type { AttemptOutcome, AttemptRecord, IsoDate, JobError, JobStatus } from './job.ts';

/**
 * A job's attempts put together: the ones that ended without ending it (its `attempts` records,
 * written by the statement that ended each) and the current or final one, read from the job's
 * own row. Pure, for the job page and anyone reading a job.
 */

/** How an attempt ended, or `running` while it runs. */
export type AttemptEnd = AttemptOutcome | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface AttemptView {
  attempt: number;
  workerId: string | null;
  startedAt: IsoDate | null;
  /** null while it runs. */
  endedAt: IsoDate | null;
  outcome: AttemptEnd;
  /** When the job was due again after it (a retry's backoff); null when it was not queued again. */
  runAt: IsoDate | null;
  error: Pick<JobError, 'code' | 'message'> | null;
  /** How long it ran; null while it runs or when its start is unknown. */
  seconds: number | null;
}

/** The fields of a job (or its JSON) that its attempts come from. */
export interface AttemptSource {
  status: JobStatus;
  attempt: number;
  createdAt: IsoDate;
  startedAt: IsoDate | null;
  finishedAt: IsoDate | null;
  workerId?: string | null | undefined;
  error: Pick<JobError, 'code' | 'message'> | null;
  attempts?: readonly AttemptRecord[] | undefined;
}

const between = (from: IsoDate | null, to: IsoDate | null): number | null =>
  from && to ? Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000) : null;

/** Every attempt, oldest first: the records, then the job's current or final attempt when it is not one of them. */
export function attemptHistory(job: AttemptSource): AttemptView[] {
  const views: AttemptView[] = (job.attempts ?? []).map((r) => ({ ...r, seconds: between(r.startedAt, r.endedAt) }));
  const last = job.attempts?.at(-1);
  // The row's startedAt is its latest attempt's; a recorded one (then queued again, maybe cancelled
  // before its next start) has that same start.
  const recorded = last !== undefined && last.startedAt === job.startedAt;
  if (job.startedAt === null || recorded || job.status === 'queued') return views;
  const running = job.status === 'running';
  views.push({
    attempt: job.attempt,
    workerId: job.workerId ?? null,
    startedAt: job.startedAt,
    endedAt: running ? null : job.finishedAt,
    outcome: job.status,
    runAt: null,
    error:
      job.status === 'succeeded' || running || !job.error ? null : { code: job.error.code, message: job.error.message },
    seconds: running ? null : between(job.startedAt, job.finishedAt),
  });
  return views;
}

/** One moment of a job's life, for its timeline. */
export interface TimelineEntry {
  at: IsoDate;
  kind: 'queued' | 'started' | 'ended' | 'due' | 'final';
  /** The attempt it is about (started, ended, due again after it); null for the job's own moments. */
  attempt: AttemptView | null;
  /** Since the moment before it; null for the first. */
  seconds: number | null;
}

/**
 * The job's life in order: queued, each attempt's start and end, the time a retry was due,
 * and its end when no attempt ended it (cancelled while queued). Durations between moments.
 */
export function timeline(job: AttemptSource, attempts: readonly AttemptView[] = attemptHistory(job)): TimelineEntry[] {
  const entries: Omit<TimelineEntry, 'seconds'>[] = [{ at: job.createdAt, kind: 'queued', attempt: null }];
  for (const a of attempts) {
    if (a.startedAt) entries.push({ at: a.startedAt, kind: 'started', attempt: a });
    if (a.endedAt) entries.push({ at: a.endedAt, kind: 'ended', attempt: a });
    // A retry's due time, unless the job ended before it came (cancelled while it waited).
    const beforeEnd = !job.finishedAt || (a.runAt !== null && Date.parse(a.runAt) <= Date.parse(job.finishedAt));
    if (a.runAt && a.endedAt && Date.parse(a.runAt) > Date.parse(a.endedAt) && beforeEnd) {
      entries.push({ at: a.runAt, kind: 'due', attempt: a });
    }
  }
  const lastEnd = attempts.at(-1);
  const endedByAttempt = lastEnd !== undefined && lastEnd.outcome === job.status;
  if (job.finishedAt && !endedByAttempt) entries.push({ at: job.finishedAt, kind: 'final', attempt: null });
  return entries.map((entry, i) => ({
    ...entry,
    seconds: i === 0 ? null : between(entries[i - 1]?.at ?? null, entry.at),
  }));
}

/** How long a job waited before its first start, and how long its attempts ran together (seconds; null when unknown). */
export function jobDurations(
  job: AttemptSource,
  attempts: readonly AttemptView[] = attemptHistory(job),
): { queuedFor: number | null; ranFor: number | null } {
  const first = attempts.find((a) => a.startedAt !== null);
  const queuedFor = first ? between(job.createdAt, first.startedAt) : null;
  const ran = attempts.map((a) => a.seconds).filter((s): s is number => s !== null);
  return { queuedFor, ranFor: ran.length ? ran.reduce((sum, s) => sum + s, 0) : null };
}
