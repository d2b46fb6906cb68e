import { setTimeout as sleep } from 'node:timers/promises';
import { openStore, type UnderwayConfig } from '../config/config.ts';
import { retryDelayMs } from '../core/backoff.ts';
import { StoreError, toError } from '../core/errors.ts';
import { type Logger, OutageLog } from '../logger.ts';
import type { Store } from '../store/store.ts';
import { CliError, EXIT } from './errors.ts';

/** A store that has not answered in this long is reported unreachable (pg has no connect timeout of its own). */
const PROBE_TIMEOUT_MS = 10_000;

/** Waiting for the store: 0.5 s, 1 s, 2 s … doubling, at most 30 s between tries, with jitter. */
const WAIT_BACKOFF = { type: 'exponential', baseSeconds: 0.5, maxSeconds: 30, jitter: true } as const;

/**
 * Opens the config's store and makes sure it answers, for `serve` and `worker`: a store that
 * cannot be used at start is one line and exit 4, before anything says it runs. (A PostgreSQL
 * store connects lazily: without this, the worker started and logged a failed claim a second.)
 */
export async function openUsableStore(config: UnderwayConfig): Promise<Store> {
  let store: Store | null = null;
  try {
    store = openStore(config);
    await probe(store);
    return store;
  } catch (error) {
    await store?.close().catch(() => {});
    const why = toError(error).message;
    throw new CliError(
      `The ${store?.kind ?? storeKind(config)} store cannot be used: ${why} (--wait-for-store waits for it instead)`,
      EXIT.storeProblem,
    );
  }
}

/**
 * `--wait-for-store`: tries to open the store and get an answer until it works, with backoff,
 * logging the outage once (then a reminder a minute). Resolves with null if `signal` aborts first.
 */
export async function waitForStore(config: UnderwayConfig, log: Logger, signal: AbortSignal): Promise<Store | null> {
  const outage = new OutageLog(log);
  let store: Store | null = null;
  while (!signal.aborted) {
    try {
      // An SQLite store that failed to open is made again; a PostgreSQL one keeps its pool.
      store ??= openStore(config);
      await probe(store);
      outage.succeeded();
      return store;
    } catch (error) {
      const failures = outage.failed(toError(error));
      if (failures === 1) log.info('waiting for the store (--wait-for-store)');
      await sleep(retryDelayMs(WAIT_BACKOFF, failures), undefined, { signal }).catch(() => {});
    }
  }
  await store?.close().catch(() => {});
  return null;
}

/** The kind of store the config asks for, before one could be made. */
export function storeKind(config: UnderwayConfig): string {
  if (!config.store) return 'sqlite';
  return typeof config.store === 'function' ? 'configured' : config.store.kind;
}

/** A primary-key miss, as /healthz does: answers only if the store works (and, on PostgreSQL, is migrated). */
async function probe(store: Store): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StoreError('STORE_UNREACHABLE', `no answer in ${PROBE_TIMEOUT_MS / 1000} s from the ${store.kind} store`),
        ),
      PROBE_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([store.get('startup-probe'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
