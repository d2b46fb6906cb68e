import { Command, CommanderError } from 'commander';
import { registerJobCommands } from './commands/jobs.ts';
import { registerMaintenanceCommands } from './commands/maintenance.ts';
import { registerRunCommands } from './commands/run.ts';
import { registerWatchCommand } from './commands/watch.ts';
import { asCliError, EXIT } from './context.ts';

/** The `underway` command line. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('underway')
    .description('Long-running background jobs with live progress.')
    .option('-c, --config <file>', 'the config module (default: underway.config.ts here)')
    .showHelpAfterError()
    .exitOverride();
  registerRunCommands(program);
  registerJobCommands(program);
  registerWatchCommand(program);
  registerMaintenanceCommands(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // Help and version exit 0; usage errors (already printed by commander) are bad input.
      process.exitCode = thrown.exitCode === 0 ? EXIT.ok : EXIT.badInput;
      return;
    }
    const error = asCliError(thrown);
    process.stderr.write(`underway: ${error.message}\n`);
    process.exitCode = error.exitCode;
  }
}
