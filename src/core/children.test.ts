import { describe, expect, it } from 'vitest';
import {
  type ChildState,
  type ChildSummary,
  checkChildName,
  childrenProgress,
  isWaitingForChildren,
  WAITING_FOR_CHILDREN_AT,
  waitVerdict,
} from './children.ts';

const state = (status: ChildState['status'], id: string = status): ChildState => ({
  id,
  name: id,
  task: 't',
  status,
  result: null,
  error: null,
});

describe('waitVerdict', () => {
  it('fails at the first child that failed or was cancelled, even with others unfinished', () => {
    expect(waitVerdict([state('queued'), state('cancelled'), state('failed')], false)).toEqual({
      kind: 'fail',
      child: state('cancelled'),
    });
  });

  it('sleeps while a child is unfinished; settling waits for the failed ones too', () => {
    expect(waitVerdict([state('succeeded'), state('running'), state('queued', 'q')], false)).toEqual({
      kind: 'sleep',
      unfinished: 2,
    });
    expect(waitVerdict([state('failed'), state('running')], true)).toEqual({ kind: 'sleep', unfinished: 1 });
    expect(waitVerdict([state('failed'), state('succeeded')], true)).toEqual({ kind: 'done' });
    expect(waitVerdict([], false)).toEqual({ kind: 'done' });
  });
});

describe("a waiting parent's bar", () => {
  const summary = (over: Partial<ChildSummary>): ChildSummary => ({
    total: 4,
    queued: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    done: 0,
    ...over,
  });

  it("counts each child as one, a running child by its own bar's fraction", () => {
    const bar = childrenProgress(summary({ succeeded: 1, failed: 1, running: 1, queued: 1, done: 2.5 }), 0);
    expect(bar).toMatchObject({ current: 2.5, total: 4, percent: 62.5, message: '2 of 4 child jobs ended' });
  });

  it('is full once every child ended, however they ended', () => {
    expect(childrenProgress(summary({ succeeded: 2, cancelled: 2, done: 4 }), 0).percent).toBe(100);
  });
});

describe('child names and the sleeping parent', () => {
  it('takes letters, digits and . _ : -, at most 128, and refuses the rest', () => {
    expect(checkChildName('resize:photo-1.jpg')).toBe('resize:photo-1.jpg');
    for (const bad of ['', '-x', 'a b', 'x'.repeat(129), 3, null]) expect(() => checkChildName(bad)).toThrow(TypeError);
  });

  it('is asleep only while queued with its runAt at the end of time', () => {
    expect(isWaitingForChildren({ status: 'queued', runAt: WAITING_FOR_CHILDREN_AT })).toBe(true);
    expect(isWaitingForChildren({ status: 'queued', runAt: new Date().toISOString() })).toBe(false);
    expect(isWaitingForChildren({ status: 'cancelled', runAt: WAITING_FOR_CHILDREN_AT })).toBe(false);
  });
});
