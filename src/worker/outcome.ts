import { DEFAULT_BACKOFF, retryDelayMs } from '../core/backoff.ts';
import type { SerializedError } from '../core/errors.ts';
import { type Job, type JobError, type Outcome, toIso } from '../core/job.ts';
import { CANCELLED, cancelledError } from '../core/job-texts.ts';
import type { AnyTask } from '../core/task.ts';
import type { AttemptAbort, RunResult } from './runner.ts';

/** Longest error message kept: the message is a sentence for a person, the stack goes in `detail`. */
const MAX_MESSAGE = 500;
const MAX_DETAIL = 16_384;
/** Codes a runner sets itself (a crashed child, say). */
const RUNNER_CODES = new Set(['CRASHED', 'TIMEOUT', 'STALLED', 'CANCELLED', 'TASK_ERROR']);

/**
 * Decides how an attempt ends: success, retry (with backoff) while attempts remain, or a final
 * failure or cancellation. Null means "write nothing": the lease was lost. `release` hands the job
 * back at shutdown; `wait` ends an attempt whose `ctx.wait` found unfinished children (the task's
 * own result or error after that does not count: the job runs again once they end), unless
 * something stopped it first.
 */
export function decideOutcome(
  job: Job,
  task: AnyTask,
  result: RunResult,
  abort: AttemptAbort | null,
  now = Date.now(),
  waitingForChildren = false,
): Outcome | { status: 'release' } | { status: 'wait' } | null {
  if (abort?.kind === 'lease-lost') return null;
  if (abort?.kind === 'shutdown') return { status: 'release' };
  if (abort?.kind === 'cancel') return { status: 'cancelled', error: cancelledError(CANCELLED.onRequest) };
  if (waitingForChildren && !abort) return { status: 'wait' };
  if (result.ok && !abort) return { status: 'succeeded', result: result.result };

  const error: JobError = abort
    ? { code: abort.kind === 'timeout' ? 'TIMEOUT' : 'STALLED', message: abort.message, detail: null }
    : toJobError(result.ok ? { name: 'Error', message: 'The task returned after it was stopped.' } : result.error);
  const permanent = !result.ok && result.error.permanent === true && !abort;
  if (permanent || job.attempt >= job.maxAttempts) return { status: 'failed', error };
  const delay = retryDelayMs(task.backoff ?? DEFAULT_BACKOFF, job.attempt);
  return { status: 'retry', error, runAt: toIso(now + delay) };
}

export function toJobError(error: SerializedError): JobError {
  const firstLine = (error.message || error.name || 'The task failed.').split('\n')[0] as string;
  const message = firstLine.length > MAX_MESSAGE ? `${firstLine.slice(0, MAX_MESSAGE)}…` : firstLine;
  // A task's own error codes (ENOENT…) are detail; the job's code says which kind of end it was.
  const code =
    error.code && (RUNNER_CODES.has(error.code) || (error.permanent && /^[A-Z][A-Z0-9_]*$/.test(error.code)))
      ? error.code
      : 'TASK_ERROR';
  const stack = error.stack ?? null;
  return { message, code, detail: stack && stack.length > MAX_DETAIL ? stack.slice(0, MAX_DETAIL) : stack };
}
