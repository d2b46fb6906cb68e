import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { Pause } from '../../store/store.ts';
import { type GlobalOptions, openSession } from '../context.ts';
import { printable, table } from '../terminal.ts';

/** `underway pause | resume | paused`: stop and restart the claiming of a task's jobs, on every worker. */
export function registerPauseCommands(program: Command): void {
  program
    .command('pause <task>')
    .description("stop claiming a task's jobs on every worker (running ones finish; starting them still works)")
    .option('--reason <text>', 'why, shown with the pause (at most 500 characters)')
    .action(async (task: string, options: { reason?: string }, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const pause = await session.queue.pause(task, { by: `cli:${whoAmI()}`, reason: options.reason ?? null });
        process.stdout.write(`${printable(task)} is paused ${describe(pause)}.\n`);
      } finally {
        await session.close();
      }
    });

  program
    .command('resume <task>')
    .description("claim a paused task's jobs again (workers look within their poll interval)")
    .action(async (task: string, _options: unknown, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const resumed = await session.queue.resume(task);
        process.stdout.write(resumed ? `${printable(task)} is resumed.\n` : `${printable(task)} was not paused.\n`);
      } finally {
        await session.close();
      }
    });

  program
    .command('paused')
    .description('list the paused tasks: who paused them, when and why')
    .option('--json', 'print them as JSON, one per line')
    .action(async (options: { json?: boolean }, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const pauses = await session.queue.pauses();
        if (options.json) {
          for (const pause of pauses) process.stdout.write(`${JSON.stringify(pause)}\n`);
        } else if (pauses.length === 0) {
          process.stdout.write('No task is paused.\n');
        } else {
          const rows = pauses.map((pause) => [
            pause.name,
            pause.by ?? '',
            pause.at.slice(0, 19).replace('T', ' '),
            pause.reason ?? '',
          ]);
          process.stdout.write(
            `${table([['TASK', 'BY', 'SINCE (UTC)', 'REASON'], ...rows.map((row) => row.map((cell) => printable(cell)))])}\n`,
          );
        }
      } finally {
        await session.close();
      }
    });
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
