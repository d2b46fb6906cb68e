import { join } from 'node:path';
import type { AnyTask, Retention } from '../core/task.ts';
import type { HttpOptions } from '../http/options.ts';
import type { QueueLimits } from '../queue/limits.ts';
import type { ScheduleInput } from '../schedule/schedules.ts';
import { sqliteStore } from '../store/sqlite/index.ts';
import type { Store } from '../store/store.ts';

/** A schedule in the config: a `TaskSchedule` naming its task. */
export type ScheduleDefinition = ScheduleInput;

/**
 * What an `underway.config.ts` exports (default export), read by the CLI (`underway serve`,
 * `worker`, `start`, …). Everything but `tasks` has a default, so a first config is three lines.
 *
 * @example
 * import { defineConfig } from 'underway/config';
 * import { backup } from './tasks/backup.ts';
 * export default defineConfig({ tasks: [backup] });
 */
export interface UnderwayConfig {
  tasks: readonly AnyTask[];
  /**
   * Recurring starts of these tasks besides the ones tasks define themselves (`defineTask({
   * schedule })`), saved to the store at every worker start (docs/scheduling.md).
   */
  schedules?: readonly ScheduleDefinition[] | undefined;
  /**
   * Limits per queue (a task's `queue`, else its name), held across every worker and machine:
   * `concurrency` running jobs at most, `concurrencyPerKey` per concurrency key, `rate` starts per
   * window, `ratePerKey` starts per window per key (docs/scheduling.md). `underway serve` reads
   * them too, to say why a job waits.
   *
   * @example
   * queues: { exports: { concurrency: 2, concurrencyPerKey: 1, rate: { starts: 10, perSeconds: 60 } } }
   */
  queues?: Readonly<Record<string, QueueLimits>> | undefined;
  /**
   * Where jobs live. Default: SQLite at `$UNDERWAY_DATA_DIR/underway.db` (`./data`). A function is
   * called once per process, so a config can be imported without opening anything.
   */
  store?: Store | (() => Store) | undefined;
  worker?:
    | {
        /** Jobs run at once per worker process. Default 4. */
        concurrency?: number | undefined;
        /** Jobs claimed ahead of free slots, for queues of many short jobs. Default 0 (see WorkerOptions.prefetch). */
        prefetch?: number | undefined;
        leaseMs?: number | undefined;
        pollMs?: number | undefined;
        /** Seconds a stopping worker waits for running jobs before handing them back. Default 10. */
        shutdownGraceSeconds?: number | undefined;
        cancelGraceMs?: number | undefined;
        maxLogLines?: number | undefined;
        /** The sandbox children's settings (docs/sandbox.md). */
        sandbox?:
          | {
              /** Memory limit of a job in MB, for tasks that set no `sandbox.rssMb`; `--max-rss-mb` wins. Default: none. */
              rssMb?: number | undefined;
            }
          | undefined;
        /**
         * Prometheus metrics of `underway worker` processes on a small server of their own
         * (`GET /metrics`, `GET /healthz`); `--metrics-port` and `--metrics-host` win. Default:
         * none (nothing listens). `underway serve` has its own `/metrics` and ignores this.
         */
        metrics?:
          | {
              /** Port to listen on; 0 picks a free one (logged). */
              port?: number | undefined;
              /** Address to listen on. Default 127.0.0.1: this machine only. */
              host?: string | undefined;
            }
          | undefined;
      }
    | undefined;
  /** How long finished jobs are kept: succeeded 7 days, failed and cancelled 30 days by default. */
  retention?: Retention | undefined;
  /** Options for the HTTP API (and later the dashboard): see `HttpOptions` in underway/http and docs/http.md. */
  http?: HttpOptions | undefined;
}

export function defineConfig(config: UnderwayConfig): UnderwayConfig {
  return config;
}

export const DEFAULT_RETENTION = { succeededDays: 7, failedDays: 30 } as const;

/** The data folder: `UNDERWAY_DATA_DIR`, default `./data`. */
export function dataDir(): string {
  return process.env.UNDERWAY_DATA_DIR || './data';
}

/** Opens the configured store, or the default embedded one. */
export function openStore(config: Pick<UnderwayConfig, 'store'>): Store {
  if (typeof config.store === 'function') return config.store();
  if (config.store) return config.store;
  return sqliteStore({ file: join(dataDir(), 'underway.db') });
}

/** The retention to clean up with: the config's, each task's own where it says. */
export function retentionOf(config: UnderwayConfig): {
  succeededDays: number;
  failedDays: number;
  tasks: Record<string, Retention>;
} {
  const tasks: Record<string, Retention> = {};
  for (const task of config.tasks) if (task.retention) tasks[task.name] = task.retention;
  // Not a spread: a setting given as `undefined` keeps its default.
  return {
    succeededDays: config.retention?.succeededDays ?? DEFAULT_RETENTION.succeededDays,
    failedDays: config.retention?.failedDays ?? DEFAULT_RETENTION.failedDays,
    tasks,
  };
}
