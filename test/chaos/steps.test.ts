/**
 * Steps kill test: jobs of 20 resumable steps (ctx.step) on PostgreSQL worker processes that are
 * SIGKILLed at random. Every job must succeed; a step whose result was recorded must never run
 * again (no side-effect row of it from an attempt after the one that recorded it); a step may run
 * twice only in an attempt cut off between its effect and its record: its worker killed, or (on a
 * loaded machine) too slow to renew its lease, never ended by an error. The figures count those,
 * and the step runs the later attempts got back from the records instead of running them again,
 * which a restart from zero would have run.
 *
 * Short (npm test): 30 jobs of 20 steps, 2 workers; full (npm run test:chaos): 200 jobs, 4
 * workers. Steps take 10-50 ms each (0.2-1 s a job), so kills fall inside jobs; the driver looks
 * every 300 ms for a worker to kill, killable after finishing 2-8 (full: 3-20) jobs (KillDriver).
 */
import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/core/job.ts';
import { stalledMessage } from '../../src/core/job-texts.ts';
import { postgresStore } from '../../src/store/postgres/index.ts';
import {
  allFinished,
  chaosFiles,
  childrenGone,
  type EffectRow,
  FULL,
  fleetEnv,
  KillDriver,
  prepareEffects,
  readEffects,
  recordFigures,
} from './fleet.ts';

const STEPS = 20;
/** `min..max`, or `-` for none. */
const range = (values: number[]) => (values.length ? `${Math.min(...values)}..${Math.max(...values)}` : '-');
const SIZE = FULL
  ? { jobs: 200, workers: 4, everyMs: 300, jobsBeforeKill: [3, 20] as [number, number], timeoutMs: 600_000 }
  : { jobs: 30, workers: 2, everyMs: 300, jobsBeforeKill: [2, 8] as [number, number], timeoutMs: 120_000 };

const chaos = chaosFiles('underway-chaos-steps-');
const { dir } = chaos;

