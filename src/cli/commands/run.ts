import { type Command, InvalidArgumentError } from 'commander';
import { retentionOf } from '../../config/config.ts';
import { toError } from '../../core/errors.ts';
import { createUnderway, serveHttp } from '../../http/index.ts';
import { createLogger, type Logger } from '../../logger.ts';
import type { Store } from '../../store/store.ts';
import type { JobRunner } from '../../worker/runner.ts';
import { sandboxRunner } from '../../worker/sandbox/index.ts';
import { createWorker, type Worker } from '../../worker/worker.ts';
import { type GlobalOptions, openSession, type Session } from '../context.ts';

const HOUR_MS = 3_600_000;

/** `underway worker` and `underway serve`: long-running processes that stop gracefully. */
export function registerRunCommands(program: Command): void {
  program
    .command('worker')
    .description('run a worker: claim and run jobs until stopped (SIGTERM/SIGINT stop it gracefully)')
    .option('-n, --concurrency <n>', 'jobs run at once', parseCount)
    .option('--prefetch <n>', PREFETCH_HELP, parseCountOrZero)
    .action(async (options: WorkerFlags, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      const log = createLogger();
      const worker = startWorker(session, session.store, log, options);
      log.info({ store: session.store.kind, config: session.configPath }, 'underway worker running');
      await untilSignal(log, async () => {
        await worker.stop({ graceMs: graceMs(session) });
        await session.close();
      });
    });

  program
    .command('serve')
    .description('run the HTTP API with workers in one process, on the configured store (embedded SQLite by default)')
    .option('-p, --port <port>', 'port to listen on (default $PORT or 3000)', parsePort)
    .option('-H, --host <host>', 'address to listen on (default 127.0.0.1: this machine only)')
    .option('-n, --concurrency <n>', 'jobs run at once', parseCount)
    .option('--prefetch <n>', PREFETCH_HELP, parseCountOrZero)
    .option('--no-worker', 'serve the API only; run workers elsewhere (underway worker)')
    .action(async (options: ServeOptions, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      const log = createLogger();
      const underway = createUnderway({
        ...session.config.http,
        store: session.store,
        tasks: session.queue.tasks,
        logger: log,
      });
      // The worker uses the API's view of the store, so that jobs it ends are announced (webhooks, metrics).
      const worker = options.worker ? startWorker(session, underway.store, log, options) : null;
      const http = await serveHttp(underway, { port: options.port, host: options.host, logger: log });
      const cleanup = scheduleCleanup(session, log);
      process.stdout.write(`underway is running at ${http.url} (store: ${session.store.kind}; stop with Ctrl+C)\n`);
      await untilSignal(log, async () => {
        clearInterval(cleanup);
        await http.close();
        await worker?.stop({ graceMs: graceMs(session) });
        await underway.close();
        await session.close();
      });
    });
}

const PREFETCH_HELP = 'jobs claimed ahead of free slots, for many short jobs (default 0; docs/performance.md)';

interface WorkerFlags {
  concurrency?: number;
  prefetch?: number;
}

interface ServeOptions extends WorkerFlags {
  port?: number;
  host?: string;
  worker: boolean;
}

/** A worker with the config's settings, the command line's flags winning. */
function startWorker(session: Session, store: Store, log: Logger, flags: WorkerFlags): Worker {
  const options = session.config.worker ?? {};
  const slots = flags.concurrency ?? options.concurrency;
  return createWorker({
    store,
    tasks: session.queue.tasks,
    runner: runnerFor(session, slots),
    concurrency: slots,
    prefetch: flags.prefetch ?? options.prefetch,
    leaseMs: options.leaseMs,
    pollMs: options.pollMs,
    cancelGraceMs: options.cancelGraceMs,
    maxLogLines: options.maxLogLines,
    logger: log,
  }).start();
}

/**
 * Task code runs in warm child processes that load the config module once (docs/sandbox.md).
 * They get the data folder too: a config that calls dataDir() must find the same folder there.
 * One child per slot: with the pool's own default (4 on this 2-CPU machine), `--concurrency 20`
 * claimed 20 jobs but ran 4, the other 16 holding leases while they waited for a child.
 */
function runnerFor(session: Session, slots: number | undefined): JobRunner {
  return sandboxRunner({
    module: session.configPath,
    size: slots,
    maxLogLines: session.config.worker?.maxLogLines,
    env: ['UNDERWAY_DATA_DIR'],
  });
}

function graceMs(session: Session): number {
  return (session.config.worker?.shutdownGraceSeconds ?? 10) * 1000;
}

/** Deletes finished jobs past their retention at start and every hour. */
function scheduleCleanup(session: Session, log: Logger): NodeJS.Timeout {
  const run = async () => {
    try {
      const removed = await session.store.cleanup(retentionOf(session.config));
      if (removed > 0) log.info({ removed }, 'old finished jobs cleaned up');
    } catch (error) {
      log.warn({ err: toError(error) }, 'cleanup failed; trying again in an hour');
    }
  };
  void run();
  const timer = setInterval(run, HOUR_MS);
  timer.unref();
  return timer;
}

/** Waits for SIGTERM or SIGINT, then stops gracefully; a second signal exits at once. */
function untilSignal(log: Logger, stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      log.info({ signal }, 'stopping gracefully');
      stop().then(resolve, (error: unknown) => {
        log.error({ err: toError(error) }, 'graceful stop failed');
        process.exitCode = 1;
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/**
 * Option parsers throw commander's InvalidArgumentError: commander then names the option in its
 * message and the command exits 2 (bad input). A plain Error surfaced as a stack trace.
 */
function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER, what = `a whole number >= ${min}`) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`Expected ${what}, got "${value}".`);
    }
    return n;
  };
}

const parsePort = wholeNumber(0, 65_535, 'a port number (0-65535)');
const parseCountOrZero = wholeNumber(0);
const parseCount = wholeNumber(1);
