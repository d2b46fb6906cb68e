import type { Command } from 'commander';
import { retentionOf } from '../../config/config.ts';
import { toError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../logger.ts';
import { inProcessRunner } from '../../worker/in-process-runner.ts';
import type { JobRunner } from '../../worker/runner.ts';
import { createWorker, type Worker } from '../../worker/worker.ts';
import { type GlobalOptions, openSession, type Session } from '../context.ts';

const HOUR_MS = 3_600_000;

/** `underway worker` and `underway serve`: long-running processes that stop gracefully. */
export function registerRunCommands(program: Command): void {
  program
    .command('worker')
    .description('run a worker: claim and run jobs until stopped (SIGTERM/SIGINT stop it gracefully)')
    .option('-n, --concurrency <n>', 'jobs run at once', parseCount)
    .action(async (options: { concurrency?: number }, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      const log = createLogger();
      const worker = startWorker(session, log, options.concurrency);
      log.info({ store: session.store.kind, config: session.configPath }, 'underway worker running');
      await untilSignal(log, async () => {
        await worker.stop({ graceMs: graceMs(session) });
        await session.close();
      });
    });

  program
    .command('serve')
    .description('run the HTTP API with workers in one process, on the configured store (embedded SQLite by default)')
    .option('-p, --port <port>', 'port to listen on (default $PORT or 3000)', parseCount)
    .option('-n, --concurrency <n>', 'jobs run at once', parseCount)
    .option('--no-worker', 'serve the API only; run workers elsewhere')
    .action(async (options: { port?: number; concurrency?: number; worker: boolean }, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      const log = createLogger();
      const worker = options.worker ? startWorker(session, log, options.concurrency) : null;
      const cleanup = scheduleCleanup(session, log);
      log.info(
        { store: session.store.kind, config: session.configPath },
        'underway serving (workers only: the HTTP API is not built in yet)',
      );
      await untilSignal(log, async () => {
        clearInterval(cleanup);
        await worker?.stop({ graceMs: graceMs(session) });
        await session.close();
      });
    });
}

function startWorker(session: Session, log: Logger, concurrency: number | undefined): Worker {
  const options = session.config.worker ?? {};
  return createWorker({
    store: session.store,
    tasks: session.queue.tasks,
    runner: runnerFor(session),
    concurrency: concurrency ?? options.concurrency,
    leaseMs: options.leaseMs,
    pollMs: options.pollMs,
    cancelGraceMs: options.cancelGraceMs,
    maxLogLines: options.maxLogLines,
    logger: log,
  }).start();
}

function runnerFor(_session: Session): JobRunner {
  return inProcessRunner();
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

export function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`expected a whole number >= 1, got "${value}"`);
  return n;
}
