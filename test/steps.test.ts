/**
 * Resumable steps (ctx.step) through a real worker, in the worker's process and in sandbox
 * children, on SQLite: a later attempt gets the recorded results without running the steps again,
 * its bar and log go on from where the earlier one stopped, the rules fail the attempt with their
 * words, and the API and the job page say where the latest attempt resumed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.ts';
import { createQueue } from '../src/queue/queue.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { JobEvent, Store } from '../src/store/store.ts';
import { inProcessRunner } from '../src/worker/in-process-runner.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import type { JobRunner } from '../src/worker/runner.ts';
import { sandboxRunner } from '../src/worker/sandbox/index.ts';
import { tasks } from './fixtures/steps/tasks.ts';
import { json, setup, type TestEnv } from './helpers/http.ts';
import { tempDir } from './helpers/temp.ts';
import { waitForStatus } from './helpers/wait.ts';

const MODULE = fileURLToPath(new URL('./fixtures/steps/tasks.ts', import.meta.url));
const dir = tempDir('underway-steps-');
const silent = createLogger({ level: 'silent' });
let n = 0;
const savedKey = process.env.UNDERWAY_SECRET_KEY;
beforeAll(() => {
  process.env.UNDERWAY_SECRET_KEY = 'steps test passphrase';
});
afterAll(() => {
  if (savedKey === undefined) delete process.env.UNDERWAY_SECRET_KEY;
  else process.env.UNDERWAY_SECRET_KEY = savedKey;
  dir.cleanup();
});

const open: { stores: Store[]; workers: Worker[]; runners: JobRunner[]; envs: TestEnv[] } = {
  stores: [],
  workers: [],
  runners: [],
  envs: [],
};
afterEach(async () => {
  await Promise.all(open.workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
  await Promise.all(open.runners.splice(0).map((r) => r.close()));
  await Promise.all(open.stores.splice(0).map((s) => s.close()));
  await Promise.all(open.envs.splice(0).map((e) => e.close()));
});

const RULES = [
  ['duplicate', 'TypeError', /the step "same" was already used in this attempt/],
  ['too-large', 'RangeError', /the step "big" returned 307202 bytes of JSON; at most 262144/],
  ['not-json', 'TypeError', /the step "bigint" returned a value that is not JSON/],
  ['empty-name', 'TypeError', /a step's name must be a string of 1 to 200 characters, not ""/],
  ['long-name', 'TypeError', /a step's name must be a string of 1 to 200 characters/],
  ['secret', 'TypeError', /the step "leak" returned the value of a secret param/],
] as const;

const runners = [
  { name: 'in-process', how: 'throw' as const, make: () => inProcessRunner(), rules: RULES },
  // A child that ends itself mid-job: the worker sees a crash, as when a machine dies. The rules
  // are the same code in a child; these three cross IPC each way (the secret one is the worker's).
  {
    name: 'sandbox',
    how: 'exit' as const,
    make: () => sandboxRunner({ module: MODULE, size: 1, termGraceMs: 1_000, logger: silent }),
    rules: RULES.filter(([broken]) => ['duplicate', 'too-large', 'secret'].includes(broken)),
  },
];

function start(runner: JobRunner) {
  const store = sqliteStore({ file: dir.file(`s${++n}.db`) });
  const queue = createQueue({ store, tasks });
  open.stores.push(store);
  open.runners.push(runner);
  open.workers.push(createWorker({ store, tasks, runner, logger: silent, pollMs: 50 }).start());
  return { store, queue };
}

/** "attempt name" lines the steps wrote, one per run of a step's fn. */
function effectsOf(file: string): { attempt: number; name: string }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [attempt, name] = line.split(' ');
      return { attempt: Number(attempt), name: name as string };
    });
}

