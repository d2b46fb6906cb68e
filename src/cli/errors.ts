import { toError, UnderwayError, ValidationError } from '../core/errors.ts';

/** Exit codes, the same for every command, so scripts can branch on them (listed in `--help`). */
export const EXIT = {
  ok: 0,
  /** The job failed (watch, start --watch). */
  jobFailed: 1,
  /** Bad input: unknown task, invalid params or JSON, unknown job, wrong usage, a bad flag value. */
  badInput: 2,
  /** The job was cancelled (watch). */
  jobCancelled: 3,
  /** The store could not be used: locked, unreachable, not an underway database. */
  storeProblem: 4,
  /** The config module could not be loaded. */
  badConfig: 5,
} as const;

/** An error that ends the command with a message and an exit code, without a stack trace. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Maps what went wrong to a message and an exit code. */
export function asCliError(thrown: unknown): CliError {
  if (thrown instanceof CliError) return thrown;
  const error = toError(thrown);
  if (error instanceof ValidationError) {
    const reasons = error.issues.map((issue) => `\n  - ${issue}`).join('');
    return new CliError(`${error.message}${reasons}`, EXIT.badInput);
  }
  if (error instanceof UnderwayError) {
    if (error.code === 'NOT_FOUND' || error.code === 'CONFLICT') return new CliError(error.message, EXIT.badInput);
    return new CliError(error.message, EXIT.storeProblem);
  }
  return new CliError(error.stack ?? error.message, 70);
}
