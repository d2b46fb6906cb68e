import { Logger, makeWorkerUtils, type Runner, run, type WorkerUtils } from 'graphile-worker';
import pg from 'pg';
import type { BenchPayload, DrainMode, Peer, PeerOptions, WorkerSettings } from './types.ts';

const silent = new Logger(() => () => {});

/**
 * graphile-worker as its docs show it: WorkerUtils' `addJob` / `addJobs` to enqueue, `run()`
 * with a task list to work. Fast mode is the configuration of its performance page
 * (worker.graphile.org/docs/performance): `localQueue: { size: 500 }`,
 * `completeJobBatchDelay: 0`, `failJobBatchDelay: 0`. It deletes a job when it completes.
 */
export class GraphilePeer implements Peer {
  readonly name = 'graphile-worker';
  readonly backend = 'postgres';
  readonly #url: string;
  #utils: WorkerUtils | null = null;
  #runner: Runner | null = null;

  constructor(options: PeerOptions) {
    this.#url = options.pgUrl as string;
  }

  settings(mode: DrainMode, concurrency: number): string {
    const pool = Math.max(10, concurrency + 2);
    return mode === 'fast'
      ? `concurrentJobs ${concurrency}, maxPoolSize ${pool}, localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0`
      : `concurrentJobs ${concurrency}, maxPoolSize ${pool}, otherwise defaults (no local queue, no batching)`;
  }

  async setup(): Promise<void> {
    this.#utils = await makeWorkerUtils({ connectionString: this.#url, logger: silent });
    await this.#utils.migrate();
  }

  async enqueueOne(payload: BenchPayload): Promise<void> {
    await (this.#utils as WorkerUtils).addJob('noop', payload);
  }

  async enqueueBatch(payloads: BenchPayload[]): Promise<void> {
    await (this.#utils as WorkerUtils).addJobs(payloads.map((payload) => ({ identifier: 'noop', payload })));
  }

  async startWorker(settings: WorkerSettings): Promise<void> {
    const fast = settings.mode === 'fast';
    this.#runner = await run({
      noHandleSignals: true,
      logger: silent,
      taskList: {
        noop: async (payload) => {
          settings.handler(payload as BenchPayload);
        },
      },
      preset: {
        worker: {
          connectionString: this.#url,
          concurrentJobs: settings.concurrency,
          // Its docs: "10 or concurrentJobs + 2, whichever is larger".
          maxPoolSize: Math.max(10, settings.concurrency + 2),
          ...(fast ? { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } : {}),
        },
      },
    });
  }

  async stopWorker(): Promise<void> {
    await this.#runner?.stop();
    this.#runner = null;
  }

  /** Completed jobs are deleted: completed = enqueued − still there. */
  async completed(total: number): Promise<number> {
    const client = new pg.Client({ connectionString: this.#url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM graphile_worker._private_jobs',
      );
      return total - (rows[0]?.n ?? 0);
    } finally {
      await client.end();
    }
  }

  async close(): Promise<void> {
    await this.#runner?.stop();
    await this.#utils?.release();
  }
}
