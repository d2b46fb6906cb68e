import { type ChildSummary, isWaitingForChildren, unfinishedOf } from '../core/children.ts';
import type { Job } from '../core/job.ts';
import type { Pause, QueueLimit, QueueUsage, QueueUsageRequest } from '../store/store.ts';

/** Why a queued job has not started yet, for people: the API's `waiting`, the job page, the CLI. */
export interface JobWaiting {
  reason: WaitingReason;
  /** "waiting: queue full (2 of 2 running)". */
  text: string;
}

export type WaitingReason =
  | 'scheduled'
  | 'task paused'
  | 'queue paused'
  | 'queue full'
  | 'key full'
  | 'rate limit'
  | 'key rate limit'
  | 'children'
  | 'worker';

/** What one queue's counts are read with: the request for `store.queueUsage`, from the job and the queue's limits. */
export function usageRequestFor(
  job: Pick<Job, 'queue' | 'concurrencyKey'>,
  limit: QueueLimit | null,
): QueueUsageRequest {
  const key = job.concurrencyKey;
  return {
    queue: job.queue,
    key,
    rateSeconds: limit?.rate?.perSeconds ?? null,
    keyRateSeconds: key !== null ? (limit?.ratePerKey?.perSeconds ?? null) : null,
  };
}

/**
 * The first thing holding a queued job back, in the order a claim checks them; null for a job
 * that is not queued. `usage` may be null when the job is not due yet or nothing limits its
 * queue (no counts are needed then). A snapshot: the next claim may already have taken it.
 */
export function waitingOf(
  job: Job,
  pauses: readonly Pause[],
  limit: QueueLimit | null,
  usage: QueueUsage | null,
  now = Date.now(),
): JobWaiting | null {
  if (job.status !== 'queued') return null;
  // Before `scheduled`: its runAt (the end of time) says nothing to a person.
  if (isWaitingForChildren(job)) return { reason: 'children', text: 'waiting for its child jobs' };
  const runAt = Date.parse(job.runAt);
  if (runAt > now) return { reason: 'scheduled', text: `waiting: runs at ${job.runAt}` };
  const taskPause = pauses.find((pause) => pause.kind === 'task' && pause.name === job.task);
  if (taskPause) return { reason: 'task paused', text: `waiting: task ${job.task} paused${pausedBy(taskPause)}` };
  const queuePause = pauses.find((pause) => pause.kind === 'queue' && pause.name === job.queue);
  if (queuePause) return { reason: 'queue paused', text: `waiting: queue ${job.queue} paused${pausedBy(queuePause)}` };
  if (limit && usage) {
    if (limit.concurrency !== null && usage.running >= limit.concurrency) {
      return { reason: 'queue full', text: `waiting: queue full (${usage.running} of ${limit.concurrency} running)` };
    }
    if (limit.perKey !== null && job.concurrencyKey !== null && usage.runningWithKey >= limit.perKey) {
      return {
        reason: 'key full',
        text: `waiting: key ${job.concurrencyKey} full (${usage.runningWithKey} of ${limit.perKey} running)`,
      };
    }
    if (limit.rate && usage.startedInWindow >= limit.rate.starts) {
      return { reason: 'rate limit', text: `waiting: rate limit (${rateText(limit.rate)})` };
    }
    if (limit.ratePerKey && job.concurrencyKey !== null && usage.startedWithKeyInWindow >= limit.ratePerKey.starts) {
      return {
        reason: 'key rate limit',
        text: `waiting: rate limit of key ${job.concurrencyKey} (${rateText(limit.ratePerKey)})`,
      };
    }
  }
  return { reason: 'worker', text: 'waiting for a free worker' };
}

/** Why a parent asleep until its children end waits, with their counts: "waiting for 37 of 100 child jobs". */
export function childrenWaiting(summary: ChildSummary): JobWaiting {
  return { reason: 'children', text: `waiting for ${unfinishedOf(summary)} of ${summary.total} child jobs` };
}

/** Whether `waitingOf` needs the queue's counts for this job. */
export function needsUsage(job: Job, limit: QueueLimit | null, now = Date.now()): boolean {
  return job.status === 'queued' && limit !== null && Date.parse(job.runAt) <= now;
}

function pausedBy(pause: Pause): string {
  const by = pause.by ? ` by ${pause.by}` : '';
  const why = pause.reason ? `: ${pause.reason}` : '';
  return `${by} since ${pause.at}${why}`;
}

function rateText(rate: { starts: number; perSeconds: number }): string {
  return `${rate.starts} start${rate.starts === 1 ? '' : 's'} per ${rate.perSeconds} s`;
}
