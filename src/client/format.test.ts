import { afterEach, describe, expect, it } from 'vitest';
import { progressView } from '../core/format.ts';
import { intlNumbers } from './format.ts';

const running = (current: number, total: number | null, etaSeconds: number | null) => ({
  status: 'running' as const,
  cancelRequested: false,
  progress: {
    current,
    total,
    percent: total ? (current / total) * 100 : null,
    etaSeconds,
    message: null,
    updatedAt: '2026-05-01T00:00:00.000Z',
  },
});

describe('intlNumbers: the browser repaints numbers in its own language', () => {
  const intl = Intl as { DurationFormat?: unknown };
  const had = intl.DurationFormat;
  afterEach(() => {
    intl.DurationFormat = had;
  });

  it('writes percents, counts and durations as the locale does; the words stay English', () => {
    // Node 20 has no Intl.DurationFormat: this is the fallback through Intl.NumberFormat's units.
    delete intl.DurationFormat;
    const view = progressView(running(1234, 40000, 185), intlNumbers('en-US'));
    expect(view).toMatchObject({ percent: '3%', step: 'step 1,234 of 40,000', eta: 'about 3 min 5 sec left' });
    const german = progressView(running(1234, 40000, 7320), intlNumbers('de-DE'));
    expect(german).toMatchObject({
      percent: '3\u00a0%',
      step: 'step 1.234 of 40.000',
      eta: 'about 2 Std. 2 Min. left',
    });
    expect(intlNumbers('en').duration(3 * 86400)).toBe('3 days');
    // Under a second is said in words, whatever the language.
    expect(progressView(running(1, 2, 0.4), intlNumbers('de')).eta).toBe('almost done');
  });

  it('uses Intl.DurationFormat where there is one, with the parts the server says', () => {
    const seen: unknown[] = [];
    intl.DurationFormat = class {
      constructor(readonly locale: string) {}
      format(parts: object) {
        seen.push({ locale: this.locale, ...parts });
        return 'formatted';
      }
    };
    expect(intlNumbers('fr').duration(185)).toBe('formatted');
    expect(intlNumbers('fr').duration(7320)).toBe('formatted');
    expect(seen).toEqual([
      { locale: 'fr', minutes: 3, seconds: 5 },
      { locale: 'fr', hours: 2, minutes: 2 },
    ]);
  });

  it('leaves the server’s words as they were', () => {
    expect(progressView(running(3, 40, 52))).toMatchObject({
      percent: '7 %',
      step: 'step 3 of 40',
      eta: 'about 52 s left',
    });
  });
});
