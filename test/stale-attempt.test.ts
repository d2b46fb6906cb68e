/**
 * GitHub issue #13, item 4: a worker paused past its lease (SIGSTOP, a long event-loop block) and
 * resumed must not write into a job that was reaped and run to the end by another worker. Both
 * stores, real workers, the in-process runner; the pause is the task waiting on a gate while its
 * lease is expired underneath it (its worker's heartbeat is 10 s away).
 *
 * And item 9, at the same seam (what a task's writes go through): a content type a task chooses
 * is checked where `ctx.artifact` is handled, in the worker's process and in a sandbox child.
 */

import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask, type TaskContext } from '../src/core/task.ts';
import { createLogger } from '../src/logger.ts';
import { createQueue } from '../src/queue/queue.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { JobEvent, Store } from '../src/store/store.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import { AttemptAbort } from '../src/worker/runner.ts';
import { sandboxRunner } from '../src/worker/sandbox/index.ts';
import { BAD_TYPES, typed } from './fixtures/artifacts/typed.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';
import { waitForStatus } from './helpers/wait.ts';

const dir = tempDir('underway-stale-');
const db = await createTestDatabase();
afterAll(async () => {
  dir.cleanup();
  await db.drop();
});
const silent = createLogger({ level: 'silent' });
const TYPED_MODULE = fileURLToPath(new URL('./fixtures/artifacts/typed.ts', import.meta.url));

