import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger };

/**
 * underway's structured logger (pino, JSON lines on stderr). The level comes from
 * `UNDERWAY_LOG_LEVEL` (default "info"); tests pass "silent". `destination` replaces stderr: the
 * CLI passes its human-readable formatter there when stderr is a terminal.
 */
export function createLogger(options: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    { name: options.name ?? 'underway', level: options.level ?? process.env.UNDERWAY_LOG_LEVEL ?? 'info' },
    // pino's own destination stops writing at EPIPE (stderr piped into a reader that went away).
    options.destination ?? pino.destination(2),
  );
}

/**
 * Logs an outage of the store once when it starts, once when it ends, and at most every
 * `remindMs` (default a minute) while it lasts: a database down for ten minutes was one error
 * line with a 2.4 KB stack every second, from each of the worker's claim loop, reaper and
 * heartbeat. Share one between the loops that use the same store. `failed` returns how many
 * failures in a row there have been, for a backoff.
 *
 *   available ──failed()──▶ unavailable ──succeeded()──▶ available
 *     warn "store unavailable: <why>"      info "store available again after N failures in T"
 *     (then again at most every remindMs, with the latest reason)
 */
export class OutageLog {
  readonly #log: Logger;
  readonly #remindMs: number;
  #failures = 0;
  #since = 0;
  #lastLogged = 0;

  constructor(log: Logger, options: { remindMs?: number } = {}) {
    this.#log = log;
    this.#remindMs = options.remindMs ?? 60_000;
  }

  /** Failures in a row so far (0 while the store works). */
  get failures(): number {
    return this.#failures;
  }

  /** Records a failure; logs it when it is the first of a run or the reminder is due. */
  failed(error: Error, now = Date.now()): number {
    this.#failures++;
    if (this.#failures === 1) this.#since = now;
    if (this.#failures === 1 || now - this.#lastLogged >= this.#remindMs) {
      // A StoreError says what is wrong in its message; its stack (pg's or SQLite's insides)
      // adds nothing. Anything else is unexpected: keep the stack.
      const code = (error as { code?: unknown }).code;
      const fields = error.name === 'StoreError' && typeof code === 'string' ? { code } : { err: error };
      const still =
        this.#failures === 1 ? '' : ` (still: ${this.#failures} failures in ${duration(now - this.#since)})`;
      this.#log.warn({ ...fields, failures: this.#failures }, `store unavailable${still}: ${error.message}`);
      this.#lastLogged = now;
    } else {
      this.#log.debug({ failures: this.#failures }, `store still unavailable: ${error.message}`);
    }
    return this.#failures;
  }

  /** Records a success; logs the recovery when it ends a run of failures. */
  succeeded(now = Date.now()): void {
    if (this.#failures === 0) return;
    const failures = this.#failures;
    this.#failures = 0;
    this.#log.info(
      { failures },
      `store available again after ${failures} failure${failures === 1 ? '' : 's'} in ${duration(now - this.#since)}`,
    );
  }
}

function duration(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
