/**
 * The processes of the progress and SSE fan-out scenarios (started by bench/run.ts):
 *
 * - `underway-server`: the HTTP API with its SSE fan-out on the PostgreSQL store, no worker.
 *   Prints `ready <url>`; on SIGTERM prints its result (peak RSS) and exits.
 * - `underway-worker`: a worker on the same database; enqueues one job whose task, after `holdMs`
 *   (time for the subscribers to connect), calls `ctx.progress` as fast as it can for
 *   `burstMs` (yielding every 100 calls), then once every `paceMs` `paced` times with the wall
 *   clock in the message. Prints `job <id>`, then its result: updates/s and DB writes.
 * - `bullmq-worker`: the same job on BullMQ (Redis), `await job.updateProgress()` each time.
 */
import { Queue, Worker } from 'bullmq';
import { z } from 'zod';
import { defineTask } from '../src/core/task.ts';
import { createUnderway, serveHttp } from '../src/http/index.ts';
import { createLogger } from '../src/logger.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { createWorker } from '../src/worker/index.ts';
import { reportResult } from './lib/child.ts';
import { rssSampler, sleep, wallMs } from './lib/stats.ts';
import { redisConnection } from './peers/bullmq.ts';

export interface ProgressChildInput {
  role: 'underway-server' | 'underway-worker' | 'bullmq-worker';
  pgUrl?: string;
  redisPrefix?: string;
  holdMs: number;
  burstMs: number;
  paced: number;
  paceMs: number;
}

export interface ProgressWorkerResult {
  /** Progress calls per second the task made (and the library took) in the burst. */
  updatesPerSecond: number;
  updates: number;
  /** Writes of this job's progress to the database during the whole run (underway). */
  dbWrites?: number;
  dbWritesPerSecond?: number;
  rssMiB: number;
}

const input = JSON.parse(process.argv[2] as string) as ProgressChildInput;
const rss = rssSampler();
const quiet = createLogger({ level: 'error' });

/** The task body shared by both libraries: a burst, then paced updates stamped with the wall clock. */
async function emit(report: (i: number, message: string) => void | Promise<void>) {
  await sleep(input.holdMs);
  let i = 0;
  const started = performance.now();
  while (performance.now() - started < input.burstMs) {
    for (let k = 0; k < 100; k++) await report(++i, 'burst');
    await new Promise((resolve) => setImmediate(resolve));
  }
  const seconds = (performance.now() - started) / 1000;
  for (let k = 0; k < input.paced; k++) {
    await sleep(input.paceMs);
    await report(++i, `t${wallMs()}`);
  }
  await sleep(200);
  return { updates: i, updatesPerSecond: seconds > 0 ? (i - input.paced) / seconds : 0, seconds };
}

if (input.role === 'underway-server') {
  const store = postgresStore({ connectionString: input.pgUrl, schema: 'underway' });
  await store.listening();
  const task = defineTask({ name: 'progress', params: z.object({}), run: async () => {} });
  // As `underway serve` runs on loopback with no sign-in configured: this machine's requests are the
  // local admin (since the hardening round nobody is, unless asked; the SSE clients got 401).
  const underway = createUnderway({
    mountPath: '',
    store,
    tasks: [task],
    logger: quiet,
    rateLimit: false,
    auth: { localAdmin: true },
  });
  const running = await serveHttp(underway, { port: 0, logger: quiet });
  process.stdout.write(`ready ${running.url}\n`);
  process.once('SIGTERM', () => {
    void (async () => {
      const rssMiB = rss.stop();
      reportResult({ rssMiB });
      await running.close();
      await underway.close();
      await store.close();
      process.exit(0);
    })();
  });
} else if (input.role === 'underway-worker') {
  const store = postgresStore({ connectionString: input.pgUrl, schema: 'underway' });
  await store.migrate();
  let dbWrites = 0;
  const save = store.saveProgress.bind(store);
  store.saveProgress = (lease, progress) => {
    dbWrites++;
    return save(lease, progress);
  };
  let outcome: Awaited<ReturnType<typeof emit>> | null = null;
  const task = defineTask({
    name: 'progress',
    params: z.object({}),
    maxAttempts: 1,
    run: async (_params, ctx) => {
      outcome = await emit((i, message) => ctx.progress(i, null, message));
    },
  });
  const worker = createWorker({ store, tasks: [task], concurrency: 1, logger: quiet });
  const { job } = await store.enqueue({ task: 'progress', params: {}, maxAttempts: 1 });
  process.stdout.write(`job ${job.id}\n`);
  worker.start();
  while (!outcome) await sleep(20);
  await worker.stop();
  await store.close();
  const done = outcome as Awaited<ReturnType<typeof emit>>;
  const total = (input.holdMs + input.burstMs + input.paced * input.paceMs) / 1000;
  reportResult({
    updatesPerSecond: done.updatesPerSecond,
    updates: done.updates,
    dbWrites,
    dbWritesPerSecond: dbWrites / total,
    rssMiB: rss.stop(),
  } satisfies ProgressWorkerResult);
  process.exit(0);
} else {
  const options = { connection: redisConnection(), prefix: input.redisPrefix };
  const queue = new Queue('progress', options);
  let outcome: Awaited<ReturnType<typeof emit>> | null = null;
  const worker = new Worker(
    'progress',
    async (job) => {
      outcome = await emit((i, message) => job.updateProgress({ current: i, message }));
    },
    { ...options, concurrency: 1 },
  );
  await worker.waitUntilReady();
  const job = await queue.add('progress', {});
  process.stdout.write(`job ${job.id}\n`);
  while (!outcome) await sleep(20);
  await worker.close();
  await queue.close();
  const done = outcome as Awaited<ReturnType<typeof emit>>;
  reportResult({
    updatesPerSecond: done.updatesPerSecond,
    updates: done.updates,
    rssMiB: rss.stop(),
  } satisfies ProgressWorkerResult);
  process.exit(0);
}
