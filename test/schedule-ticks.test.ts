import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.ts';
import {
  checkTiming,
  dueTicks,
  MAX_TICKS_PER_FIRE,
  nextTick,
  type Timing,
  upcomingTicks,
} from '../src/schedule/ticks.ts';

const cron = (expression: string, timezone: string | null = null): Timing => ({
  cron: expression,
  everySeconds: null,
  timezone,
});
const every = (seconds: number): Timing => ({ cron: null, everySeconds: seconds, timezone: null });
const at = (iso: string) => new Date(iso);
const isos = (dates: Date[]) => dates.map((date) => date.toISOString());

describe('schedule timing', () => {
  it('reads a cron expression in its time zone, daylight saving included', () => {
    // 03:00 in Paris is 02:00 UTC in winter and 01:00 UTC from the last Sunday of March.
    expect(isos(upcomingTicks(cron('0 3 * * *', 'Europe/Paris'), at('2026-03-27T12:00:00Z'), 3))).toEqual([
      '2026-03-28T02:00:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T01:00:00.000Z',
    ]);
    expect(nextTick(cron('*/15 * * * *'), at('2026-12-01T10:15:00Z'))?.toISOString()).toBe('2026-12-01T10:30:00.000Z');
    // Six fields: seconds first.
    expect(nextTick(cron('*/10 * * * * *'), at('2026-12-01T10:00:05Z'))?.toISOString()).toBe(
      '2026-12-01T10:00:10.000Z',
    );
  });

  it('puts interval ticks on multiples of the interval since the epoch, so every process agrees', () => {
    expect(isos(upcomingTicks(every(300), at('2026-12-01T10:02:00Z'), 2))).toEqual([
      '2026-12-01T10:05:00.000Z',
      '2026-12-01T10:10:00.000Z',
    ]);
    expect(nextTick(every(1), at('2026-12-01T10:00:00.000Z'))?.toISOString()).toBe('2026-12-01T10:00:01.000Z');
  });

  it('refuses what cannot be a schedule, in words', () => {
    const refused = (timing: Timing) => {
      try {
        checkTiming(timing);
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return (error as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refused(cron('61 * * * *'))).toMatch(/is not a cron expression: .*minute/i);
    expect(refused(cron('every day'))).toMatch(/is not a cron expression/);
    expect(refused(cron('0 3 * * *', 'Mars/Olympus'))).toMatch(/"Mars\/Olympus" is not a time zone/);
    expect(refused(cron('0 0 31 2 *'))).toMatch(/never matches/);
    expect(refused({ cron: '* * * * *', everySeconds: 5, timezone: null })).toMatch(
      /either a cron expression or an interval/,
    );
    expect(refused({ cron: null, everySeconds: null, timezone: null })).toMatch(
      /either a cron expression or an interval/,
    );
    expect(refused(every(0))).toMatch(/whole number >= 1/);
    expect(refused(every(1.5))).toMatch(/whole number >= 1/);
    expect(refused({ cron: null, everySeconds: 60, timezone: 'Europe/Paris' })).toMatch(/time zone goes with a cron/);
    expect(() => checkTiming(cron('0 3 * * 1-5', 'America/New_York'))).not.toThrow();
  });
});

describe('due ticks', () => {
  it('fires every tick up to now that is within the catch-up window, and moves on past now', () => {
    const due = dueTicks(every(10), at('2026-12-01T10:00:00Z'), at('2026-12-01T10:00:25Z'), 60);
    expect(due && isos(due.fire)).toEqual([
      '2026-12-01T10:00:00.000Z',
      '2026-12-01T10:00:10.000Z',
      '2026-12-01T10:00:20.000Z',
    ]);
    expect(due?.skipped).toBe(0);
    expect(due?.nextAt?.toISOString()).toBe('2026-12-01T10:00:30.000Z');
    expect(due?.lastTick.toISOString()).toBe('2026-12-01T10:00:20.000Z');
    expect(dueTicks(every(10), at('2026-12-01T10:00:30Z'), at('2026-12-01T10:00:25Z'), 60)).toBeNull();
  });

  it('skips ticks missed by more than the window, counting them, and fires the rest', () => {
    // Down from 10:00 to 10:10; a tick a minute; catch up 3 minutes: 10:07 … 10:10 fire.
    const due = dueTicks(every(60), at('2026-12-01T10:00:00Z'), at('2026-12-01T10:10:00Z'), 180);
    expect(due && isos(due.fire)).toEqual([
      '2026-12-01T10:07:00.000Z',
      '2026-12-01T10:08:00.000Z',
      '2026-12-01T10:09:00.000Z',
      '2026-12-01T10:10:00.000Z',
    ]);
    expect(due?.skipped).toBe(7);
    expect(due?.nextAt?.toISOString()).toBe('2026-12-01T10:11:00.000Z');
    // Nothing inside the window: all skipped, on to the next tick, no job.
    const none = dueTicks(cron('0 * * * *'), at('2026-12-01T03:00:00Z'), at('2026-12-01T06:30:00Z'), 60);
    expect(none?.fire).toEqual([]);
    expect(none?.skipped).toBe(4);
    expect(none?.nextAt?.toISOString()).toBe('2026-12-01T07:00:00.000Z');
    expect(none?.lastTick.toISOString()).toBe('2026-12-01T06:00:00.000Z');
  });

  it('fires at most 100 ticks a pass; the next pass goes on from there', () => {
    const first = dueTicks(every(1), at('2026-12-01T10:00:00Z'), at('2026-12-01T10:05:00Z'), 3600);
    expect(first?.fire).toHaveLength(MAX_TICKS_PER_FIRE);
    expect(first?.nextAt?.toISOString()).toBe('2026-12-01T10:01:40.000Z');
    const second = dueTicks(every(1), first?.nextAt as Date, at('2026-12-01T10:05:00Z'), 3600);
    expect(second?.fire[0]?.toISOString()).toBe('2026-12-01T10:01:40.000Z');
  });
});
