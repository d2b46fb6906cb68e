import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * underway's structured logger (pino, JSON lines on stderr). The level comes from
 * `UNDERWAY_LOG_LEVEL` (default "info"); tests pass "silent".
 */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    { name: options.name ?? 'underway', level: options.level ?? process.env.UNDERWAY_LOG_LEVEL ?? 'info' },
    pino.destination(2),
  );
}
