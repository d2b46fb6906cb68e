import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { postgresStore } from '../src/store/postgres/index.ts';
import { createTestDatabase } from './helpers/postgres.ts';

const db = await createTestDatabase();
afterAll(() => db.drop());

const FIXTURE = fileURLToPath(new URL('./fixtures/pg-worker.ts', import.meta.url));
const children: ChildProcess[] = [];
afterEach(async () => {
  // Every test ends its processes; one left running fails the test.
  const left = children.splice(0).filter((child) => child.exitCode === null && child.signalCode === null);
  for (const child of left) child.kill('SIGKILL');
  expect(left.length).toBe(0);
});

/** Starts a worker process and resolves once it says it listens. */
async function startWorker(schema: string, prefetch: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, db.url, schema, String(prefetch)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (data: Buffer) => {
      out += data.toString();
      if (out.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker process exited early (${code})`)));
  });
  return child;
}

describe('worker processes on one PostgreSQL', () => {
  it.each([
    { label: 'without prefetch', prefetch: 0, jobs: 5_000 },
    { label: 'prefetching 50', prefetch: 50, jobs: 2_000 },
  ])(
    '4 worker processes $label complete $jobs jobs, each exactly once',
    { timeout: 120_000 },
    async ({ prefetch, jobs }) => {
      const schema = db.schema();
      const store = postgresStore({ connectionString: db.url, schema, poolSize: 8 });
      await store.migrate();
      await db.query(
        `CREATE TABLE "${schema}".runs (job_id text PRIMARY KEY, runs integer NOT NULL, pid integer NOT NULL)`,
      );
      try {
        await store.listening();
        const succeeded = new Set<string>();
        const allDone = new Promise<void>((resolve) => {
          store.events.listen((event) => {
            if (event.type !== 'status' || event.status !== 'succeeded') return;
            succeeded.add(event.jobId);
            if (succeeded.size === jobs) resolve();
          });
        });
        const workers = await Promise.all(Array.from({ length: 4 }, () => startWorker(schema, prefetch)));

        const started = performance.now();
        for (let batch = 0; batch < jobs / 50; batch++) {
          await Promise.all(
            Array.from({ length: 50 }, () => store.enqueue({ task: 'count', params: {}, maxAttempts: 3 })),
          );
        }
        await allDone;
        const seconds = (performance.now() - started) / 1000;

        const [totals] = await db.query<{ jobs: number; runs: number; most: number; pids: number }>(
          `SELECT count(*)::int AS jobs, sum(runs)::int AS runs, max(runs) AS most, count(DISTINCT pid)::int AS pids
         FROM "${schema}".runs`,
        );
        expect(totals).toEqual({ jobs, runs: jobs, most: 1, pids: 4 });
        expect(await store.counts()).toEqual([{ task: 'count', status: 'succeeded', count: jobs }]);
        console.info(
          `4 worker processes, prefetch ${prefetch}: ${jobs} jobs in ${seconds.toFixed(1)} s (${Math.round(jobs / seconds)} jobs/s)`,
        );

        await Promise.all(
          workers.map(async (child) => {
            const exit = once(child, 'exit');
            child.kill('SIGTERM');
            expect((await exit)[0]).toBe(0);
          }),
        );
      } finally {
        await store.close();
      }
    },
  );
});
