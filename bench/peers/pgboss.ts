import pg from 'pg';
import { PgBoss } from 'pg-boss';
import type { BenchPayload, DrainMode, Peer, PeerOptions, WorkerSettings } from './types.ts';

/**
 * pg-boss as its docs show it: `createQueue`, `send` for one job, `insert` for many, `work` to
 * process. Default mode: `work(name, { localConcurrency: C })` and nothing else (a worker that
 * found a job waits out `pollingIntervalSeconds`, 2 s, before it fetches again). Fast mode: the
 * batch fetch (`batchSize`, `burstWhenBatchFull`: fetch again at once while batches come back
 * full) and LISTEN/NOTIFY wake-ups (`useListenNotify`, queue `notify: true`), with
 * `localConcurrency × batchSize = C` so that at most C jobs run at once, as for every peer.
 */
export class PgBossPeer implements Peer {
  readonly name = 'pg-boss';
  readonly backend = 'postgres';
  readonly #url: string;
  #boss: PgBoss | null = null;
  #mode: DrainMode = 'default';

  constructor(options: PeerOptions) {
    this.#url = options.pgUrl as string;
  }

  /** Worker layout for concurrency C in fast mode: two fetch loops of C/2 jobs each. */
  static layout(concurrency: number): { localConcurrency: number; batchSize: number } {
    if (concurrency < 2) return { localConcurrency: 1, batchSize: 1 };
    return { localConcurrency: 2, batchSize: Math.floor(concurrency / 2) };
  }

  settings(mode: DrainMode, concurrency: number): string {
    if (mode === 'default') return `localConcurrency ${concurrency}, batchSize 1, polling every 2 s (defaults)`;
    const { localConcurrency, batchSize } = PgBossPeer.layout(concurrency);
    return `localConcurrency ${localConcurrency} × batchSize ${batchSize}, burstWhenBatchFull, useListenNotify + queue notify`;
  }

  /** The mode is fixed at setup: LISTEN/NOTIFY is an option of the instance and of the queue. */
  async prepare(mode: DrainMode): Promise<void> {
    this.#mode = mode;
  }

  async setup(): Promise<void> {
    const fast = this.#mode === 'fast';
    this.#boss = new PgBoss({ connectionString: this.#url, useListenNotify: fast });
    this.#boss.on('error', (error: Error) => process.emitWarning(`pg-boss: ${error.message}`));
    await this.#boss.start();
    await this.#boss.createQueue('noop', fast ? { notify: true } : {});
  }

  get #b(): PgBoss {
    return this.#boss as PgBoss;
  }

  async enqueueOne(payload: BenchPayload): Promise<void> {
    await this.#b.send('noop', payload);
  }

  async enqueueBatch(payloads: BenchPayload[]): Promise<void> {
    await this.#b.insert(
      'noop',
      payloads.map((data) => ({ data })),
    );
  }

  async startWorker(settings: WorkerSettings): Promise<void> {
    const handle = async (jobs: { data: BenchPayload }[]) => {
      for (const job of jobs) settings.handler(job.data);
    };
    if (settings.mode === 'default') {
      await this.#b.work('noop', { localConcurrency: settings.concurrency }, handle);
      return;
    }
    await this.#b.work('noop', { ...PgBossPeer.layout(settings.concurrency), burstWhenBatchFull: true }, handle);
  }

  async stopWorker(): Promise<void> {
    await this.#b.offWork('noop');
  }

  async completed(): Promise<number> {
    const client = new pg.Client({ connectionString: this.#url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'noop' AND state = 'completed'",
      );
      return rows[0]?.n ?? 0;
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    await this.#boss?.stop({ graceful: true });
  }
}
