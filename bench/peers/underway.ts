import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { z } from 'zod';
import { defineTask } from '../../src/core/task.ts';
import { createLogger } from '../../src/logger.ts';
import { postgresStore } from '../../src/store/postgres/index.ts';
import { sqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/store.ts';
import { createWorker, type QueueLimits, type Worker } from '../../src/worker/index.ts';
import {
  type BenchPayload,
  type DrainMode,
  KEYS,
  PER_KEY,
  type Peer,
  type PeerOptions,
  type WorkerSettings,
} from './types.ts';

const SCHEMA = 'underway';
/** The worker's documented setting for many short jobs (docs/performance.md): claim this many ahead. */
const FAST_PREFETCH = Number(process.env.UNDERWAY_BENCH_PREFETCH ?? 500);
const payloadSchema = z.object({ n: z.number(), at: z.number().optional() });

/**
 * underway as a host app uses it: a store, a task defined with `defineTask`, `store.enqueue`
 * (what `queue.start` calls after validating), and a worker with the in-process runner (the
 * sandbox's own cost is its own scenario). Settings are the defaults except `concurrency`.
 */
export class UnderwayPeer implements Peer {
  readonly name: string;
  readonly backend: 'postgres' | 'sqlite';
  readonly #options: PeerOptions;
  readonly store: Store;
  #worker: Worker | null = null;
  #handler: (payload: BenchPayload) => void = () => {};
  readonly task = defineTask({
    name: 'noop',
    params: payloadSchema,
    maxAttempts: 1,
    run: async (params) => {
      this.#handler(params);
    },
  });

  constructor(backend: 'postgres' | 'sqlite', options: PeerOptions) {
    this.backend = backend;
    this.#options = options;
    this.name = backend === 'postgres' ? 'underway (PostgreSQL)' : 'underway (SQLite)';
    this.store =
      backend === 'postgres'
        ? postgresStore({ connectionString: options.pgUrl, schema: SCHEMA })
        : sqliteStore({ file: this.#sqliteFile() });
  }

  #sqliteFile(): string {
    return join(this.#options.dir as string, 'underway.db');
  }

  settings(mode: DrainMode, concurrency: number): string {
    const store = this.backend === 'postgres' ? 'pool 10, synchronous_commit on' : 'WAL, synchronous=NORMAL';
    const prefetch = mode === 'fast' ? `, prefetch ${FAST_PREFETCH}` : '';
    const limits = { queue: `, queue limit ${concurrency}`, 'per-key': `, ${PER_KEY} per key over ${KEYS} keys` };
    const limit = this.#options.limits ? limits[this.#options.limits] : '';
    return `concurrency ${concurrency}${prefetch}${limit}, in-process runner, lease 30 s, progress ≤ 4 writes/s; ${store}`;
  }

  async setup(): Promise<void> {
    await this.store.migrate();
    if (this.backend === 'postgres') await (this.store as ReturnType<typeof postgresStore>).listening();
  }

  async enqueueOne(payload: BenchPayload): Promise<void> {
    await this.store.enqueue({ task: 'noop', params: payload, maxAttempts: 1 });
  }

  /** `store.enqueueMany` (what `queue.startMany` calls after validating): one statement on PostgreSQL. */
  async enqueueBatch(payloads: BenchPayload[]): Promise<void> {
    await this.store.enqueueMany(payloads.map((params) => ({ task: 'noop', params, maxAttempts: 1 })));
  }

  /**
   * Fills the queue for a drain without going through enqueue (not what is measured): one
   * INSERT … SELECT, the rows exactly as enqueue makes them (queue: the task's name).
   */
  async seed(count: number, offset: number): Promise<void> {
    const perKey = this.#options.limits === 'per-key';
    if (this.backend === 'postgres') {
      const client = new pg.Client({ connectionString: this.#options.pgUrl });
      await client.connect();
      try {
        await client.query(
          `INSERT INTO ${SCHEMA}.jobs (id, task, status, params, max_attempts, run_at, priority, queue, concurrency_key)
           SELECT md5(random()::text || g::text), 'noop', 'queued', jsonb_build_object('n', g), 1, now(),
             CASE WHEN $3 THEN g % 11 - 5 ELSE 0 END, 'noop', CASE WHEN $4 THEN 'k' || g % ${KEYS} END
           FROM generate_series($1::int, $2::int) g`,
          [offset, offset + count - 1, this.#options.priorities === true, perKey],
        );
      } finally {
        await client.end();
      }
      return;
    }
    const db = new Database(this.#sqliteFile());
    try {
      const insert = db.prepare(
        `INSERT INTO underway_jobs (id, task, status, params, max_attempts, created_at, run_at, priority, queue, concurrency_key)
         VALUES (?, 'noop', 'queued', ?, 1, ?, ?, ?, 'noop', ?)`,
      );
      const now = Date.now();
      db.transaction(() => {
        for (let n = offset; n < offset + count; n++) {
          const priority = this.#options.priorities ? (n % 11) - 5 : 0;
          const key = perKey ? `k${n % KEYS}` : null;
          insert.run(randomBytes(16).toString('base64url'), JSON.stringify({ n }), now, now, priority, key);
        }
      })();
    } finally {
      db.close();
    }
  }

  async startWorker(settings: WorkerSettings): Promise<void> {
    this.#handler = settings.handler;
    this.#worker = createWorker({
      store: this.store,
      tasks: [this.task],
      concurrency: settings.concurrency,
      prefetch: settings.mode === 'fast' ? FAST_PREFETCH : 0,
      queues: this.#queues(settings.concurrency),
      logger: createLogger({ level: 'error' }),
    }).start();
  }

  /** The drain's queue limit, if any (see PeerOptions.limits): the task's queue is its name. */
  #queues(concurrency: number): Record<string, QueueLimits> | undefined {
    if (this.#options.limits === 'queue') return { noop: { concurrency } };
    if (this.#options.limits === 'per-key') return { noop: { concurrencyPerKey: PER_KEY } };
    return undefined;
  }

  async stopWorker(): Promise<void> {
    await this.#worker?.stop({ graceMs: 5_000 });
    this.#worker = null;
  }

  async completed(): Promise<number> {
    const counts = await this.store.counts();
    return counts.filter((c) => c.status === 'succeeded').reduce((sum, c) => sum + c.count, 0);
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
