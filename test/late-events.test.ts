import { describe, expect, it } from 'vitest';
import { LateEvents } from '../src/jobs/late-events.ts';
import type { JobEvent } from '../src/store/store.ts';
import { progressEvent } from './helpers/events.ts';

const status = (jobId: string, value: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'): JobEvent => ({
  type: 'status',
  jobId,
  task: 't',
  owner: null,
  status: value,
  cancelRequested: false,
});
const progress = (jobId: string): JobEvent => progressEvent({ jobId, task: 't', owner: null }, 1, 2);
const log = (jobId: string): JobEvent => ({
  type: 'log',
  jobId,
  task: 't',
  owner: null,
  stream: 'stdout',
  line: 'late line',
  at: '2026-01-01T00:00:00.000Z',
  seq: 9,
});

describe('LateEvents', () => {
  it("drops a job's status and progress heard after its end, and keeps its log lines", () => {
    const late = new LateEvents();
    expect(late.stale(status('a', 'running'))).toBe(false);
    expect(late.stale(progress('a'))).toBe(false);
    expect(late.stale(status('a', 'succeeded'))).toBe(false);
    // The claim's running and a last progress, sent by the other path, arrive after the end.
    expect(late.stale(status('a', 'running'))).toBe(true);
    expect(late.stale(progress('a'))).toBe(true);
    expect(late.stale(status('a', 'succeeded'))).toBe(true);
    expect(late.stale(log('a'))).toBe(false);
    // Other jobs are not touched; a retry's queued (not an end) drops nothing after it.
    expect(late.stale(status('b', 'queued'))).toBe(false);
    expect(late.stale(status('b', 'running'))).toBe(false);
  });

  it('remembers the last 10,000 ended jobs, forgetting the oldest first', () => {
    const late = new LateEvents();
    for (let i = 0; i <= 10_000; i++) late.stale(status(`job-${i}`, 'failed'));
    expect(late.stale(progress('job-0'))).toBe(false); // forgotten
    expect(late.stale(progress('job-1'))).toBe(true);
    expect(late.stale(progress('job-10000'))).toBe(true);
  });

  it('keeps exactly the last 10,000 as the ended jobs go round many times', () => {
    const late = new LateEvents();
    for (let i = 0; i < 25_500; i++) late.stale(status(`job-${i}`, i % 2 ? 'succeeded' : 'cancelled'));
    const remembered = (i: number) => late.stale(progress(`job-${i}`));
    expect([0, 9_999, 15_499].map(remembered)).toEqual([false, false, false]);
    expect([15_500, 20_000, 25_499].map(remembered)).toEqual([true, true, true]);
    // One more end forgets the oldest of those, and only it.
    late.stale(status('job-next', 'failed'));
    expect([15_500, 15_501, 25_499].map(remembered)).toEqual([false, true, true]);
  });
});
