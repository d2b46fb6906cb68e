import { describe, expect, it } from 'vitest';
import type { JobProgress } from '../core/job.ts';
import { Redactor } from '../core/secrets.ts';
import type { RecordedStep } from '../core/steps.ts';
import { AttemptSteps } from './steps.ts';

const progress = (current: number, total: number | null): JobProgress => ({
  current,
  total,
  percent: null,
  message: null,
  etaSeconds: null,
  updatedAt: '2025-01-01T00:00:00.000Z',
});
const recorded = (name: string, at: JobProgress | null): RecordedStep => ({
  name,
  result: { name },
  attempt: 1,
  progress: at,
  recordedAt: '2025-01-01T00:00:00.000Z',
});

describe('AttemptSteps', () => {
  it('answers recorded steps, and holds the bar at the last one until the task goes past it', () => {
    const steps = new AttemptSteps(
      [recorded('file-0', progress(0, 10)), recorded('file-1', progress(1, 10))],
      new Redactor([]),
    );
    expect(steps.last?.name).toBe('file-1');
    // The task goes again through the recorded steps, reporting from 0: held back.
    expect(steps.holdsBack(0, 10)).toBe(true);
    expect(steps.recall('file-0')).toEqual({ result: { name: 'file-0' } });
    expect(steps.holdsBack(1, 10)).toBe(false); // at the bar: shown, and from here on all are
    expect(steps.holdsBack(0, 10)).toBe(false);
  });

  it('the first step that must run ends the hold; another scale (total) is not held', () => {
    const steps = new AttemptSteps([recorded('a', progress(5, 10))], new Redactor([]));
    expect(steps.holdsBack(2, 10)).toBe(true);
    expect(steps.recall('b')).toBeNull();
    expect(steps.holdsBack(2, 10)).toBe(false);
    const other = new AttemptSteps([recorded('a', progress(5, 10))], new Redactor([]));
    expect(other.holdsBack(2, null)).toBe(false);
    expect(new AttemptSteps([recorded('a', null)], new Redactor([])).holdsBack(0, 10)).toBe(false);
  });

  it("checks what a runner asks to record: the rules, and no secret param's value", () => {
    const steps = new AttemptSteps([], new Redactor(['correct horse battery staple']));
    expect(() => steps.check('ok', { n: 1 })).not.toThrow();
    expect(() => steps.check('', 1)).toThrow(TypeError);
    expect(() => steps.check('big', 'x'.repeat(300_000))).toThrow(RangeError);
    expect(() => steps.check('leak', { note: 'pw: correct horse battery staple' })).toThrow(
      /the step "leak" returned the value of a secret param/,
    );
  });
});