const open: { stores: Store[]; workers: Worker[] } = { stores: [], workers: [] };
afterEach(async () => {
  await Promise.all(open.workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
  await Promise.all(open.stores.splice(0).map((s) => s.close()));
});

function deferred<T = void>() {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

interface Backend {
  /** Two stores on one database, as two worker processes would have them. */
  stores(): Promise<[Store, Store]>;
  /** Moves the running job's lease expiry into the past, as time does to a paused worker. */
  expire(jobId: string): Promise<void>;
}

const backends: Record<string, () => Backend> = {
  sqlite: () => {
    const file = dir.file(`${Math.random().toString(36).slice(2)}.db`);
    return {
      stores: async () => [sqliteStore({ file }), sqliteStore({ file })],
      expire: async (jobId) => {
        const raw = new Database(file);
        raw.prepare('UPDATE underway_jobs SET lease_expires_at = 0 WHERE id = ?').run(jobId);
        raw.close();
      },
    };
  },
  postgres: () => {
    const schema = db.schema();
    return {
      stores: async () => {
        const make = () => postgresStore({ connectionString: db.url, schema, poolSize: 4 });
        const first = make();
        await first.migrate();
        return [first, make()];
      },
      expire: (jobId) =>
        db
          .query(`UPDATE "${schema}".jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [jobId])
          .then(() => {}),
    };
  },
};

/** The store, with a record of what its fenced writes answered (null: fenced out). */
function recording(store: Store): { store: Store; fenced: string[] } {
  const fenced: string[] = [];
  const watched = new Set(['appendLogs', 'saveArtifact']);
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (!watched.has(String(prop))) return value.bind(target);
      return async (...args: unknown[]) => {
        const answer = await value.apply(target, args);
        if (answer === null) fenced.push(String(prop));
        return answer;
      };
    },
  });
  return { store: proxy, fenced };
}

const cases = Object.keys(backends).flatMap((backend) =>
  (['logs first', 'artifact first'] as const).map((order) => ({ backend, order })),
);

describe.each(cases)('a stale attempt ($backend, $order)', ({ backend: name, order }) => {
  it('adds no log line and replaces no artifact after the winner finished, and learns its lease is lost', async () => {
    const backend = backends[name]?.() as Backend;
    const [realA, storeB] = await backend.stores();
    open.stores.push(realA, storeB);
    const { store: storeA, fenced } = recording(realA);

    const paused = deferred();
    const resume = deferred();
    const staleEnded = deferred<{ artifactError: unknown; reason: unknown }>();
    const staleLogs = async (ctx: TaskContext) => {
      for (let i = 1; i <= 5; i++) ctx.log(`stale line ${i}`);
      // The log buffer writes within 100 ms; a fenced-out write aborts the attempt.
      await new Promise((done) => {
        if (ctx.signal.aborted) done(null);
        ctx.signal.addEventListener('abort', done, { once: true });
        setTimeout(done, 2_000);
      });
    };
    const task = defineTask({
      name: 'fenced',
      params: z.object({}),
      maxAttempts: 3,
      async run(_params, ctx) {
        if (ctx.job.attempt > 1) {
          ctx.log('winner');
          await ctx.artifact('out.txt', 'winner');
          return 'winner';
        }
        ctx.log('first attempt, before the pause');
        await ctx.artifact('out.txt', 'first attempt');
        paused.resolve();
        await resume.promise; // "SIGSTOP": the task ignores everything until resumed
        let artifactError: unknown = null;
        const staleArtifact = () =>
          ctx.artifact('out.txt', 'stale').catch((error: unknown) => {
            artifactError = error;
          });
        if (order === 'logs first') {
          await staleLogs(ctx);
          await staleArtifact();
        } else {
          await staleArtifact();
          await staleLogs(ctx);
          await new Promise((done) => setTimeout(done, 250)); // time for a (wrong) log write to land
        }
        staleEnded.resolve({ artifactError, reason: ctx.signal.reason });
        return 'stale';
      },
    });
    const tasks = [task];
    const heard: JobEvent[] = [];
    storeB.events.listen((event) => heard.push(event));

    // Worker A: one slot (busy with the paused attempt), a 30 s lease, so no heartbeat in this test.
    const workerA = createWorker({ store: storeA, tasks, logger: silent, concurrency: 1, leaseMs: 30_000 }).start();
    open.workers.push(workerA);
    const { job } = await createQueue({ store: storeA, tasks }).start('fenced', {});
    await paused.promise;
    await until(async () => (await storeB.readLogs(job.id)).length === 1); // written while the lease held

    // Its lease runs out; worker B reaps the job and runs it again to the end.
    await backend.expire(job.id);
    const workerB = createWorker({ store: storeB, tasks, logger: silent, reapMs: 50 }).start();
    open.workers.push(workerB);
    const done = await waitForStatus(storeB, job.id, 'succeeded');
    expect(done).toMatchObject({ attempt: 2, result: 'winner' });

    // Worker A resumes: the store refuses its first write, and the attempt writes nothing more.
    resume.resolve();
    const stale = await staleEnded.promise;
    expect(fenced).toEqual([order === 'logs first' ? 'appendLogs' : 'saveArtifact']);
    expect(stale.artifactError).toBeInstanceOf(AttemptAbort);
    expect(stale.artifactError).toMatchObject({ kind: 'lease-lost', message: expect.stringMatching(/lost its claim/) });
    expect(stale.reason).toMatchObject({ kind: 'lease-lost' });
    await workerA.stop({ graceMs: 1_000 });

    const lines = (await storeB.readLogs(job.id)).map((l) => l.line);
    expect(lines).toEqual(['first attempt, before the pause', 'winner']);
    const file = await storeB.openArtifact(job.id, 'out.txt');
    expect(await text(file?.body as Readable)).toBe('winner');
    expect(await storeB.get(job.id)).toMatchObject({ status: 'succeeded', result: 'winner', attempt: 2 });
    expect(heard.filter((e) => e.type === 'log' && e.line.startsWith('stale'))).toEqual([]);
  });
});

/** Resolves once `check` says yes (polled every 10 ms, for at most 5 s). */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the condition did not come true in 5 s');
    await new Promise((done) => setTimeout(done, 10));
  }
}

describe.each(['in-process', 'sandboxed'])('artifact content types chosen by a task (%s)', (mode) => {
  it('a bad one is a ValidationError the task sees, before anything is stored; a good one is kept', async () => {
    const store = sqliteStore({ file: dir.file(`types-${mode}.db`) });
    open.stores.push(store);
    const runner = mode === 'sandboxed' ? sandboxRunner({ module: TYPED_MODULE, size: 1 }) : undefined;
    const worker = createWorker({ store, tasks: [typed], logger: silent, ...(runner ? { runner } : {}) }).start();
    open.workers.push(worker);
    try {
      const { job } = await createQueue({ store, tasks: [typed] }).start('typed', {});
      const done = await waitForStatus(store, job.id, ['succeeded', 'failed']);
      expect(done.status).toBe('succeeded');
      const seen = done.result as { name: string; validation: boolean; message: string }[];
      expect(seen).toHaveLength(BAD_TYPES.length);
      for (const error of seen) {
        expect(error).toMatchObject({ name: 'ValidationError', validation: true });
        expect(error.message).toMatch(/is not allowed: give a MIME type/);
        expect(error.message.length).toBeLessThan(400);
      }
      expect(done.artifacts.map((a) => [a.name, a.contentType])).toEqual([
        ['good.csv', 'text/csv; charset=utf-8'],
        ['plain.txt', 'text/plain; charset=utf-8'],
      ]);
      expect(await store.openArtifact(job.id, 'bad.txt')).toBeNull();
    } finally {
      await worker.stop({ graceMs: 1_000 });
      await runner?.close();
    }
  });
});
