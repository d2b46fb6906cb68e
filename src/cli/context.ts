import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openStore, type UnderwayConfig } from '../config/config.ts';
import { toError, UnderwayError, ValidationError } from '../core/errors.ts';
import { isTask } from '../core/task.ts';
import { createQueue, type Queue } from '../queue/queue.ts';
import type { Store } from '../store/store.ts';

/** Exit codes, the same for every command, so scripts can branch on them. */
export const EXIT = {
  ok: 0,
  /** The job failed (watch, start --watch). */
  jobFailed: 1,
  /** Bad input: unknown task, invalid params or JSON, unknown job, wrong usage. */
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

const CONFIG_NAMES = ['underway.config.ts', 'underway.config.mts', 'underway.config.js', 'underway.config.mjs'];

export interface GlobalOptions {
  config?: string;
}

/** Finds and imports the config module; its default export (or `config` export) is the config. */
export async function loadConfig(options: GlobalOptions): Promise<{ config: UnderwayConfig; path: string }> {
  const path = options.config
    ? resolve(options.config)
    : CONFIG_NAMES.map((name) => resolve(name)).find((candidate) => existsSync(candidate));
  if (!path) {
    throw new CliError(
      `No config found: create underway.config.ts here (export default defineConfig({ tasks: [...] })) or pass --config <file>.`,
      EXIT.badConfig,
    );
  }
  if (!existsSync(path)) throw new CliError(`The config file ${path} does not exist.`, EXIT.badConfig);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`The config file ${path} could not be loaded: ${toError(error).message}`, EXIT.badConfig);
  }
  const config = (module.default ?? module.config) as UnderwayConfig | undefined;
  if (!config || !Array.isArray(config.tasks) || !config.tasks.every(isTask)) {
    throw new CliError(
      `The config file ${path} must export default defineConfig({ tasks: [...] }) with tasks made by defineTask.`,
      EXIT.badConfig,
    );
  }
  return { config, path };
}

export interface Session {
  config: UnderwayConfig;
  configPath: string;
  store: Store;
  queue: Queue;
  close(): Promise<void>;
}

/** Loads the config and opens its store: what every command but `--help` needs. */
export async function openSession(options: GlobalOptions): Promise<Session> {
  const { config, path } = await loadConfig(options);
  let store: Store;
  try {
    store = openStore(config);
  } catch (error) {
    throw asCliError(error);
  }
  const queue = createQueue({ store, tasks: config.tasks });
  return { config, configPath: path, store, queue, close: () => store.close() };
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

/** Parses JSON given on the command line, saying where it broke. */
export function parseJsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${name} is not valid JSON: ${toError(error).message}`, EXIT.badInput);
  }
}
