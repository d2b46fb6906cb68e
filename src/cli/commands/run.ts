import type { Command } from 'commander';
import { retentionOf, type UnderwayConfig } from '../../config/config.ts';
import { toError } from '../../core/errors.ts';
import { type AuthOptions, createUnderway, serveHttp } from '../../http/index.ts';
import { startWebhooks } from '../../http/start-webhooks.ts';
import type { Logger } from '../../logger.ts';
import { type MetricsServer, serveMetrics } from '../../metrics/server.ts';
import type { Store } from '../../store/store.ts';
import type { JobRunner } from '../../worker/runner.ts';
import { sandboxRunner } from '../../worker/sandbox/index.ts';
import { createWorker, type Worker } from '../../worker/worker.ts';
import { type GlobalOptions, type Session, sessionOf } from '../context.ts';
import { CliError, EXIT } from '../errors.ts';
import { loadConfig } from '../load-config.ts';
import { cliLogger } from '../log.ts';
import { parseCount, parseCountOrZero, parsePort } from '../options.ts';
import { PendingStore } from '../pending-store.ts';
import { keepRunningOnClosedPipes } from '../pipes.ts';
import { openUsableStore, storeKind, waitForStore } from '../store-ready.ts';

const HOUR_MS = 3_600_000;

/** `underway worker` and `underway serve`: long-running processes that stop gracefully. */
export function registerRunCommands(program: Command): void {
  program
    .command('worker')
    .description('run a worker: claim and run jobs until stopped (SIGTERM/SIGINT stop it gracefully)')
    .option('-n, --concurrency <n>', 'jobs run at once', parseCount)
    .option('--prefetch <n>', PREFETCH_HELP, parseCountOrZero)
    .option('--max-rss-mb <n>', MAX_RSS_HELP, parseCount)
    .option('--wait-for-store', WAIT_HELP)
    .option('--metrics-port <port>', METRICS_PORT_HELP, parsePort)
    .option('--metrics-host <host>', 'address the metrics server listens on (default 127.0.0.1: this machine only)')
    .action(async (options: WorkerCommandFlags, command: Command) => {
      const { config, path, log, stop } = await prepare(command);
      const metricsAt = metricsAddress(config, options);
      const store = options.waitForStore ? await waitForStore(config, log, stop.signal) : await openUsableStore(config);
      if (!store) return; // Stopped while waiting for the store.
      const session = sessionOf(config, path, store);
      const worker = buildWorker(session, session.store, log, options);
      // Listening before the worker starts: a port in use exits 2 before any job is claimed, and
      // every job this worker ends is timed (Jobs.of(store).onEnded, the store the worker uses).
      let metrics: MetricsServer | null = null;
      if (metricsAt) {
        metrics = await serveMetrics({
          store: session.store,
          tasks: session.queue.tasks,
          worker,
          port: metricsAt.port,
          host: metricsAt.host,
          logger: log,
        }).catch(async (error: unknown) => {
          await session.close();
          throw cannotListen(error, '--metrics-port or --metrics-host choose another');
        });
      }
      worker.start();
      // Webhooks are sent by every process that has them configured, workers too (docs/http.md#webhooks).
      const webhooks = startWebhooks({
        store: session.store,
        tasks: session.queue.tasks,
        http: { ...session.config.http, mountPath: session.config.http?.mountPath ?? '' },
        logger: log,
      });
      log.info({ store: session.store.kind, config: session.configPath }, 'underway worker running');
      await stop.requested;
      await stopGracefully(log, async () => {
        await worker.stop({ graceMs: graceMs(session) });
        await webhooks?.close();
        await metrics?.close();
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
    .option('--max-rss-mb <n>', MAX_RSS_HELP, parseCount)
    .option('--no-worker', 'serve the API only; run workers elsewhere (underway worker)')
    .option('--wait-for-store', `${WAIT_HELP}; meanwhile /healthz answers 503`)
    .action(async (options: ServeOptions, command: Command) => {
      const { config, path, log, stop } = await prepare(command);
      // Waiting, the server listens from the start over a placeholder store that answers 503.
      const pending = options.waitForStore ? new PendingStore(storeKind(config)) : null;
      const session = sessionOf(config, path, pending ?? (await openUsableStore(config)));
      const underway = createUnderway({
        ...session.config.http,
        auth: standaloneAuth(session.config, options.host),
        // serve owns its whole server: the API at /api, pages at /, /healthz (HttpOptions.mountPath).
        mountPath: session.config.http?.mountPath ?? '',
        store: session.store,
        tasks: session.queue.tasks,
        queues: session.config.queues,
        logger: log,
      });
      const http = await serveHttp(underway, { port: options.port, host: options.host, logger: log }).catch(
        async (error: unknown) => {
          await underway.close();
          await session.close();
          throw cannotListen(error, '--port, --host or $PORT choose another');
        },
      );
      if (pending) {
        const store = await waitForStore(config, log, stop.signal);
        if (!store) {
          await http.close();
          await underway.close();
          return;
        }
        pending.resolve(store);
      }
      // On the same store as the API, so the one Jobs layer of this process hears the jobs it ends (metrics).
      const worker = options.worker ? buildWorker(session, underway.store, log, options).start() : null;
      const cleanup = scheduleCleanup(session, log);
      process.stdout.write(`underway is running at ${http.url} (store: ${session.store.kind}; stop with Ctrl+C)\n`);
      await stop.requested;
      await stopGracefully(log, async () => {
        clearInterval(cleanup);
        await http.close();
        await worker?.stop({ graceMs: graceMs(session) });
        await underway.close();
        await session.close();
      });
    });
}

/** A port in use or not allowed: one line, exit 2, instead of a stack trace and exit 70. `hint` names the flags. */
function cannotListen(thrown: unknown, hint: string): Error {
  const error = toError(thrown) as NodeJS.ErrnoException & { address?: string; port?: number };
  if (error.code !== 'EADDRINUSE' && error.code !== 'EACCES' && error.code !== 'EADDRNOTAVAIL') return error;
  const where = `${error.address ?? 'this address'}:${error.port ?? ''}`;
  const why = {
    EADDRINUSE: 'another process listens there',
    EACCES: 'this user may not',
    EADDRNOTAVAIL: 'no such address here',
  }[error.code];
  return new CliError(`Cannot listen on ${where}: ${why} (${hint}).`, EXIT.badInput);
}

/** What both commands do first: the config, the logger, the signal handlers. */
async function prepare(command: Command): Promise<{ config: UnderwayConfig; path: string; log: Logger; stop: Stop }> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const { config, path } = await loadConfig(globals.config);
  const log = await cliLogger(globals.logFormat);
  keepRunningOnClosedPipes();
  return { config, path, log, stop: listenForStop(log) };
}

const WAIT_HELP = 'when the store cannot be used at start, try again (backoff up to 30 s) instead of exiting 4';
const PREFETCH_HELP = 'jobs claimed ahead of free slots, for many short jobs (default 0; docs/performance.md)';
const MAX_RSS_HELP = 'fail a job (MEMORY_LIMIT) whose memory grows past N MB, for tasks that set no sandbox.rssMb';
const METRICS_PORT_HELP =
  "serve this worker's Prometheus metrics at GET /metrics and GET /healthz on this port (0: a free one, logged); default: none";

interface WorkerFlags {
  concurrency?: number;
  prefetch?: number;
  maxRssMb?: number;
  waitForStore?: boolean;
}

interface WorkerCommandFlags extends WorkerFlags {
  metricsPort?: number;
  metricsHost?: string;
}

interface ServeOptions extends WorkerFlags {
  port?: number;
  host?: string;
  worker: boolean;
}

/**
 * Where `underway worker` serves its metrics: the flags, else the config's `worker.metrics`; null
 * (nothing listens, prom-client is not loaded) when neither gives a port.
 */
function metricsAddress(config: UnderwayConfig, flags: WorkerCommandFlags): { port: number; host: string } | null {
  const configured = config.worker?.metrics;
  const port = flags.metricsPort ?? configured?.port;
  if (port === undefined) return null;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new CliError(
      `worker.metrics.port in the config must be a port number (0-65535), not ${JSON.stringify(port)}.`,
      EXIT.badConfig,
    );
  }
  return { port, host: flags.metricsHost ?? configured?.host ?? '127.0.0.1' };
}

/** A worker with the config's settings, the command line's flags winning; `start()` it. */
function buildWorker(session: Session, store: Store, log: Logger, flags: WorkerFlags): Worker {
  const options = session.config.worker ?? {};
  const slots = flags.concurrency ?? options.concurrency;
  return createWorker({
    store,
    tasks: session.queue.tasks,
    runner: runnerFor(session, slots, flags.maxRssMb, log),
    concurrency: slots,
    prefetch: flags.prefetch ?? options.prefetch,
    leaseMs: options.leaseMs,
    pollMs: options.pollMs,
    cancelGraceMs: options.cancelGraceMs,
    maxLogLines: options.maxLogLines,
    schedules: session.config.schedules ?? [],
    queues: session.config.queues,
    logger: log,
  });
}

/**
 * Task code runs in warm child processes that load the config module once (docs/sandbox.md).
 * They get the data folder too: a config that calls dataDir() must find the same folder there.
 * One child per slot: with the pool's own default (4 on this 2-CPU machine), `--concurrency 20`
 * claimed 20 jobs but ran 4, the other 16 holding leases while they waited for a child.
 */
function runnerFor(session: Session, slots: number | undefined, rssMb: number | undefined, log: Logger): JobRunner {
  return sandboxRunner({
    module: session.configPath,
    size: slots,
    maxLogLines: session.config.worker?.maxLogLines,
    rssMb: rssMb ?? session.config.worker?.sandbox?.rssMb,
    logger: log,
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
      const removed = await session.jobs.cleanup(retentionOf(session.config));
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

interface Stop {
  /** Aborted at the first SIGTERM or SIGINT. */
  signal: AbortSignal;
  /** Resolves at the first SIGTERM or SIGINT. */
  requested: Promise<NodeJS.Signals>;
}

/** Listens for SIGTERM and SIGINT: the first asks for a graceful stop, a second exits at once. */
function listenForStop(log: Logger): Stop {
  const controller = new AbortController();
  let resolve: (signal: NodeJS.Signals) => void = () => {};
  const requested = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    log.info({ signal }, 'stopping gracefully');
    controller.abort();
    resolve(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return { signal: controller.signal, requested };
}

async function stopGracefully(log: Logger, stop: () => Promise<void>): Promise<void> {
  try {
    await stop();
  } catch (error) {
    log.error({ err: toError(error) }, 'graceful stop failed');
    process.exitCode = 1;
  }
}

/**
 * `serve` with no way of signing in configured gives this machine's own requests a local admin,
 * but only while it listens on a loopback address (the default, 127.0.0.1): listening on
 * 0.0.0.0 for a container or a proxy, nobody is admin until tokens or authenticate say so.
 */
function standaloneAuth(config: UnderwayConfig, host: string | undefined): AuthOptions {
  const auth = config.http?.auth ?? {};
  if (auth.localAdmin !== undefined || auth.authenticate || (auth.tokens?.length ?? 0) > 0) return auth;
  const listening = host ?? '127.0.0.1';
  return { ...auth, localAdmin: listening === 'localhost' || listening === '::1' || listening.startsWith('127.') };
}
