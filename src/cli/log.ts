import { createLogger, type Logger } from '../logger.ts';
import { CliError, EXIT } from './errors.ts';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The environment variable that chooses the log format when `--log-format` does not. */
export const LOG_FORMAT_ENV = 'UNDERWAY_LOG_FORMAT';

/**
 * How `serve` and `worker` log: `--log-format`, else UNDERWAY_LOG_FORMAT, else readable lines
 * when stderr is a terminal (a person reads them) and JSON lines otherwise (a log collector does).
 */
export function logFormatOf(flag: LogFormat | undefined): LogFormat {
  if (flag) return flag;
  const fromEnv = process.env[LOG_FORMAT_ENV];
  if (fromEnv) {
    if ((LOG_FORMATS as readonly string[]).includes(fromEnv)) return fromEnv as LogFormat;
    throw new CliError(`${LOG_FORMAT_ENV} must be json or pretty, not "${fromEnv}".`, EXIT.badInput);
  }
  return process.stderr.isTTY ? 'pretty' : 'json';
}

/** The CLI's logger; the readable format's module is loaded only when it is used. */
export async function cliLogger(flag: LogFormat | undefined): Promise<Logger> {
  if (logFormatOf(flag) === 'json') return createLogger();
  const { prettyDestination } = await import('./pretty-log.ts');
  return createLogger({ destination: prettyDestination() });
}
