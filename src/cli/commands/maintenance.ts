import type { Command } from 'commander';
import { retentionOf } from '../../config/config.ts';
import { type GlobalOptions, openSession } from '../context.ts';

/** `cleanup` and `migrate`: what an operator runs by hand or from cron. */
export function registerMaintenanceCommands(program: Command): void {
  program
    .command('cleanup')
    .description('delete finished jobs past their retention (succeeded 7 days, failed/cancelled 30 days by default)')
    .action(async (_options: unknown, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const retention = retentionOf(session.config);
        const removed = await session.jobs.cleanup(retention);
        process.stdout.write(
          `Removed ${removed} finished job${removed === 1 ? '' : 's'} (kept: succeeded ${retention.succeededDays} days, failed and cancelled ${retention.failedDays} days).\n`,
        );
      } finally {
        await session.close();
      }
    });

  program
    .command('migrate')
    .description('create or upgrade the store schema')
    .action(async (_options: unknown, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        await session.store.migrate();
        process.stdout.write(`The ${session.store.kind} store is up to date.\n`);
      } finally {
        await session.close();
      }
    });
}
