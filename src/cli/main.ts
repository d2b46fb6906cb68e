import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { registerBulkCommand } from './commands/bulk.ts';
import { registerJobCommands } from './commands/jobs.ts';
import { registerMaintenanceCommands } from './commands/maintenance.ts';
import { registerPauseCommands } from './commands/pause.ts';
import { registerRunCommands } from './commands/run.ts';
import { registerScheduleCommands } from './commands/schedules.ts';
import { registerWatchCommand } from './commands/watch.ts';
import { asCliError, EXIT } from './errors.ts';
import { HELP_AFTER } from './help.ts';
import { LOG_FORMAT_ENV, LOG_FORMATS } from './log.ts';
import { handleClosedPipes } from './pipes.ts';

/** The `underway` command line. */
export async function main(argv: readonly string[]): Promise<void> {
  handleClosedPipes();
  const program = new Command('underway')
    .description('Long-running background jobs with live progress.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('-c, --config <file>', 'the config module (default: underway.config.ts here)')
    .addOption(
      new Option(
        '--log-format <format>',
        `logs of serve and worker: pretty (default on a terminal) or json (default otherwise; also ${LOG_FORMAT_ENV})`,
      ).choices(LOG_FORMATS),
    )
    .addHelpText('after', HELP_AFTER)
    .showHelpAfterError()
    .exitOverride();
  registerRunCommands(program);
  registerJobCommands(program);
  registerBulkCommand(program);
  registerWatchCommand(program);
  registerMaintenanceCommands(program);
  registerPauseCommands(program);
  registerScheduleCommands(program);
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

/** The version in underway's package.json: two folders up, from src/cli and from dist/cli alike. */
function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