describe('steps kill test on PostgreSQL', () => {
  it(`${SIZE.jobs} jobs of ${STEPS} steps on ${SIZE.workers} workers SIGKILLed at random: every job succeeds, no recorded step runs again`, {
    timeout: SIZE.timeoutMs + 30_000,
  }, async () => {
    const db = await chaos.database();
    const schema = db.schema();
    const store = postgresStore({ connectionString: db.url, schema, poolSize: 4 });
    await store.migrate();
    const data = dir.file('data');
    mkdirSync(data, { recursive: true });
    const effects = prepareEffects(`${data}/effects.db`);
    try {
      const driver = new KillDriver({
        workers: SIZE.workers,
        everyMs: SIZE.everyMs,
        jobsBeforeKill: SIZE.jobsBeforeKill,
        store,
        env: fleetEnv({ url: db.url, schema, data, leaseMs: 1500, concurrency: 4 }),
      });
      // How every attempt but a job's last ended: queued again, with the error that sent it back.
      // STALLED: its lease ran out, because its worker was killed or was too slow to renew it.
      const requeued: { job: string; code: string; at: number; message: string }[] = [];
      const off = store.events.listen((e) => {
        if (e.type === 'status' && e.status === 'queued' && e.error) {
          requeued.push({ job: e.jobId, code: e.error.code, at: Date.now(), message: e.error.message });
        }
      });
      await driver.start();
      const started = performance.now();
      driver.chaos();
      const ids: string[] = [];
      for (let i = 0; i < SIZE.jobs; i++) {
        const ms = 10 + Math.floor(Math.random() * 41);
        const { job } = await store.enqueue({
          task: 'chaos.steps',
          params: { effects, steps: STEPS, ms },
          maxAttempts: 100,
        });
        ids.push(job.id);
      }
      await allFinished(store, SIZE.jobs, SIZE.timeoutMs).catch((error: Error) => {
        throw new Error(`${error.message}; kills ${driver.kills}`);
      });
      const seconds = (performance.now() - started) / 1000;
      const exits = await driver.stop();
      off();

      const jobs = (await Promise.all(ids.map((id) => store.get(id)))) as Job[];
      const records = new Map(await Promise.all(ids.map(async (id) => [id, await store.listSteps(id)] as const)));
      const rows = readEffects(effects);
      const lost = jobs.filter((j) => j.status !== 'succeeded');

      // Each step's side-effect rows, by job and step name.
      const ran = new Map<string, EffectRow[]>();
      for (const row of rows.filter((r) => r.kind.startsWith('step:'))) {
        const key = `${row.job} ${row.kind.slice('step:'.length)}`;
        ran.set(key, [...(ran.get(key) ?? []), row]);
      }
      // The worker of each attempt, from its `start` row: a child orphaned by the kill may write a
      // step's effect after it (its parent is then pid 1) before it learns that its worker is gone.
      const starts = rows.filter((r) => r.kind === 'start');
      const workerOf = new Map(starts.map((r) => [`${r.job} ${r.attempt}`, r.worker]));
      const unrecorded: string[] = [];
      const ranAfterRecord: EffectRow[] = [];
      const notOnceInRecordingAttempt: string[] = [];
      /**
       * Why an attempt that ran a step without recording it ended: the reap of that attempt (its
       * job's STALLED requeue naming it) came after a kill of its worker, or the worker lived on
       * and lost the lease, too slow to renew it under the load, its attempt then stale (its child
       * may finish the step it was in before it hears). Kills are stamped when sent, reaps when
       * heard, after they happened.
       */
      const causeOf = (r: EffectRow): 'kill' | 'lease' => {
        const reap = requeued.find((q) => q.job === r.job && q.message.startsWith(stalledMessage(r.attempt, true)));
        const killAt = driver.killedAt.get(workerOf.get(`${r.job} ${r.attempt}`) ?? 0);
        return killAt !== undefined && killAt <= (reap?.at ?? Number.POSITIVE_INFINITY) ? 'kill' : 'lease';
      };
      // Attempts reaped while their worker lived (lease not renewed in time), from their start rows.
      const reapedAlive = requeued.filter((q) => {
        const attempt = starts.find((r) => r.job === q.job && q.message.startsWith(stalledMessage(r.attempt, true)));
        const killAt = attempt && driver.killedAt.get(attempt.worker);
        return attempt !== undefined && (killAt === undefined || killAt > q.at);
      }).length;
      const twiceByLeaseLoss: EffectRow[] = [];
      /** For each extra run by a kill: its effect's time from the kill (negative: before it). */
      const twiceMsFromKill: number[] = [];
      let stepsRunTwice = 0;
      let extraRuns = 0;
      for (const job of jobs) {
        const steps = records.get(job.id) ?? [];
        if (steps.length !== STEPS) unrecorded.push(`${job.id}: ${steps.length} recorded`);
        for (const step of steps) {
          const effectsOf = ran.get(`${job.id} ${step.name}`) ?? [];
          // Without clocks: an attempt numbered after the record's started after it, and had it to
          // recall (but for a stale attempt's record landing as the next attempt is claimed, which
          // that attempt then replaces: src/store/postgres/steps.ts).
          ranAfterRecord.push(...effectsOf.filter((r) => r.attempt > step.attempt));
          if (effectsOf.filter((r) => r.attempt === step.attempt).length !== 1) {
            notOnceInRecordingAttempt.push(`${job.id} ${step.name}`);
          }
          const earlier = effectsOf.filter((r) => r.attempt < step.attempt);
          for (const r of earlier) {
            const killed = driver.killedAt.get(workerOf.get(`${r.job} ${r.attempt}`) ?? 0);
            if (causeOf(r) === 'lease') twiceByLeaseLoss.push(r);
            else if (killed !== undefined) twiceMsFromKill.push(r.at - killed);
          }
          if (earlier.length > 0) stepsRunTwice++;
          extraRuns += earlier.length;
        }
      }
      // The work saved: every attempt got back the steps recorded before it (by earlier attempts,
      // all ended by then) instead of running them again, as a restart from zero would have.
      const recalled = starts.reduce(
        (sum, start) => sum + (records.get(start.job) ?? []).filter((s) => s.attempt < start.attempt).length,
        0,
      );
      const stepRuns = [...ran.values()].reduce((sum, list) => sum + list.length, 0);
      const attempts = jobs.reduce((sum, j) => sum + j.attempt, 0);
      const resumedAttempts = starts.filter((start) =>
        (records.get(start.job) ?? []).some((s) => s.attempt < start.attempt),
      ).length;
      // How long a step's effect waits for its record: the window in which a kill makes it run twice.
      const waits = jobs
        .flatMap((job) =>
          (records.get(job.id) ?? []).map((step) => {
            const effect = (ran.get(`${job.id} ${step.name}`) ?? []).find((r) => r.attempt === step.attempt);
            return effect ? Date.parse(step.recordedAt) - effect.at : Number.NaN;
          }),
        )
        .filter((ms) => !Number.isNaN(ms))
        .sort((a, b) => a - b);
      const percentile = (p: number) => waits[Math.min(waits.length - 1, Math.floor(p * waits.length))] ?? 0;
      const orphans = await childrenGone(data);

      recordFigures('steps kill test, PostgreSQL', {
        jobs: SIZE.jobs,
        steps: STEPS,
        workers: SIZE.workers,
        seconds: Number(seconds.toFixed(1)),
        kills: driver.kills,
        succeeded: jobs.length - lost.length,
        lost: lost.length,
        attempts,
        resumedAttempts,
        stepRuns,
        stepsRunTwice,
        extraRuns,
        ranAfterRecord: ranAfterRecord.length,
        reapedAlive,
        twiceByLeaseLoss: twiceByLeaseLoss.length,
        twiceAfterKill: twiceMsFromKill.filter((ms) => ms > 0).length,
        twiceMsFromKill: range(twiceMsFromKill),
        requeuedNotStalled: requeued.filter((q) => q.code !== 'STALLED').length,
        recalled,
        fromZero: stepRuns + recalled,
        stepsTimesAttempts: STEPS * attempts,
        recordMsMedian: percentile(0.5),
        recordMsP95: percentile(0.95),
        maxAttempt: Math.max(...jobs.map((j) => j.attempt)),
        orphanChildren: orphans.length,
      });

      expect(lost.map((j) => `${j.id} ${j.status} ${JSON.stringify(j.error)}`)).toEqual([]);
      expect(jobs.map((j) => (j.result as { sum?: number }).sum)).toEqual(
        Array(SIZE.jobs).fill((STEPS * (STEPS - 1)) / 2),
      );
      expect(unrecorded).toEqual([]);
      expect(ranAfterRecord).toEqual([]);
      expect(notOnceInRecordingAttempt).toEqual([]);
      // A step ran twice only in an attempt cut off between its effect and its record: every attempt
      // but a job's last ended by losing its lease (its worker killed, or too slow under the load to
      // renew it: counted apart, twiceByLeaseLoss), none by an error.
      expect(requeued.filter((q) => q.code !== 'STALLED')).toEqual([]);
      expect(driver.kills).toBeGreaterThan(0);
      expect(resumedAttempts).toBeGreaterThan(0);
      expect(orphans).toEqual([]);
      expect(exits).toEqual(Array(SIZE.workers).fill(0));
    } finally {
      await store.close();
    }
  });
});
