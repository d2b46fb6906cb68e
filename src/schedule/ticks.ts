import { Cron } from 'croner';
import { ValidationError } from '../core/errors.ts';

/** When a schedule ticks: a cron expression read in a time zone, or a fixed interval. */
export interface Timing {
  cron: string | null;
  everySeconds: number | null;
  timezone: string | null;
}

/** Ticks fired in one pass at most; the rest follow in the next (a long catch-up does not flood one transaction). */
export const MAX_TICKS_PER_FIRE = 100;
/** The shortest interval: a tick a second. */
export const MIN_EVERY_SECONDS = 1;
/** Ticks missed by more than this are skipped unless a schedule says otherwise. */
export const DEFAULT_CATCH_UP_SECONDS = 60;

/**
 * Checks a timing and says what is wrong in words a person can act on (a ValidationError): a cron
 * expression croner cannot read or that never matches, an unknown IANA time zone, an interval
 * that is not a whole number of seconds, both or neither given.
 */
export function checkTiming(timing: Timing): void {
  const { cron, everySeconds, timezone } = timing;
  if ((cron === null) === (everySeconds === null)) {
    throw new ValidationError('A schedule needs either a cron expression or an interval (everySeconds), not both.');
  }
  if (everySeconds !== null) {
    if (!Number.isInteger(everySeconds) || everySeconds < MIN_EVERY_SECONDS) {
      throw new ValidationError(`everySeconds must be a whole number >= ${MIN_EVERY_SECONDS}.`);
    }
    if (timezone !== null) throw new ValidationError('A time zone goes with a cron expression, not an interval.');
    return;
  }
  if (timezone !== null && !isTimeZone(timezone)) {
    throw new ValidationError(`${JSON.stringify(timezone)} is not a time zone (an IANA name such as Europe/Paris).`);
  }
  let next: Date | null;
  try {
    next = cronOf(timing).nextRun();
  } catch (error) {
    const reason = error instanceof Error ? error.message.replace(/^CronPattern: /, '') : String(error);
    throw new ValidationError(`${JSON.stringify(cron)} is not a cron expression: ${reason}`);
  }
  if (next === null) throw new ValidationError(`The cron expression ${JSON.stringify(cron)} never matches a date.`);
}

/** The first tick strictly after `after`; null when a cron expression has no more. */
export function nextTick(timing: Timing, after: Date): Date | null {
  if (timing.everySeconds !== null) {
    const every = timing.everySeconds * 1000;
    return new Date((Math.floor(after.getTime() / every) + 1) * every);
  }
  return cronOf(timing).nextRun(after);
}

/** The next `count` ticks after `after`: what a schedule will do, for people. */
export function upcomingTicks(timing: Timing, after: Date, count: number): Date[] {
  const ticks: Date[] = [];
  let at: Date | null = after;
  while (ticks.length < count && at) {
    at = nextTick(timing, at);
    if (at) ticks.push(at);
  }
  return ticks;
}

export interface DueTicks {
  /** The ticks to start a job for now, oldest first. */
  fire: Date[];
  /** How many due ticks were skipped: missed by more than the catch-up window. */
  skipped: number;
  /** The tick after the last one handled: the schedule's next `nextAt` (null: a cron with no more). */
  nextAt: Date | null;
  /** The last tick handled (fired or skipped). */
  lastTick: Date;
}

/**
 * What a pass over a due schedule does: every tick from `nextAt` up to `now` is either fired (it
 * is at most `catchUpSeconds` old) or skipped (it was missed while nothing ran), at most
 * MAX_TICKS_PER_FIRE fired per pass. Null when nothing is due yet.
 */
export function dueTicks(timing: Timing, nextAt: Date, now: Date, catchUpSeconds: number): DueTicks | null {
  if (nextAt.getTime() > now.getTime()) return null;
  const oldest = now.getTime() - catchUpSeconds * 1000;
  const fire: Date[] = [];
  let skipped = 0;
  let tick: Date | null = nextAt;
  let lastTick = nextAt;
  // Skipping is counted, not walked one by one past a cap: a per-second schedule down for a week
  // has 600,000 missed ticks, and the first tick inside the window is found directly.
  if (tick.getTime() < oldest) {
    const resume = nextTick(timing, new Date(oldest - 1));
    skipped = countTicks(timing, nextAt, resume);
    if (!resume || resume.getTime() > now.getTime()) {
      const last = resume ? lastTickBefore(timing, nextAt, resume) : nextAt;
      return { fire, skipped, nextAt: resume, lastTick: last };
    }
    tick = resume;
  }
  while (tick && tick.getTime() <= now.getTime() && fire.length < MAX_TICKS_PER_FIRE) {
    fire.push(tick);
    lastTick = tick;
    tick = nextTick(timing, tick);
  }
  return { fire, skipped, nextAt: tick, lastTick };
}

/** Ticks in [from, until): exact for intervals, walked (bounded) for cron expressions. */
function countTicks(timing: Timing, from: Date, until: Date | null): number {
  if (until === null) return 1;
  if (timing.everySeconds !== null) {
    return Math.round((until.getTime() - from.getTime()) / (timing.everySeconds * 1000));
  }
  let count = 0;
  for (let at: Date | null = from; at && at.getTime() < until.getTime() && count < 100_000; at = nextTick(timing, at)) {
    count++;
  }
  return count;
}

function lastTickBefore(timing: Timing, from: Date, until: Date): Date {
  if (timing.everySeconds !== null) return new Date(until.getTime() - timing.everySeconds * 1000);
  let last = from;
  for (let at: Date | null = from; at && at.getTime() < until.getTime(); at = nextTick(timing, at)) last = at;
  return last;
}

function cronOf(timing: Timing): Cron {
  return new Cron(timing.cron ?? '', { paused: true, timezone: timing.timezone ?? 'UTC' });
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
