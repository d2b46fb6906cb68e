/**
 * A sandboxed child whose worker was SIGKILLed must not finish the job's work: nobody is left to
 * record it, so it would run again elsewhere. The child learns of the death from the IPC channel's
 * end only when its event loop reads it; here the task blocks its loop while the worker dies and
 * reports progress right before its commit, which must end the child instead.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sqliteStore } from '../../src/store/sqlite/index.ts';
import { tempDir } from '../helpers/temp.ts';
import { collectEvents } from '../helpers/wait.ts';
import { childrenGone, killAllWorkers, prepareEffects, readEffects, startWorker } from './fleet.ts';

const dir = tempDir('underway-orphan-');
afterAll(() => dir.cleanup());
afterEach(async () => {
  expect(await killAllWorkers()).toBe(0);
});

describe.skipIf(process.platform === 'win32')('a child whose worker was SIGKILLed', () => {
  it('stops at its next report instead of committing the job’s work', async () => {
    const data = dir.file('data');
    mkdirSync(data, { recursive: true });
    const effects = prepareEffects(`${data}/effects.db`);
    const go = `${data}/go`;
    const store = sqliteStore({ file: `${data}/underway.db` });
    try {
      const worker = startWorker({ UNDERWAY_DATA_DIR: data });
      await worker.ready;
      const { job } = await store.enqueue({ task: 'chaos.spin', params: { effects, go }, maxAttempts: 1 });
      await collectEvents(store, (e) => e.jobId === job.id && e.type === 'progress');
      worker.child.kill('SIGKILL');
      await worker.exited;
      writeFileSync(go, ''); // the child, still blocked until now, goes on to report and commit
      expect(await childrenGone(data)).toEqual([]);
      const rows = readEffects(effects).filter((r) => r.job === job.id);
      expect(rows.map((r) => r.kind)).toEqual(['start']);
    } finally {
      await store.close();
    }
  });
});
