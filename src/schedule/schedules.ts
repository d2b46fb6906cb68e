import { ValidationError } from '../core/errors.ts';
import { MAX_PRIORITY, MIN_PRIORITY } from '../core/job.ts';
import { sealSecrets } from '../core/secrets.ts';
import { type AnyTask, isPriority, type TaskSchedule } from '../core/task.ts';
import type { Queue } from '../queue/queue.ts';
import type { NewSchedule, Schedule } from '../store/store.ts';
import { checkTiming, DEFAULT_CATCH_UP_SECONDS, nextTick, type Timing, upcomingTicks } from './ticks.ts';

/** A schedule to save: where it was defined, who defined it, and the task it starts. */
export interface ScheduleInput extends TaskSchedule {
  task: AnyTask | string;
}

/** A schedule with its next few run times, for people (API, CLI, dashboard). */
export interface ScheduleView extends Schedule {
  nextRuns: string[];
}

/** Longest schedule name; letters, digits and `._:-` so that it reads well in a dedupe key and a URL. */
const NAME = /^[A-Za-z0-9._:-]{1,100}$/;
const MAX_CATCH_UP_SECONDS = 366 * 86_400;

/**
 * Recurring schedules over a queue: checked (task, timing, params) once when saved, so that a
 * tick never meets a schedule that cannot start its job. Used by the config sync at worker start,
 * and at run time by the HTTP API, the CLI and the library.
 */
export class Schedules {
  readonly #queue: Queue;

  constructor(queue: Queue) {
    this.#queue = queue;
  }

  /** Checks and saves a schedule (adding it, or replacing the one of that name); a ValidationError says what is wrong. */
  async save(
    input: ScheduleInput,
    options: { source?: 'config' | 'runtime'; by?: string | null } = {},
  ): Promise<Schedule> {
    return this.#queue.jobs.store.saveSchedule(this.check(input, options));
  }

  /** The record `save` would store, or a ValidationError: for checking a whole config before saving any of it. */
  check(input: ScheduleInput, options: { source?: 'config' | 'runtime'; by?: string | null } = {}): NewSchedule {
    const task = this.#queue.tasks.require(typeof input.task === 'string' ? input.task : input.task.name);
    const name = input.name ?? task.name;
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new ValidationError(
        `Schedule name ${JSON.stringify(name)} is not allowed: 1 to 100 letters, digits and . _ : -.`,
      );
    }
    const timing: Timing = {
      cron: input.cron ?? null,
      everySeconds: input.everySeconds ?? null,
      timezone: input.timezone ?? null,
    };
    try {
      checkTiming(timing);
    } catch (error) {
      if (error instanceof ValidationError) throw new ValidationError(`Schedule ${name}: ${error.message}`);
      throw error;
    }
    const catchUpSeconds = input.catchUpSeconds ?? DEFAULT_CATCH_UP_SECONDS;
    if (!Number.isInteger(catchUpSeconds) || catchUpSeconds < 0 || catchUpSeconds > MAX_CATCH_UP_SECONDS) {
      throw new ValidationError(
        `Schedule ${name}: catchUpSeconds must be a whole number from 0 to ${MAX_CATCH_UP_SECONDS}.`,
      );
    }
    if (input.priority !== undefined && !isPriority(input.priority)) {
      throw new ValidationError(
        `Schedule ${name}: priority must be a whole number from ${MIN_PRIORITY} to ${MAX_PRIORITY}.`,
      );
    }
    const params = input.params ?? {};
    let parsed: unknown;
    try {
      parsed = this.#queue.tasks.parseParams(task, params);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      throw new ValidationError(`Schedule ${name}: ${error.message}`, error.issues);
    }
    // A schedule's params are stored as given, for every tick: a secret would sit there in clear.
    // Sealing asks for the key only when a secret value is there, so the question is answered
    // without one.
    if (holdsSecret(task, parsed)) {
      throw new ValidationError(
        `Schedule ${name}: its params hold a secret field of ${task.name}, which a schedule would keep in clear; leave it out (the task can read it from its own configuration).`,
      );
    }
    const next = nextTick(timing, new Date());
    if (!next) throw new ValidationError(`Schedule ${name}: its cron expression has no future date.`);
    return {
      name,
      task: task.name,
      ...timing,
      params,
      owner: input.owner ?? null,
      priority: input.priority ?? task.priority ?? 0,
      catchUpSeconds,
      nextAt: next.toISOString(),
      source: options.source ?? 'runtime',
      createdBy: options.by ?? null,
    };
  }

  /** Every schedule with its next `count` run times. */
  async list(count = 5): Promise<ScheduleView[]> {
    const schedules = await this.#queue.jobs.store.listSchedules();
    // From its nextAt: the tick it fires next (now, if it is due), then the ones after.
    return schedules.map((schedule) => ({
      ...schedule,
      nextRuns: upcomingTicks(schedule, new Date(Date.parse(schedule.nextAt) - 1), count).map((at) => at.toISOString()),
    }));
  }

  /** Deletes a schedule (the jobs it started stay); false when there was none. */
  remove(name: string): Promise<boolean> {
    return this.#queue.jobs.store.removeSchedule(name);
  }
}

class SecretFound extends Error {}

function holdsSecret(task: AnyTask, parsed: unknown): boolean {
  try {
    sealSecrets(task.params, parsed, { jobId: 'schedule', owner: null }, () => {
      throw new SecretFound();
    });
    return false;
  } catch (error) {
    if (error instanceof SecretFound) return true;
    throw error;
  }
}
