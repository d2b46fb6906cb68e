import type { JobError } from './job.ts';

/**
 * The words a job's error carries when underway, not its task, ended it. One place for every
 * backend and the worker: the same event reads the same on SQLite and PostgreSQL, and a test of
 * one store holds for the other.
 */
export const CANCELLED = {
  onRequest: 'Cancelled on request.',
  beforeStart: 'Cancelled before it started.',
  atShutdown: 'Cancelled while the worker was shutting down.',
  workerGone: 'Cancelled; its worker stopped responding.',
} as const;

/**
 * A stalled attempt's message: `%s` is the attempt's number (PostgreSQL's `format()` fills it in
 * SQL, `stalledMessage` in JavaScript), and the suffix is added when no attempt is left.
 */
export const STALLED_TEMPLATE = 'The worker running attempt %s stopped responding (its lease expired).';
export const NO_ATTEMPTS_LEFT = ' No attempts left.';

export function cancelledError(message: string): JobError {
  return { code: 'CANCELLED', message };
}

export function stalledMessage(attempt: number, attemptsLeft: boolean): string {
  return STALLED_TEMPLATE.replace('%s', String(attempt)) + (attemptsLeft ? '' : NO_ATTEMPTS_LEFT);
}
