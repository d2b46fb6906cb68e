import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask } from '../src/core/task.ts';
import { createQueue } from '../src/queue/queue.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { exited, FIXTURE_CONFIG, killLeftovers, startCli } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';
import { collectEvents, waitForStatus } from './helpers/wait.ts';

/** These tests start several processes one after another: each start takes seconds on a loaded machine. */
const MANY_PROCESSES = 120_000;
const dir = tempDir('underway-mp-');
afterAll(() => dir.cleanup());
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  expect(await killLeftovers()).toBe(0);
});

let n = 0;
function setup() {
  const data = dir.file(`data-${++n}`);
  const store = sqliteStore({ file: `${data}/underway.db` });
  stores.push(store);
  // The tasks as the worker processes know them; here only to start jobs with validation.
  const effect = defineTask({
    name: 'effect',
    params: z.object({
      file: z.string(),
      steps: z.number().default(0),
      stepMs: z.number().default(10),
      gate: z.string().optional(),
    }),
    run: () => undefined,
  });
  return { data, store, queue: createQueue({ store, tasks: [effect] }), effects: `${data}/effects.db` };
}

function effectsOf(file: string): { job: string; attempt: number; worker: number; kind: string }[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT * FROM effects').all() as never;
  } finally {
    db.close();
  }
}

const worker = (data: string, extra: Record<string, string> = {}) =>
  startCli(['--config', FIXTURE_CONFIG, 'worker'], { UNDERWAY_DATA_DIR: data, ...extra }, 'underway worker running');

describe('workers in real processes on one SQLite file', () => {
  it(
    'a worker killed mid-job (SIGKILL) leaves the job to be claimed again after its lease, finished exactly once',
    async () => {
      const { data, store, queue, effects } = setup();
      const doomed = await worker(data, { TEST_LEASE_MS: '1000', TEST_CONCURRENCY: '1' });
      const { job } = await queue.start('effect', { file: effects, steps: 200, stepMs: 10 });
      // Wait until the job is visibly under way in the other process, then kill that process.
      await collectEvents(store, (e) => e.jobId === job.id && e.type === 'progress' && e.progress.current >= 5);
      doomed.kill('SIGKILL');
      await exited(doomed);
      expect((await store.get(job.id))?.status).toBe('running');

      // A new worker process reaps the expired lease (the job goes back to queued) and runs it again.
      const survivor = await worker(data, { TEST_LEASE_MS: '1000' });
      const done = await waitForStatus(store, job.id, 'succeeded');
      expect(done.attempt).toBe(2);
      expect(done.error).toBeNull();
      const rows = effectsOf(effects);
      expect(rows.filter((r) => r.kind === 'done')).toHaveLength(1);
      expect(rows.filter((r) => r.kind === 'start').map((r) => r.attempt)).toEqual([1, 2]);
      expect(rows.find((r) => r.kind === 'done')?.worker).toBe(survivor.pid);
      survivor.kill('SIGTERM');
      expect(await exited(survivor)).toBe(0);
    },
    MANY_PROCESSES,
  );

  it(
    'two worker processes never run the same job',
    async () => {
      const { data, store, queue, effects } = setup();
      const workers = await Promise.all([worker(data), worker(data)]);
      const ids: string[] = [];
      for (let i = 0; i < 300; i++) ids.push((await queue.start('effect', { file: effects })).job.id);
      for (const id of ids) await waitForStatus(store, id, 'succeeded');
      const done = effectsOf(effects).filter((r) => r.kind === 'done');
      expect(done).toHaveLength(300);
      expect(new Set(done.map((r) => r.job)).size).toBe(300);
      const byPid = new Map<number, number>();
      for (const row of done) byPid.set(row.worker, (byPid.get(row.worker) ?? 0) + 1);
      // Both processes took part (each claims as soon as it hears of new jobs).
      expect([...byPid.keys()].sort()).toEqual(workers.map((w) => w.pid).sort());
      for (const w of workers) w.kill('SIGTERM');
      expect(await Promise.all(workers.map(exited))).toEqual([0, 0]);
    },
    MANY_PROCESSES,
  );

  it('SIGTERM lets running jobs finish within the grace period, and nothing is lost', {
    timeout: 180_000,
  }, async () => {
    const { data, store, queue, effects } = setup();
    // A grace period no loaded machine runs out of: the jobs end when the test opens the gate.
    const w = await worker(data, { TEST_GRACE_S: '120' });
    const gate = `${data}/gate`;
    // Every job is inside its task (not merely claimed) before the stop: each says so in progress.
    const atGate = new Set<string>();
    const allAtGate = collectEvents(
      store,
      (e) => {
        if (e.type === 'progress') atGate.add(e.jobId);
        return atGate.size === 4;
      },
      120_000,
    );
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await queue.start('effect', { file: effects, gate })).job.id);
    await allAtGate;
    w.kill('SIGTERM');
    writeFileSync(gate, '');
    expect(await exited(w)).toBe(0);
    for (const id of ids) expect((await store.get(id))?.status).toBe('succeeded');
    expect(effectsOf(effects).filter((r) => r.kind === 'done')).toHaveLength(4);
  });
});
