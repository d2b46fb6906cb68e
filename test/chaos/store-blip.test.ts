/**
 * A store that fails for a moment when a job ends (a database restart, a full disk) must not make
 * the job run again: the worker tries the finish again (fenced by the lease) instead of leaving
 * the job to be reaped and redone.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { StoreError } from '../../src/core/errors.ts';
import { defineTask } from '../../src/core/task.ts';
import { sqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/store.ts';
import { createWorker } from '../../src/worker/index.ts';
import { silent } from '../helpers/http.ts';
import { tempDir } from '../helpers/temp.ts';
import { waitForStatus } from '../helpers/wait.ts';

const dir = tempDir('underway-blip-');
afterEach(() => dir.cleanup());

/** The store, with its first `failures` finish calls failing as an unreachable database does. */
function flaky(store: Store, failures: number): Store & { failed: number } {
  const state = { failed: 0 };
  return new Proxy(store, {
    get(target, key) {
      if (key === 'failed') return state.failed;
      if (key === 'finish') {
        return async (...args: Parameters<Store['finish']>) => {
          if (state.failed < failures) {
            state.failed++;
            throw new StoreError(
              'STORE_UNREACHABLE',
              'PostgreSQL at 127.0.0.1:5432: the database system is shutting down.',
            );
          }
          return target.finish(...args);
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as Store & { failed: number };
}

describe('a store that fails when a job ends', () => {
  it('the finish is tried again: the job succeeds once, in its first attempt', async () => {
    const store = sqliteStore({ file: dir.file('underway.db') });
    const blip = flaky(store, 3);
    let runs = 0;
    const task = defineTask({
      name: 'once',
      params: z.object({}),
      async run() {
        runs++;
        return { runs };
      },
    });
    // A lease of 1 s, reaped every 0.5 s: without the retry the job is reaped and run again.
    const worker = createWorker({ store: blip, tasks: [task], leaseMs: 1_000, pollMs: 50, logger: silent }).start();
    try {
      const { job } = await store.enqueue({ task: 'once', params: {}, maxAttempts: 5 });
      const done = await waitForStatus(store, job.id, 'succeeded', 10_000);
      expect(blip.failed).toBe(3);
      expect(done.attempt).toBe(1);
      expect(runs).toBe(1);
    } finally {
      await worker.stop();
      await store.close();
    }
  });
});
