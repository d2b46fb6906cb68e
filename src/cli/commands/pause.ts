import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { limitsText } from '../../queue/limits.ts';
import type { PauseSubject } from '../../queue/queue.ts';
import type { Pause } from '../../store/store.ts';
import { type GlobalOptions, openSession } from '../context.ts';
import { CliError, EXIT } from '../errors.ts';
import { printable, table } from '../terminal.ts';

/**
 * `underway pause | resume | paused | queues`: stop and restart the claiming of a task's jobs, or
 * of a whole queue's, on every worker; and how full each queue is.
 */
export function registerPauseCommands(program: Command): void {
  program
    .command('pause [task]')
    .description(
      "stop claiming a task's (or --queue's) jobs on every worker (running ones finish; starting them still works)",
    )
    .option('--queue <name>', 'pause a whole queue: every task whose jobs wait in it')
    .option('--reason <text>', 'why, shown with the pause (at most 500 characters)')
    .action(async (task: string | undefined, options: { queue?: string; reason?: string }, command: Command) => {
      const { subject, label } = subjectOf(task, options.queue);
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const pause = await session.queue.pause(subject, { by: `cli:${whoAmI()}`, reason: options.reason ?? null });
        process.stdout.write(`${label} is paused ${describe(pause)}.\n`);
      } finally {
        await session.close();
      }
    });

  program
    .command('resume [task]')
    .description("claim a paused task's (or --queue's) jobs again (workers look within their poll interval)")
    .option('--queue <name>', 'resume a whole queue')
    .action(async (task: string | undefined, options: { queue?: string }, command: Command) => {
      const { subject, label } = subjectOf(task, options.queue);
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const resumed = await session.queue.resume(subject);
        process.stdout.write(resumed ? `${label} is resumed.\n` : `${label} was not paused.\n`);
      } finally {
        await session.close();
      }
    });

  program
    .command('paused')
    .description('list the paused tasks and queues: who paused them, when and why')
    .option('--json', 'print them as JSON, one per line')
    .action(async (options: { json?: boolean }, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const pauses = await session.queue.pauses();
        if (options.json) {
          for (const pause of pauses) process.stdout.write(`${JSON.stringify(pause)}\n`);
        } else if (pauses.length === 0) {
          process.stdout.write('Nothing is paused.\n');
        } else {
          const rows = pauses.map((pause) => [
            pause.kind,
            pause.name,
            pause.by ?? '',
            pause.at.slice(0, 19).replace('T', ' '),
            pause.reason ?? '',
          ]);
          process.stdout.write(
            `${table([['KIND', 'NAME', 'BY', 'SINCE (UTC)', 'REASON'], ...rows.map((row) => row.map((cell) => printable(cell)))])}\n`,
          );
        }
      } finally {
        await session.close();
      }
    });

  program
    .command('queues')
    .description("list the queues: their tasks, limits (the config's queues), pause, and running and due jobs now")
    .option('--json', 'print them as JSON, one per line')
    .action(async (options: { json?: boolean }, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const queues = await session.queue.queues();
        if (options.json) {
          for (const queue of queues) process.stdout.write(`${JSON.stringify(queue)}\n`);
          return;
        }
        const rows = queues.map((queue) => [
          queue.name,
          queue.tasks.join(', '),
          limitsText(queue.limit),
          String(queue.usage.running),
          String(queue.usage.due),
          queue.paused ? `paused ${describe(queue.paused)}` : '',
        ]);
        process.stdout.write(
          `${table([['QUEUE', 'TASKS', 'LIMITS', 'RUNNING', 'DUE', 'STATE'], ...rows.map((row) => row.map((cell) => printable(cell)))])}\n`,
        );
      } finally {
        await session.close();
      }
    });
}

/** A task or `--queue`, exactly one: exit 2 otherwise. */
function subjectOf(task: string | undefined, queue: string | undefined): { subject: PauseSubject; label: string } {
  if ((task === undefined) === (queue === undefined)) {
    throw new CliError('Name a task, or a queue with --queue <name> (not both).', EXIT.badInput);
  }
  if (queue !== undefined) return { subject: { queue }, label: `Queue ${printable(queue)}` };
  return { subject: task as string, label: printable(task as string) };
}

/** "since 2026-12-01 18:50:00 UTC by cli:ann (reason)", for the pause in force. */
function describe(pause: Pause): string {
  const since = `since ${pause.at.slice(0, 19).replace('T', ' ')} UTC`;
  const by = pause.by ? ` by ${printable(pause.by)}` : '';
  const why = pause.reason ? ` (${printable(pause.reason)})` : '';
  return `${since}${by}${why}`;
}

function whoAmI(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
