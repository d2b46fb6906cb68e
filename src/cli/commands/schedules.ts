import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { MAX_PRIORITY, MIN_PRIORITY } from '../../core/job.ts';
import { Schedules, type ScheduleView } from '../../schedule/schedules.ts';
import { type GlobalOptions, openSession, parseJsonOption } from '../context.ts';
import { wholeNumber } from '../options.ts';
import { printable, table } from '../terminal.ts';

interface SetFlags {
  task: string;
  cron?: string;
  every?: number;
  timezone?: string;
  params?: string;
  owner?: string;
  priority?: number;
  catchUp?: number;
}

/** `underway schedules` and `underway schedule set | remove`: recurring starts of a task's jobs. */
export function registerScheduleCommands(program: Command): void {
  program
    .command('schedules')
    .description('list the recurring schedules with their next run times')
    .option('--json', 'print them as JSON, one per line')
    .action(async (options: { json?: boolean }, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const schedules = await new Schedules(session.queue).list(3);
        if (options.json) {
          for (const schedule of schedules) process.stdout.write(`${JSON.stringify(schedule)}\n`);
        } else if (schedules.length === 0) {
          process.stdout.write('No schedules.\n');
        } else {
          const rows = schedules.map((schedule) =>
            [schedule.name, schedule.task, timingOf(schedule), schedule.nextRuns[0] ?? '—', schedule.source].map(
              (cell) => printable(cell),
            ),
          );
          process.stdout.write(`${table([['NAME', 'TASK', 'WHEN', 'NEXT RUN (UTC)', 'FROM'], ...rows])}\n`);
        }
      } finally {
        await session.close();
      }
    });

  const schedule = program.command('schedule').description('add, replace or remove a recurring schedule');
  schedule
    .command('set <name>')
    .description('add a schedule, or replace the one of this name (workers pick it up within a second)')
    .requiredOption('--task <task>', 'the task whose jobs it starts')
    .option('--cron <expression>', 'when, as a cron expression (5 fields, or 6 with seconds first)')
    .option('--every <seconds>', 'or every this many seconds', wholeNumber(1))
    .option('--timezone <zone>', 'the IANA time zone the cron expression is read in (default UTC)')
    .option('--params <json>', 'the params of every job it starts, as JSON (default {})')
    .option('--owner <id>', 'who its jobs belong to')
    .option(
      '--priority <n>',
      `its jobs' priority (${MIN_PRIORITY} to ${MAX_PRIORITY}; default the task's)`,
      wholeNumber(MIN_PRIORITY, MAX_PRIORITY, `a whole number from ${MIN_PRIORITY} to ${MAX_PRIORITY}`),
    )
    .option('--catch-up <seconds>', 'run ticks missed by up to this many seconds (default 60)', wholeNumber(0))
    .action(async (name: string, flags: SetFlags, command: Command) => {
      const params = flags.params === undefined ? undefined : parseJsonOption('--params', flags.params);
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const saved = await new Schedules(session.queue).save(
          {
            name,
            task: flags.task,
            cron: flags.cron,
            everySeconds: flags.every,
            timezone: flags.timezone,
            params,
            owner: flags.owner ?? null,
            priority: flags.priority,
            catchUpSeconds: flags.catchUp,
          },
          { source: 'runtime', by: `cli:${whoAmI()}` },
        );
        process.stdout.write(
          `Schedule ${printable(saved.name)} starts ${printable(saved.task)} ${timingOf(saved)}; next at ${saved.nextAt}.\n`,
        );
      } finally {
        await session.close();
      }
    });
  schedule
    .command('remove <name>')
    .description('remove a schedule (the jobs it started stay)')
    .action(async (name: string, _options: unknown, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const removed = await new Schedules(session.queue).remove(name);
        process.stdout.write(
          removed ? `Removed schedule ${printable(name)}.\n` : `There was no schedule ${printable(name)}.\n`,
        );
      } finally {
        await session.close();
      }
    });
}

function timingOf(schedule: Pick<ScheduleView, 'cron' | 'everySeconds' | 'timezone'>): string {
  if (schedule.everySeconds !== null) return `every ${schedule.everySeconds} s`;
  return `at "${schedule.cron}" (${schedule.timezone ?? 'UTC'})`;
}

function whoAmI(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
