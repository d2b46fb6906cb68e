import { toError, ValidationError } from '../core/errors.ts';
import type { Logger } from '../logger.ts';
import type { Queue } from '../queue/queue.ts';
import type { EnqueueInput, NewSchedule, Schedule } from '../store/store.ts';
import { type ScheduleInput, Schedules } from './schedules.ts';
import { dueTicks } from './ticks.ts';

/** Due schedules are looked for at least this often (a schedule added by another process is found within it). */
const CHECK_EVERY_MS = 1_000;

export interface SchedulerOptions {
  queue: Queue;
  /** Schedules from the config and the tasks, saved (added or updated) when the scheduler starts. */
  definitions: readonly ScheduleInput[];
  logger: Logger;
  checkMs?: number | undefined;
}

/**
 * Fires recurring schedules: every process running one looks for due ticks and tries to fire
 * them; the store's compare-and-set (`fireSchedule`) lets exactly one of them add each tick's job,
 * in the transaction that moves the schedule on, so a tick is neither lost to a crash between the
 * two nor fired twice by two processes. Ticks of tasks this process does not know are left to
 * processes that do.
 */
export class Scheduler {
  readonly #queue: Queue;
  readonly #schedules: Schedules;
  /** The defined schedules, checked: saved at start. */
  readonly #records: readonly NewSchedule[];
  readonly #log: Logger;
  readonly #checkMs: number;
  #timer: NodeJS.Timeout | null = null;
  #pass: Promise<void> = Promise.resolve();
  #stopped = false;
  /** The error last logged per schedule, so a schedule that keeps failing is logged once per change, not every second. */
  readonly #lastError = new Map<string, string>();

  /** Checks every defined schedule at once: a bad one throws a ValidationError naming it, before anything is saved. */
  constructor(options: SchedulerOptions) {
    this.#queue = options.queue;
    this.#schedules = new Schedules(options.queue);
    this.#log = options.logger;
    this.#checkMs = options.checkMs ?? CHECK_EVERY_MS;
    this.#records = options.definitions.map((definition) => this.#schedules.check(definition, { source: 'config' }));
    const names = new Set<string>();
    for (const record of this.#records) {
      if (names.has(record.name)) {
        throw new ValidationError(`Two schedules are named ${record.name}: give each its own name.`);
      }
      names.add(record.name);
    }
  }

  /** Saves the defined schedules (adding or updating them), then starts looking for due ticks. */
  async start(): Promise<void> {
    for (const record of this.#records) await this.#queue.jobs.store.saveSchedule(record);
    if (this.#records.length > 0) {
      this.#log.info({ schedules: this.#records.map((record) => record.name) }, 'schedules saved');
    }
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#pass;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#pass = this.#run().then((nextMs) => this.#schedule(nextMs));
    }, ms);
    this.#timer.unref();
  }

  /** One pass: fires what is due; returns when to look again (the earliest nextAt, at most checkMs away). */
  async #run(): Promise<number> {
    let schedules: Schedule[];
    try {
      schedules = await this.#queue.jobs.store.listSchedules();
    } catch (error) {
      // Once per outage (the worker's own loops report the store's state too), not every second.
      this.#once('', `could not read the schedules: ${toError(error).message}`);
      return this.#checkMs;
    }
    this.#lastError.delete('');
    let wait = this.#checkMs;
    for (const schedule of schedules) {
      if (this.#stopped) break;
      if (!this.#queue.tasks.get(schedule.task)) continue; // Another process's task.
      const fired = await this.#fire(schedule);
      const nextAt = fired ?? Date.parse(schedule.nextAt);
      wait = Math.min(wait, Math.max(0, nextAt - Date.now()));
    }
    return wait;
  }

  /** Fires one schedule's due ticks if nobody else has; returns its next tick's time, or null if untouched. */
  async #fire(schedule: Schedule): Promise<number | null> {
    const now = new Date();
    const due = dueTicks(schedule, new Date(schedule.nextAt), now, schedule.catchUpSeconds);
    if (!due) return null;
    const jobs: EnqueueInput[] = [];
    for (const tick of due.fire) {
      try {
        jobs.push(this.#jobFor(schedule, tick));
      } catch (error) {
        // The task's schema changed under a saved schedule: that tick cannot start a job. It is
        // passed (not retried every second) and said once.
        this.#once(schedule.name, `tick ${tick.toISOString()} started no job: ${toError(error).message}`);
      }
    }
    try {
      const added = await this.#queue.jobs.store.fireSchedule({
        name: schedule.name,
        expectedNextAt: schedule.nextAt,
        // A cron with no more dates: parked far away (it can be updated or removed).
        nextAt: (due.nextAt ?? new Date(8.64e15)).toISOString(),
        lastTickAt: due.lastTick.toISOString(),
        jobs,
      });
      if (added && due.skipped > 0) {
        this.#log.warn(
          { schedule: schedule.name, skipped: due.skipped, catchUpSeconds: schedule.catchUpSeconds },
          'ticks missed while no worker ran were skipped',
        );
      }
      if (added) this.#lastError.delete(schedule.name);
      return (due.nextAt ?? new Date(8.64e15)).getTime();
    } catch (error) {
      this.#once(schedule.name, `could not fire: ${toError(error).message}`);
      return null;
    }
  }

  #jobFor(schedule: Schedule, tick: Date): EnqueueInput {
    return this.#queue.prepare(schedule.task, schedule.params as never, {
      owner: schedule.owner,
      priority: schedule.priority,
      // The tick, in the job: its dedupe key names the schedule and the tick it is for.
      dedupeKey: `schedule:${schedule.name}:${tick.toISOString()}`,
      runAt: tick,
    }).input;
  }

  #once(name: string, message: string): void {
    if (this.#lastError.get(name) === message) return;
    this.#lastError.set(name, message);
    if (name === '') this.#log.warn(message);
    else this.#log.error({ schedule: name }, message);
  }
}

/** The schedules a set of tasks define themselves, plus the config's, as one list. */
export function scheduleDefinitions(
  tasks: readonly { name: string; schedule?: unknown }[],
  extra: readonly ScheduleInput[] = [],
): ScheduleInput[] {
  const own = tasks.flatMap((task) => {
    const schedule = task.schedule as ScheduleInput | readonly ScheduleInput[] | undefined;
    if (!schedule) return [];
    const list = (Array.isArray(schedule) ? schedule : [schedule]) as ScheduleInput[];
    return list.map((entry) => ({ ...entry, task: task.name }));
  });
  return [...own, ...extra];
}
