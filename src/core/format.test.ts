import { describe, expect, it } from 'vitest';
import { etaCaption, humanDuration, progressView, stepCaption } from './format.ts';

describe('humanDuration', () => {
  it.each([
    [0.2, 'less than a second'],
    [12, '12 s'],
    [60, '1 min'],
    [185, '3 min 5 s'],
    [7800, '2 h 10 min'],
    [3 * 86_400, '3 days'],
    [-1, 'unknown'],
    [Number.NaN, 'unknown'],
  ])('%s s reads "%s"', (seconds, words) => {
    expect(humanDuration(seconds)).toBe(words);
  });
});

describe('etaCaption', () => {
  it('says how long is left, and "almost done" rather than "about less than a second left"', () => {
    expect(etaCaption(52)).toBe('about 52 s left');
    expect(etaCaption(0.4)).toBe('almost done');
  });
});

describe('stepCaption', () => {
  it('names the total when known', () => {
    expect(stepCaption(3, 40)).toBe('step 3 of 40');
    expect(stepCaption(3, null)).toBe('step 3');
  });
});

describe('progressView: the words under a bar, on the server and in the browser', () => {
  const progress = (
    current: number,
    total: number | null,
    etaSeconds: number | null,
    message: string | null = null,
  ) => ({
    current,
    total,
    percent: total === null ? null : (current / total) * 100,
    message,
    etaSeconds,
    updatedAt: '2026-01-01T00:00:00.000Z',
  });

  it('says percent, step, time left and the message while running', () => {
    expect(
      progressView({ status: 'running', progress: progress(3, 40, 52, 'Zipping'), cancelRequested: false }),
    ).toEqual({
      value: 7.5,
      bar: true,
      percent: '7 %',
      step: 'step 3 of 40',
      eta: 'about 52 s left',
      message: 'Zipping',
      label: '7 %, step 3 of 40, about 52 s left, Zipping',
    });
  });

  it('draws an indeterminate bar when the total is unknown', () => {
    const view = progressView({ status: 'running', progress: progress(17, null, null), cancelRequested: false });
    expect(view).toMatchObject({ value: null, percent: '', step: 'step 17', eta: '' });
  });

  it('says what is happening before, during a cancel and after', () => {
    expect(progressView({ status: 'queued', progress: null, cancelRequested: false })).toMatchObject({
      value: 0,
      message: 'Waiting to start',
    });
    expect(progressView({ status: 'running', progress: progress(1, 4, 9), cancelRequested: true }).message).toBe(
      'Cancelling…',
    );
    expect(progressView({ status: 'succeeded', progress: progress(3, 4, 1), cancelRequested: false })).toMatchObject({
      value: 100,
      eta: '',
      step: '',
    });
    expect(progressView({ status: 'failed', progress: null, cancelRequested: false })).toMatchObject({
      value: 0,
      bar: false,
      percent: 'Failed',
      step: '',
      eta: '',
    });
  });

  it('keeps the bar where a failed or cancelled job stopped, and says so', () => {
    expect(progressView({ status: 'failed', progress: progress(42, 100, 30), cancelRequested: false })).toMatchObject({
      value: 42,
      bar: true,
      percent: 'Failed at 42 %',
      eta: '',
    });
    expect(
      progressView({ status: 'cancelled', progress: progress(17, null, null), cancelRequested: true }),
    ).toMatchObject({ bar: false, percent: 'Cancelled at step 17' });
    expect(progressView({ status: 'running', progress: progress(42, 100, 30), cancelRequested: false })).toMatchObject({
      bar: true,
      percent: '42 %',
    });
  });
});
