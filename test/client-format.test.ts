import { describe, expect, it } from 'vitest';
import * as client from '../src/client/format.ts';
import * as core from '../src/core/format.ts';
import { progressView } from '../src/http/dashboard/progress-view.ts';

const progress = (current: number, total: number | null, etaSeconds: number | null, message: string | null = 'm') => ({
  current,
  total,
  percent: total === null ? null : (current / total) * 100,
  message,
  etaSeconds,
  updatedAt: '2026-01-01T00:00:00.000Z',
});

describe("the browser's copies of the words under a bar", () => {
  it('say exactly what the server says', () => {
    for (const s of [-1, 0, 0.4, 1, 59.6, 61, 3_600, 7_260, 200_000, Number.NaN]) {
      expect(client.humanDuration(s)).toBe(core.humanDuration(s));
    }
    expect(client.stepCaption(3, 40)).toBe(core.stepCaption(3, 40));
    expect(client.stepCaption(3, null)).toBe(core.stepCaption(3, null));
    const statuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
    for (const status of statuses) {
      for (const p of [null, progress(3, 40, 52), progress(17, null, null), progress(0, 4, null, null)]) {
        for (const cancelRequested of [false, true]) {
          const job = { status, progress: p, cancelRequested };
          expect(client.progressView(job)).toEqual(progressView(job));
        }
      }
    }
    expect(
      progressView({ status: 'running', progress: progress(3, 40, 52, 'Zipping'), cancelRequested: false }),
    ).toEqual({
      value: 7.5,
      percent: '7 %',
      step: 'step 3 of 40',
      eta: 'about 52 s left',
      message: 'Zipping',
      label: '7 %, step 3 of 40, about 52 s left, Zipping',
    });
  });
});
