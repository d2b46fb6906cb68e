import { describe, expect, it } from 'vitest';
import type { JobProgress } from '../core/job.ts';
import { progressLine } from './terminal.ts';

const at38: JobProgress = {
  current: 383,
  total: 1000,
  percent: 38.3,
  message: 'Zipping',
  etaSeconds: 19,
  updatedAt: '2026-01-01T00:00:00.000Z',
};

describe('progressLine: what underway watch draws', () => {
  it('gives a running job its estimate', () => {
    expect(progressLine(at38, 10, 0, 'running')).toBe(
      '[####------]   38.3%  step 383 of 1000  about 19 s left  Zipping',
    );
  });

  it('says "almost done" under a second, not "about less than a second left"', () => {
    expect(progressLine({ ...at38, etaSeconds: 0.3 }, 10, 0, 'running')).toContain('almost done');
  });

  it('shows where a cancelled or failed job stopped, without the estimate it had then', () => {
    for (const status of ['cancelled', 'failed'] as const) {
      const line = progressLine(at38, 10, 0, status);
      expect(line).toContain('38.3%');
      expect(line).toContain('stopped here');
      expect(line).not.toMatch(/left/);
    }
  });

  it('gives a job waiting for its next attempt no estimate either', () => {
    expect(progressLine(at38, 10, 0, 'queued')).not.toMatch(/left/);
  });
});
