import pg from 'pg';
import { toError } from '../../core/errors.ts';

/** How often the listener checks its connection and takes a new snapshot (the catch-up point). */
const KEEPALIVE_MS = 5_000;
/** Reconnect backoff: from `minDelayMs` (default 100 ms), doubling, at most 5 s, ±25 % jitter. */
const MAX_RECONNECT_DELAY_MS = 5_000;

export type ListenerState = 'listening' | 'lost';

export interface ListenerOptions {
  config: pg.ClientConfig;
  /** The quoted channel name, as LISTEN wants it. */
  channel: string;
  onPayload(payload: string): void;
  /**
   * Called after a reconnect, once listening again, with the snapshot taken before the loss:
   * the store re-announces every job whose status changed in a transaction that snapshot could not see.
   */
  onCatchUp(snapshot: string): Promise<void>;
  onState?: ((state: ListenerState, error?: Error) => void) | undefined;
  minDelayMs?: number | undefined;
}

/**
 * One dedicated connection per store that LISTENs for other processes' events.
 *
 *   connecting ──LISTEN ok──▶ listening ──error / end──▶ lost ──backoff──▶ connecting
 *        └──────fails──────────────────────────────────────▲
 *
 * While listening, a keepalive every 5 s records `pg_current_snapshot()`. NOTIFYs sent while the
 * connection is down are gone for good, so after a reconnect the store re-reads the jobs changed
 * by transactions that snapshot did not see (jobs.changed_xid) and delivers their status: no live
 * page stays stale. Events in the reconnect window may so be heard twice, never not at all.
 */
export class Listener {
  readonly #options: ListenerOptions;
  #client: pg.Client | null = null;
  #snapshot: string | null = null;
  #keepalive: NodeJS.Timeout | null = null;
  #retry: NodeJS.Timeout | null = null;
  #failures = 0;
  #listening = false;
  #closed = false;
  #waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(options: ListenerOptions) {
    this.#options = options;
    void this.#connect();
  }

  /** Resolves once listening; rejects when the current attempt to connect fails (retries go on). */
  ready(): Promise<void> {
    if (this.#listening) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#keepalive) clearInterval(this.#keepalive);
    if (this.#retry) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error('The store was closed.'));
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client(this.#options.config);
    this.#client = client;
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('The listening connection ended.')));
    client.on('notification', (message) => {
      if (message.payload !== undefined) this.#options.onPayload(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.#options.channel}`);
      const previous = this.#snapshot;
      this.#snapshot = await this.#takeSnapshot(client);
      if (this.#closed || this.#client !== client) return;
      this.#listening = true;
      this.#failures = 0;
      this.#keepalive = setInterval(() => void this.#beat(client), KEEPALIVE_MS);
      this.#keepalive.unref();
      if (previous !== null) await this.#options.onCatchUp(previous);
      this.#options.onState?.('listening');
      for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    } catch (error) {
      this.#lost(client, toError(error));
    }
  }

  async #takeSnapshot(client: pg.Client): Promise<string> {
    const { rows } = await client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s');
    return rows[0]?.s as string;
  }

  async #beat(client: pg.Client): Promise<void> {
    try {
      const snapshot = await this.#takeSnapshot(client);
      if (this.#client === client) this.#snapshot = snapshot;
    } catch {
      // The 'error' handler has seen it and reconnects.
    }
  }

  /** Handles a connection's failure once: drop it, say so, try again after a backoff. */
  #lost(client: pg.Client, error: Error): void {
    if (this.#client !== client || this.#closed) return;
    this.#client = null;
    this.#listening = false;
    if (this.#keepalive) clearInterval(this.#keepalive);
    this.#keepalive = null;
    client.end().catch(() => {});
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
    this.#options.onState?.('lost', error);
    const base = Math.min(MAX_RECONNECT_DELAY_MS, (this.#options.minDelayMs ?? 100) * 2 ** this.#failures++);
    // Not unref'd: a store that listens keeps its process alive while reconnecting, as its connection did.
    this.#retry = setTimeout(() => void this.#connect(), base * (0.75 + Math.random() * 0.5));
  }
}
