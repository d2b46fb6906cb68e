import { openStore, type UnderwayConfig } from '../config/config.ts';
import { toError } from '../core/errors.ts';
import type { Jobs } from '../jobs/jobs.ts';
import { createQueue, type Queue } from '../queue/queue.ts';
import type { Store } from '../store/store.ts';
import { asCliError, CliError, EXIT } from './errors.ts';
import { loadConfig } from './load-config.ts';
import type { LogFormat } from './log.ts';

/** The options every command takes (before the command's name). */
export interface GlobalOptions {
  config?: string;
  logFormat?: LogFormat;
}

export interface Session {
  config: UnderwayConfig;
  configPath: string;
  store: Store;
  queue: Queue;
  /** The Jobs layer over the store: every command reads and changes jobs through it. */
  jobs: Jobs;
  close(): Promise<void>;
}

/** Loads the config and opens its store: what every command but `--help` needs. */
export async function openSession(options: GlobalOptions): Promise<Session> {
  const { config, path } = await loadConfig(options.config);
  let store: Store;
  try {
    store = openStore(config);
  } catch (error) {
    throw asCliError(error);
  }
  return sessionOf(config, path, store);
}

/** A session over a store already open (serve and worker check it answers first). */
export function sessionOf(config: UnderwayConfig, configPath: string, store: Store): Session {
  const queue = createQueue({ store, tasks: config.tasks, queues: config.queues });
  return { config, configPath, store, queue, jobs: queue.jobs, close: () => store.close() };
}

/** Parses JSON given on the command line, saying where it broke. */
export function parseJsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${name} is not valid JSON: ${toError(error).message}`, EXIT.badInput);
  }
}
