import { createPostgresBackend, Queue, Worker } from 'bullmq';
import { REDIS_URL } from '../lib/env.ts';
import type { BenchPayload, DrainMode, Peer, PeerOptions, WorkerSettings } from './types.ts';

/** The connection options BullMQ's docs give for a worker's ioredis connection. */
export function redisConnection() {
  const url = new URL(REDIS_URL);
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
}

/**
 * BullMQ as its docs show it: `queue.add` for one job, `queue.addBulk` for many, a `Worker` with
 * `concurrency`. Completed jobs are kept (the default `removeOnComplete: false`), as underway
 * keeps its rows. The open-source worker documents no faster setting, so both modes are the
 * same. On PostgreSQL: BullMQ 6's `createPostgresBackend` passed as the backend factory.
 */
export class BullMqPeer implements Peer {
  readonly name: string;
  readonly backend: 'redis' | 'postgres';
  readonly #options: PeerOptions;
  #queue: Queue | null = null;
  #worker: Worker | null = null;

  constructor(backend: 'redis' | 'postgres', options: PeerOptions) {
    this.backend = backend;
    this.#options = options;
    this.name = backend === 'redis' ? 'BullMQ (Redis)' : 'BullMQ (PostgreSQL)';
  }

  settings(_mode: DrainMode, concurrency: number): string {
    const where = this.backend === 'redis' ? 'ioredis, maxRetriesPerRequest null' : 'createPostgresBackend';
    return `Worker concurrency ${concurrency}, completed jobs kept (defaults); ${where}`;
  }

  #pg() {
    // `migrate: true`: its docs' way to create the schema on first connect.
    return { connection: { connectionString: this.#options.pgUrl as string, migrate: true } };
  }

  #redis() {
    return { connection: redisConnection(), prefix: this.#options.redisPrefix as string };
  }

  #newQueue(): Queue {
    if (this.backend === 'redis') return new Queue('noop', this.#redis());
    return new Queue('noop', this.#pg(), createPostgresBackend) as unknown as Queue;
  }

  #newWorker(handler: (payload: BenchPayload) => void, concurrency: number): Worker {
    const processor = async (job: { data: unknown }) => {
      handler(job.data as BenchPayload);
    };
    if (this.backend === 'redis') return new Worker('noop', processor, { ...this.#redis(), concurrency });
    return new Worker('noop', processor, { ...this.#pg(), concurrency }, createPostgresBackend) as unknown as Worker;
  }

  async setup(): Promise<void> {
    this.#queue = this.#newQueue();
    await this.#queue.waitUntilReady();
  }

  get #q(): Queue {
    return this.#queue as Queue;
  }

  async enqueueOne(payload: BenchPayload): Promise<void> {
    await this.#q.add('noop', payload);
  }

  async enqueueBatch(payloads: BenchPayload[]): Promise<void> {
    await this.#q.addBulk(payloads.map((data) => ({ name: 'noop', data })));
  }

  async startWorker(settings: WorkerSettings): Promise<void> {
    this.#worker = this.#newWorker(settings.handler, settings.concurrency);
    await this.#worker.waitUntilReady();
  }

  async stopWorker(): Promise<void> {
    await this.#worker?.close();
    this.#worker = null;
  }

  async completed(): Promise<number> {
    return this.#q.getCompletedCount();
  }

  async close(): Promise<void> {
    await this.#worker?.close();
    await this.#queue?.close();
  }
}
