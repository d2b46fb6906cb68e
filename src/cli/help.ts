import { EXIT } from './errors.ts';
import { LOG_FORMAT_ENV } from './log.ts';

/** The end of `underway --help`: what scripts branch on and what the environment changes. */
export const HELP_AFTER = `
Exit codes:
  ${EXIT.ok}  ok (watch, start --watch: the job succeeded)
  ${EXIT.jobFailed}  the job failed (watch, start --watch)
  ${EXIT.badInput}  bad input: unknown task or job, invalid params or JSON, a bad flag
  ${EXIT.jobCancelled}  the job was cancelled (watch, start --watch)
  ${EXIT.storeProblem}  the store cannot be used: unreachable, locked, full, not underway's
  ${EXIT.badConfig}  the config cannot be loaded or is not an underway config

Environment:
  UNDERWAY_DATA_DIR         the default SQLite store's folder (default ./data)
  UNDERWAY_SECRET_KEY       the key that seals secret params
  UNDERWAY_SECRET_KEY_FILE  where that key is kept otherwise (default
                            <data folder>/secret.key, made when missing)
  UNDERWAY_LOG_LEVEL        trace, debug, info (default), warn, error, silent
  ${LOG_FORMAT_ENV.padEnd(24)}  json or pretty, as --log-format
  PORT                      serve's port when --port is not given (default 3000)
  NO_COLOR                  pretty logs without colours
  DATABASE_URL, PG*         read by your config (postgresStore), not by underway

Examples:
  underway serve --port 8080
  underway worker --concurrency 8 --wait-for-store
  underway start report.monthly --params '{"month":"2026-10"}' --watch
  underway logs <id> --follow | less
`;
