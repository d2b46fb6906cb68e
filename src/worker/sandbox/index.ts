import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DEFAULT_MAX_LOG_LINES } from '../../core/job.ts';
import type { AnyTask } from '../../core/task.ts';
import { createLogger, type Logger } from '../../logger.ts';
import { inProcessRunner } from '../in-process-runner.ts';
import type { Execution, JobRunner, RunResult } from '../runner.ts';
import { childEnv, DEFAULT_ENV_ALLOW } from './env.ts';
import { Pool, type Profile } from './pool.ts';

export { DEFAULT_ENV_ALLOW } from './env.ts';
export type { ChildMessage, ParentMessage } from './protocol.ts';
export { PROTOCOL_VERSION } from './protocol.ts';

export interface SandboxRunnerOptions {
  /**
   * The module the children load once: an absolute path or file URL. Its exports are searched for
   * tasks: an `underway.config.ts` default export (`{ tasks }`), arrays of tasks, or tasks.
   */
  module: string | URL;
  /** Children alive at most; jobs beyond it wait for one. Default: the CPU count, at least 4 (the worker's default concurrency). */
  size?: number | undefined;
  /**
   * A child is replaced after this many jobs. Default 1,000: a replacement costs ~0.35 s of CPU
   * (Node + tsx), ~0.35 ms a job at that rate; bench/sandbox.ts shows every 100 costing 10x in
   * throughput of empty jobs. 1 forks a fresh process per job.
   */
  maxJobsPerChild?: number | undefined;
  /**
   * A child whose resident memory passes this after a job is replaced. Default 512 MB. This bounds
   * what a warm child carries from job to job; `rssMb` bounds what one job adds on top of it.
   */
  maxRssMb?: number | undefined;
  /**
   * Memory limit of a job, in MB, for tasks that set none (`sandbox.rssMb`): the job fails with
   * MEMORY_LIMIT (not retried) once the memory it added passes it, sampled every 250 ms (and by
   * the kernel's memory.max where cgroups allow), and its child is replaced. Unlike `heapMb` it
   * counts Buffers and native memory. Default: none. See docs/sandbox.md#memory.
   */
  rssMb?: number | undefined;
  /** Heap limit for tasks that set none (`--max-old-space-size`). Default: Node's. */
  heapMb?: number | undefined;
  /** Names of environment variables copied to every child, besides DEFAULT_ENV_ALLOW. */
  env?: readonly string[] | undefined;
  /** Environment variables set in every child, with these values. */
  setEnv?: Readonly<Record<string, string>> | undefined;
  /** More Node flags for the children. (tsx is added by itself when TypeScript must load.) */
  execArgv?: readonly string[] | undefined;
  /** Working folder of the children. Default: the worker's. */
  cwd?: string | undefined;
  /** After SIGTERM, how long a child (and its process group) gets before SIGKILL. Default 2 s. */
  termGraceMs?: number | undefined;
  /**
   * Hold each job's processes in a cgroup where Linux allows it (cgroup v2, writable), so that
   * cancel, timeout and the job's end reach even those that left the process group. False: use
   * process groups only. Default true. See docs/sandbox.md#process-trees.
   */
  cgroups?: boolean | undefined;
  /** Where the runner says which way it holds process trees (once per process). Default: underway's logger. */
  logger?: Logger | undefined;
  /** How long a child may take to load the module. Default 30 s. */
  startTimeoutMs?: number | undefined;
  /** Output lines kept per job (the rest is dropped, with one line saying so). Default 10,000. */
  maxLogLines?: number | undefined;
}

/** The sandboxed runner, with a look at its children for tests and diagnostics. */
export interface SandboxRunner extends JobRunner {
  /** Process ids of the live children. */
  pids(): number[];
}

const TS_FILE = /\.(ts|mts|cts|tsx)$/;
const MIB = 1024 * 1024;

/**
 * Runs each job in a warm, pooled Node child process, so that a leak, a crash, an endless loop or
 * `process.exit()` in task code ends that job and not the worker. Tasks with `sandbox: false` run
 * in-process. See docs/sandbox.md.
 *
 * @example
 * const worker = createWorker({
 *   store, tasks: config.tasks,
 *   runner: sandboxRunner({ module: new URL('./underway.config.ts', import.meta.url) }),
 * }).start();
 */
export function sandboxRunner(options: SandboxRunnerOptions): SandboxRunner {
  if (options.rssMb !== undefined && (!Number.isInteger(options.rssMb) || options.rssMb < 1)) {
    throw new TypeError(`sandboxRunner: rssMb must be a whole number >= 1, not ${options.rssMb}.`);
  }
  const modulePath = toPath(options.module);
  const moduleHref = pathToFileURL(modulePath).href;
  // Running from source, the child's own entry is TypeScript too; built, only a .ts module needs tsx.
  const entry = fileURLToPath(
    new URL(`./child-main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url),
  );
  const needsTsx = TS_FILE.test(entry) || TS_FILE.test(modulePath);
  const tsx = needsTsx ? ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] : [];
  const profiles = new Map<string, Profile>();
  const inProcess = inProcessRunner();

  const profileOf = (task: AnyTask): Profile => {
    const own = task.sandbox || {};
    const heapMb = own.heapMb ?? options.heapMb;
    const taskEnv = [...new Set(own.env ?? [])].sort();
    const key = JSON.stringify([heapMb ?? null, taskEnv]);
    let profile = profiles.get(key);
    if (!profile) {
      const allow = [...DEFAULT_ENV_ALLOW, ...(options.env ?? []), ...taskEnv];
      profile = { key, heapMb, env: () => childEnv(allow, options.setEnv) };
      profiles.set(key, profile);
    }
    return profile;
  };

  const limitOf = (task: AnyTask): number | null => {
    const mb = (task.sandbox ? task.sandbox.rssMb : undefined) ?? options.rssMb;
    return mb === undefined ? null : mb * MIB;
  };

  const pool = new Pool({
    size: Math.max(1, options.size ?? Math.max(4, availableParallelism())),
    maxJobsPerChild: Math.max(1, options.maxJobsPerChild ?? 1_000),
    maxRssBytes: (options.maxRssMb ?? 512) * MIB,
    cgroups: options.cgroups ?? true,
    logger: options.logger ?? createLogger(),
    spec: (profile, tmpDir) => ({
      entry,
      module: moduleHref,
      execArgv: [
        ...tsx,
        ...(profile.heapMb ? [`--max-old-space-size=${profile.heapMb}`] : []),
        ...(options.execArgv ?? []),
      ],
      env: profile.env(),
      cwd: options.cwd ?? process.cwd(),
      tmpDir,
      heapMb: profile.heapMb,
      termGraceMs: options.termGraceMs ?? 2_000,
      startTimeoutMs: options.startTimeoutMs ?? 30_000,
      maxLogLines: options.maxLogLines ?? DEFAULT_MAX_LOG_LINES,
    }),
  });

  return {
    run(execution: Execution): Promise<RunResult> {
      if (execution.task.sandbox === false) return inProcess.run(execution);
      return pool.run(execution, profileOf(execution.task), limitOf(execution.task));
    },
    close: () => pool.close(),
    pids: () => pool.pids(),
  };
}

function toPath(module: string | URL): string {
  if (module instanceof URL || module.startsWith('file:')) return fileURLToPath(module);
  if (!isAbsolute(module)) {
    throw new TypeError(`sandboxRunner: module must be an absolute path or a file URL, not "${module}".`);
  }
  return resolve(module);
}
