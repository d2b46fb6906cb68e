/**
 * Graceful shutdown under load: SIGTERM a worker process running 20 jobs. It must stop claiming,
 * finish what finishes within its grace period, hand the rest back (queued, attempt not counted),
 * and exit 0; another worker then finishes those. Nothing lost, nothing finished twice.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sqliteStore } from '../../src/store/sqlite/index.ts';
import { tempDir } from '../helpers/temp.ts';
import {
  allFinished,
  childrenGone,
  FULL,
  killAllWorkers,
  prepareEffects,
  readEffects,
  recordFigures,
  startWorker,
} from './fleet.ts';

/** Jobs running at SIGTERM: 20 in the full run; 8 in npm test (each needs a child: ~0.5 s of CPU). */
const RUNNING = FULL ? 20 : 8;
const HALF = RUNNING / 2;

const dir = tempDir('underway-chaos-term-');
afterAll(() => dir.cleanup());
afterEach(async () => {
  expect(await killAllWorkers()).toBe(0);
});

describe('graceful shutdown under load', () => {
  it(`SIGTERM with ${RUNNING} jobs running: ${HALF} finish in the grace period, ${HALF} are handed back, none claimed after`, {
    timeout: 120_000,
  }, async () => {
    const data = dir.file('data');
    mkdirSync(data, { recursive: true });
    const effects = prepareEffects(`${data}/effects.db`);
    const shortGate = `${data}/short.open`;
    const longGate = `${data}/long.open`;
    const store = sqliteStore({ file: `${data}/underway.db` });
    try {
      const env = {
        UNDERWAY_DATA_DIR: data,
        CHAOS_CONCURRENCY: String(RUNNING),
        CHAOS_GRACE_S: '2',
        CHAOS_LEASE_MS: '10000',
      };
      const first = startWorker(env);
      await first.ready;
      // All slots busy; each job waits at its gate, so the test decides when it may end.
      const started = new Set<string>();
      const allRunning = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          off();
          reject(new Error(`only ${started.size} of ${RUNNING} jobs ran at once within 40 s`));
        }, 40_000);
        const off = store.events.listen((event) => {
          if (event.type !== 'progress') return;
          started.add(event.jobId);
          if (started.size === RUNNING) {
            clearTimeout(timer);
            off();
            resolve();
          }
        });
      });
      const enqueue = async (gate: string) =>
        (await store.enqueue({ task: 'chaos.effect', params: { effects, ms: 50, steps: 1, gate }, maxAttempts: 1 })).job
          .id;
      const short: string[] = [];
      const long: string[] = [];
      for (let i = 0; i < HALF; i++) {
        short.push(await enqueue(shortGate));
        long.push(await enqueue(longGate));
      }
      await allRunning;
      // Queued while every slot is busy: a worker that kept claiming after SIGTERM would take these.
      const extra: string[] = [];
      for (let i = 0; i < HALF; i++) extra.push(await enqueue(shortGate));

      const term = performance.now();
      const stopping = first.logged('stopping gracefully');
      first.child.kill('SIGTERM');
      // Only once the worker has heard the signal may the short jobs end (inside the 2 s grace
      // period): opened at once, on a loaded machine they ended first, and the worker rightly
      // filled the freed slots with queued jobs before it knew it was stopping.
      await stopping;
      writeFileSync(shortGate, '');
      const exit = await first.exited;
      const stopSeconds = (performance.now() - term) / 1000;
      expect(exit.code).toBe(0);

      const after = await Promise.all([...short, ...long, ...extra].map((id) => store.get(id)));
      const status = (ids: string[]) => ids.map((id) => after.find((j) => j?.id === id)?.status);
      expect(status(short)).toEqual(Array(HALF).fill('succeeded'));
      // Handed back: queued again, the attempt not counted (maxAttempts is 1, so a counted one would fail it).
      expect(status(long)).toEqual(Array(HALF).fill('queued'));
      expect(long.map((id) => after.find((j) => j?.id === id)?.attempt)).toEqual(Array(HALF).fill(0));
      expect(status(extra)).toEqual(Array(HALF).fill('queued'));
      expect(readEffects(effects).filter((r) => extra.includes(r.job))).toEqual([]);
      expect(await childrenGone(data)).toEqual([]);

      writeFileSync(longGate, '');
      const second = startWorker(env);
      await second.ready;
      await allFinished(store, RUNNING + HALF, 60_000);
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);

      const jobs = await Promise.all([...short, ...long, ...extra].map((id) => store.get(id)));
      const rows = readEffects(effects);
      const done = rows.filter((r) => r.kind === 'done');
      expect(jobs.filter((j) => j?.status !== 'succeeded').map((j) => [j?.status, j?.error])).toEqual([]);
      expect(done.length).toBe(RUNNING + HALF);
      expect(new Set(done.map((r) => r.job)).size).toBe(RUNNING + HALF);
      // The long jobs started twice (once in each worker) and finished once, in the second.
      for (const id of long) {
        expect(rows.filter((r) => r.job === id && r.kind === 'start').map((r) => r.worker)).toEqual([
          first.pid,
          second.pid,
        ]);
      }
      recordFigures('graceful shutdown', {
        running: RUNNING,
        finishedInGrace: HALF,
        handedBack: HALF,
        claimedAfterTerm: 0,
        lost: jobs.filter((j) => j?.status !== 'succeeded').length,
        doneTwice: done.length - new Set(done.map((r) => r.job)).size,
        stopSeconds: Number(stopSeconds.toFixed(1)),
      });
    } finally {
      await store.close();
    }
  });
});