describe.each(runners)('ctx.step, $name', (runner) => {
  it('a job whose first attempt dies after step file-5 resumes there: no recorded step runs again, the bar goes on', async () => {
    const { store, queue } = start(runner.make());
    const effects = dir.file(`effects-${n}.txt`);
    writeFileSync(effects, '');
    const events: JobEvent[] = [];
    const off = store.events.listen((event) => events.push(event));
    const { job } = await queue.start('steps.files', { effects, files: 10, dieAfter: 5, how: runner.how });
    const done = await waitForStatus(store, job.id, ['succeeded', 'failed']);
    off();

    expect(done).toMatchObject({ status: 'succeeded', attempt: 2 });
    expect(done.result).toEqual({
      sizes: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90],
      at: 'string',
      keys: ['at', 'names'],
    });
    // Every step's fn ran once: the first attempt's up to file-5, the second's after it.
    const ran = effectsOf(effects);
    const names = ['list', ...Array.from({ length: 10 }, (_, i) => `file-${i}`)];
    expect(ran.map((r) => r.name)).toEqual(names);
    expect(ran.map((r) => r.attempt)).toEqual([1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2]);

    const steps = await store.listSteps(job.id);
    expect(steps.map((s) => [s.name, s.attempt])).toEqual(ran.map((r) => [r.name, r.attempt]));
    expect(steps.find((s) => s.name === 'list')?.result).toMatchObject({ at: expect.any(String) });
    // Recorded with each step: the bar as it was when the step returned.
    expect(steps.find((s) => s.name === 'file-5')?.progress).toMatchObject({ current: 5, total: 10 });

    const logs = (await store.readLogs(job.id)).filter((l) => l.stream === 'system').map((l) => l.line);
    expect(logs).toContain(
      "resumed: 7 of the job's steps were recorded by earlier attempts; continuing after step file-5",
    );

    // The second attempt's bar starts at the step's progress and never goes below it, though the
    // task reports 0 to 4 again as it goes through the recorded steps.
    const isStatus = (e: JobEvent, status: string) => e.type === 'status' && e.jobId === job.id && e.status === status;
    const firstRun = events.findIndex((e) => isStatus(e, 'running'));
    const retried = events.findIndex((e, i) => i > firstRun && isStatus(e, 'queued'));
    expect(retried).toBeGreaterThan(firstRun);
    const second = events
      .slice(retried)
      .filter((e): e is Extract<JobEvent, { type: 'progress' }> => e.type === 'progress' && e.jobId === job.id)
      .map((e) => e.progress.current);
    expect(second[0]).toBe(5);
    expect(Math.min(...second)).toBe(5);
    expect(second.at(-1)).toBe(10);
  });

  it.each(runner.rules)(
    'a step that breaks a rule (%s) fails the attempt with a %s that says so; nothing recorded',
    async (broken, name, words) => {
      const { store, queue } = start(runner.make());
      const params = broken === 'secret' ? { broken, password: 'correct horse battery staple' } : { broken };
      const { job } = await queue.start('steps.rules', params as never);
      const done = await waitForStatus(store, job.id, ['succeeded', 'failed']);
      expect(done.status).toBe('failed');
      expect(done.error?.message).toMatch(words);
      expect(done.error?.detail).toMatch(new RegExp(`^${name}: `));
      const recorded = (await store.listSteps(job.id)).map((s) => s.name);
      expect(recorded).toEqual(broken === 'duplicate' ? ['same'] : []);
    },
  );
});

describe('the job JSON and page show where the latest attempt resumed', () => {
  it('recorded steps, and the attempt that resumed after the last of them', async () => {
    const env = setup();
    open.envs.push(env);
    const { job } = await env.store.enqueue({ task: 'echo', params: { text: 'a' }, owner: 'alice', maxAttempts: 3 });
    const claim = async () => {
      const [claimed] = await env.store.claim({ workerId: 'w', tasks: ['echo'], limit: 1, leaseMs: 30_000 });
      if (!claimed) throw new Error('expected a claim');
      return claimed;
    };
    const first = await claim();
    const none = await json(await env.call(`/api/jobs/${job.id}`));
    expect(none.steps).toEqual({ recorded: 0, resumed: null });
    for (let i = 0; i < 12; i++) {
      await env.store.recordStep(first.lease, { name: `file-${i}`, result: i, progress: null });
    }
    // The worker dies: its lease runs out, the job is reaped and claimed again, after the records.
    const lastAt = Date.parse((await env.store.listSteps(job.id)).at(-1)?.recordedAt ?? '');
    while (Date.now() <= lastAt) await new Promise((resolve) => setImmediate(resolve));
    await env.store.heartbeat([first.lease], -1_000);
    await env.store.reapExpiredLeases();
    const second = await claim();
    await env.store.recordStep(second.lease, { name: 'file-12', result: 12, progress: null });

    const body = await json(await env.call(`/api/jobs/${job.id}`));
    expect(body.steps).toEqual({ recorded: 13, resumed: { attempt: 2, afterStep: 'file-11', recorded: 12 } });
    const page = await (await env.call(body.urls.page)).text();
    expect(page).toContain('Attempt 2 resumed after step file-11 (12 recorded before it, 13 in all)');
    // Lists stay as they were: no step read per job.
    const list = await json(await env.call('/api/jobs'));
    expect(list.jobs[0]).not.toHaveProperty('steps');
  });
});
