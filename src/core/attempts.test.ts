import { describe, expect, it } from 'vitest';
import { type AttemptSource, attemptHistory, jobDurations, timeline } from './attempts.ts';
import type { AttemptRecord } from './job.ts';

const at = (s: number) => new Date(Date.UTC(2026, 4, 4, 10, 0, s)).toISOString();
const retried: AttemptRecord = {
  attempt: 1,
  workerId: 'w1',
  startedAt: at(2),
  endedAt: at(5),
  outcome: 'retry',
  runAt: at(9),
  error: { code: 'TASK_ERROR', message: 'reset' },
};
const job = (over: Partial<AttemptSource>): AttemptSource => ({
  status: 'queued',
  attempt: 0,
  createdAt: at(0),
  startedAt: null,
  finishedAt: null,
  workerId: null,
  error: null,
  attempts: [],
  ...over,
});

describe('attemptHistory: the records, then the job’s own attempt', () => {
  it('adds the running or final attempt from the row, with its worker and error', () => {
    const running = job({ status: 'running', attempt: 2, startedAt: at(10), workerId: 'w2', attempts: [retried] });
    expect(attemptHistory(running).map((a) => [a.attempt, a.outcome, a.endedAt, a.seconds])).toEqual([
      [1, 'retry', at(5), 3],
      [2, 'running', null, null],
    ]);
    const failed = job({
      status: 'failed',
      attempt: 1,
      startedAt: at(1),
      finishedAt: at(4),
      workerId: 'w1',
      error: { code: 'TASK_ERROR', message: 'no' },
    });
    expect(attemptHistory(failed)).toEqual([
      {
        attempt: 1,
        workerId: 'w1',
        startedAt: at(1),
        endedAt: at(4),
        outcome: 'failed',
        runAt: null,
        error: { code: 'TASK_ERROR', message: 'no' },
        seconds: 3,
      },
    ]);
  });

  it('adds nothing for a queued job, nor for one cancelled while queued after a recorded attempt', () => {
    expect(attemptHistory(job({ status: 'queued', attempt: 1, startedAt: at(2), attempts: [retried] }))).toHaveLength(
      1,
    );
    const cancelled = job({
      status: 'cancelled',
      attempt: 1,
      startedAt: at(2),
      finishedAt: at(7),
      error: { code: 'CANCELLED', message: 'Cancelled before it started.' },
      attempts: [retried],
    });
    expect(attemptHistory(cancelled)).toHaveLength(1);
    expect(timeline(cancelled).map((e) => [e.kind, e.seconds])).toEqual([
      ['queued', null],
      ['started', 2],
      ['ended', 3],
      ['final', 2], // cancelled before the retry was due: no "due" moment after it
    ]);
    expect(attemptHistory(job({ status: 'cancelled', finishedAt: at(1) }))).toEqual([]);
  });
});

describe('timeline and durations', () => {
  it('orders queued, starts, ends and the time a retry was due, with the time between', () => {
    const done = job({
      status: 'succeeded',
      attempt: 2,
      startedAt: at(10),
      finishedAt: at(14),
      workerId: 'w2',
      attempts: [retried],
    });
    expect(timeline(done).map((e) => [e.kind, e.at, e.seconds])).toEqual([
      ['queued', at(0), null],
      ['started', at(2), 2],
      ['ended', at(5), 3],
      ['due', at(9), 4],
      ['started', at(10), 1],
      ['ended', at(14), 4],
    ]);
    expect(jobDurations(done)).toEqual({ queuedFor: 2, ranFor: 7 });
    expect(jobDurations(job({}))).toEqual({ queuedFor: null, ranFor: null });
  });
});
