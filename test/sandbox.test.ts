import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobStatus } from '../src/core/job.ts';
import { createLogger } from '../src/logger.ts';
import { createQueue } from '../src/queue/queue.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { JobEvent, Store } from '../src/store/store.ts';
import { createWorker, type Worker, type WorkerOptions } from '../src/worker/index.ts';
import { Cgroup, poolCgroupName, probeCgroups } from '../src/worker/sandbox/cgroup.ts';
import { type SandboxRunner, type SandboxRunnerOptions, sandboxRunner } from '../src/worker/sandbox/index.ts';
import { detectIsolation } from '../src/worker/sandbox/process-tree.ts';
import { isAlive, isGone, processTable, waitUntil } from './fixtures/sandbox/processes.ts';
import { tasks } from './fixtures/sandbox/tasks.ts';
import { tempDir } from './helpers/temp.ts';
import { collectEvents, waitForStatus } from './helpers/wait.ts';

const MODULE = fileURLToPath(new URL('./fixtures/sandbox/tasks.ts', import.meta.url));
const ENDED: JobStatus[] = ['succeeded', 'failed', 'cancelled'];
const dir = tempDir('underway-sandbox-');
const silent = createLogger({ level: 'silent' });
let n = 0;
const savedKey = process.env.UNDERWAY_SECRET_KEY;

beforeAll(() => {
  process.env.UNDERWAY_SECRET_KEY = 'sandbox test passphrase';
  process.env.FIXTURE_DECLARED = 'declared-value';
  process.env.FIXTURE_UNDECLARED = 'undeclared-value';
});
afterAll(() => {
  if (savedKey === undefined) delete process.env.UNDERWAY_SECRET_KEY;
  else process.env.UNDERWAY_SECRET_KEY = savedKey;
  dir.cleanup();
});

const open: { stores: Store[]; workers: Worker[]; runners: SandboxRunner[] } = { stores: [], workers: [], runners: [] };
/** Every child pid a test saw (from the runner or reported by a task): all must be gone after it. */
const seen = new Set<number>();
const SLEEPERS = /^sleep 10[01]$/;

afterEach(async () => {
  for (const runner of open.runners) for (const pid of runner.pids()) seen.add(pid);
  await Promise.all(open.workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
  await Promise.all(open.runners.splice(0).map((r) => r.close()));
  await Promise.all(open.stores.splice(0).map((s) => s.close()));
  const pids = [...seen];
  seen.clear();
  const leftovers = () => processTable().filter((row) => pids.includes(row.pid) || SLEEPERS.test(row.args));
  try {
    await waitUntil(() => leftovers().length === 0, 'every child process is gone', 5_000);
  } catch (error) {
    const rows = leftovers();
    for (const row of rows) process.kill(row.pid, 'SIGKILL');
    throw new Error(`Processes were left running: ${rows.map((r) => `${r.pid} ${r.args}`).join('; ')}`, {
      cause: error,
    });
  }
});

function setup(options: { runner?: Partial<SandboxRunnerOptions>; worker?: Partial<WorkerOptions> } = {}) {
  const store = sqliteStore({ file: dir.file(`s${++n}.db`) });
  const runner = sandboxRunner({ module: MODULE, size: 2, termGraceMs: 1_000, logger: silent, ...options.runner });
  const queue = createQueue({ store, tasks });
  const worker = createWorker({ store, tasks, runner, logger: silent, cancelGraceMs: 500, ...options.worker });
  open.stores.push(store);
  open.runners.push(runner);
  open.workers.push(worker.start());
  const run = async (task: string, params: object = {}, start: { timeoutSeconds?: number } = {}) => {
    const { job } = await queue.start(task, params as never, start);
    return waitForStatus(store, job.id, ENDED);
  };
  return { store, queue, runner, worker, run };
}

/** The pid a task put in its progress message ("… in 1234 …"), once it is running. */
async function reportedPid(store: Store, jobId: string): Promise<number> {
  const event = await collectEvents(
    store,
    (e) => e.type === 'progress' && e.jobId === jobId && / in \d+/.test(e.progress.message ?? ''),
  );
  const last = event.at(-1) as Extract<JobEvent, { type: 'progress' }>;
  const pid = Number(/ in (\d+)/.exec(last.progress.message ?? '')?.[1]);
  seen.add(pid);
  return pid;
}

async function text(body: AsyncIterable<Uint8Array> | undefined): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body ?? []) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

describe('sandbox runner', () => {
  it('runs jobs in a warm child: result, progress, and every output line', async () => {
    const { store, run } = setup();
    const first = await run('hello', { name: 'Ada' });
    expect(first).toMatchObject({ status: 'succeeded', progress: { current: 2, total: 2, message: 'done' } });
    const { pid } = first.result as { pid: number };
    seen.add(pid);
    expect(pid).not.toBe(process.pid);
    const logs = await store.readLogs(first.id);
    // In order within each stream; stdout and stderr are two pipes, so not across them.
    const of = (stream: string) => logs.filter((l) => l.stream === stream).map((l) => l.line);
    expect(of('stdout')).toEqual(['console says hello Ada', "ctx says { name: 'Ada' }", 'no newline at the end']);
    expect(of('stderr')).toEqual(['console warns']);
    expect(logs.every((l) => !Number.isNaN(Date.parse(l.at)))).toBe(true);
    // Warm: the next job runs in the same process; `sandbox: false` runs in the worker's.
    expect(((await run('noop')).result as { pid: number }).pid).toBe(pid);
    expect(((await run('inline')).result as { pid: number }).pid).toBe(process.pid);
  });

  it('gives the child a clean environment and no params on its command line', async () => {
    const { run } = setup();
    const done = await run('env');
    const { env, argv, execArgv } = done.result as { env: Record<string, string>; argv: string[]; execArgv: string[] };
    expect(env).toMatchObject({ PATH: process.env.PATH, UNDERWAY_SANDBOX: '1', FIXTURE_DECLARED: 'declared-value' });
    expect(env).not.toHaveProperty('FIXTURE_UNDECLARED');
    expect(env).not.toHaveProperty('UNDERWAY_SECRET_KEY');
    expect(env).not.toHaveProperty('NODE_OPTIONS');
    expect(argv.slice(1).join(' ')).toMatch(/child-main\.ts$/);
    expect(execArgv.join(' ')).toMatch(/tsx/);
  });

  it('ctx.exec returns the exit code and output, and logs the output', async () => {
    const { store, run } = setup();
    const done = await run('exec');
    expect(done.result).toEqual({ code: 3, signal: null, stdout: 'out one\nout two', stderr: 'err one\n' });
    const lines = (await store.readLogs(done.id)).map((l) => `${l.stream}:${l.line}`);
    expect(lines.sort()).toEqual(['stderr:err one', 'stdout:out one', 'stdout:out two']);
  });

  it('ignores malformed messages from the child, with a line in the log', async () => {
    const { store, run } = setup();
    const done = await run('garbage');
    expect(done).toMatchObject({ status: 'succeeded', result: 'still fine' });
    expect((await store.readLogs(done.id)).filter((l) => l.stream === 'system')).toHaveLength(2);
  });

  it('fails jobs with the reason when the module cannot load, without restarting in a loop', async () => {
    const broken = fileURLToPath(new URL('./fixtures/sandbox/broken.ts', import.meta.url));
    const { run, runner } = setup({ runner: { module: broken } });
    const done = await run('throw');
    expect(done.error).toMatchObject({
      code: 'CRASHED',
      message: expect.stringMatching(/could not load .*broken on purpose/),
    });
    expect(runner.pids()).toEqual([]);
  });

  it('saves artifacts sent inline and through a file', async () => {
    const { store, run } = setup();
    const done = await run('artifact');
    expect(done.result).toEqual({ small: 10, big: 600 * 1024 });
    expect(done.artifacts.map((a) => a.name).sort()).toEqual(['big.bin', 'small.txt']);
    const small = await store.openArtifact(done.id, 'small.txt');
    expect(await text(small?.body)).toBe('small body');
  });

  it('a crash ends only its job, each with a specific reason, and the worker goes on', async () => {
    const { run } = setup({ runner: { size: 4 } });
    const [exit, thrown, aborted, oom, ipc, uncaught] = await Promise.all([
      run('exit', { code: 3 }),
      run('throw'),
      run('abort'),
      run('oom'),
      run('disconnect'),
      run('uncaught'),
    ]);
    expect(exit).toMatchObject({ status: 'failed', attempt: 2 }); // CRASHED is retried while attempts remain.
    expect(exit.error).toMatchObject({ code: 'CRASHED', message: "The job's process exited with code 3." });
    expect(thrown.error).toMatchObject({ code: 'TASK_ERROR', message: 'the task threw on purpose' });
    expect(aborted.error).toMatchObject({ code: 'CRASHED', message: "The job's process was killed by SIGABRT." });
    expect(oom.error).toMatchObject({
      code: 'CRASHED',
      message: "The job's process ran out of memory (heap limit 64 MB).",
    });
    expect(ipc.error).toMatchObject({ code: 'CRASHED', message: "The job's process lost its IPC channel." });
    expect(uncaught.error).toMatchObject({ code: 'TASK_ERROR', message: 'thrown from a timer' });
    expect((await run('noop')).status).toBe('succeeded');
  });

  it('recycles a child past its memory limit or job count', async () => {
    const { run } = setup({ runner: { size: 1, maxRssMb: 150, maxJobsPerChild: 3 } });
    const leaky = (await run('leak', { mb: 200 })).result as { pid: number; rssMb: number };
    seen.add(leaky.pid);
    expect(leaky.rssMb).toBeGreaterThan(150);
    const pids = [];
    for (let i = 0; i < 4; i++) pids.push(((await run('noop')).result as { pid: number }).pid);
    for (const pid of pids) seen.add(pid);
    expect(pids[0]).not.toBe(leaky.pid);
    expect(isAlive(leaky.pid)).toBe(false);
    expect(new Set(pids.slice(0, 3)).size).toBe(1);
    expect(pids[3]).not.toBe(pids[0]);
  });

  it('fails a job whose memory grows past its rssMb with MEMORY_LIMIT, not retried, in a fresh child next', async () => {
    const { store, queue, run } = setup({ runner: { size: 1 } });
    const small = await run('balloon', { mb: 32 }); // 32 MB of Buffers under a 64 MB limit.
    expect(small.status).toBe('succeeded');
    const { job } = await queue.start('balloon', { mb: 400 });
    const pid = await reportedPid(store, job.id);
    expect(pid).toBe((small.result as { pid: number }).pid); // The warm child ran both.
    const done = await waitForStatus(store, job.id, ENDED);
    expect(done).toMatchObject({ status: 'failed', attempt: 1 });
    expect(done.error).toMatchObject({
      code: 'MEMORY_LIMIT',
      message: expect.stringMatching(/^The job used \d+ MB, over its 64 MB limit\.$/),
    });
    await waitUntil(() => isGone(pid), `child ${pid} is gone`);
    const next = ((await run('noop')).result as { pid: number }).pid;
    seen.add(next);
    expect(next).not.toBe(pid);
  });

  it('cancels a CPU-bound job within grace + 1 s and the child is gone', async () => {
    const grace = 500;
    const { store, queue } = setup({ worker: { cancelGraceMs: grace } });
    const { job } = await queue.start('spin', {});
    const pid = await reportedPid(store, job.id);
    const started = Date.now();
    await queue.cancel(job.id);
    const done = await waitForStatus(store, job.id, ENDED);
    const endedMs = Date.now() - started;
    await waitUntil(() => !isAlive(pid), `child ${pid} is gone`, grace + 1_000 + 2_000);
    const goneMs = Date.now() - started;
    console.info(
      `cancel of a CPU-bound job: ended after ${endedMs} ms, child gone after ${goneMs} ms (grace ${grace} ms)`,
    );
    expect(done.error?.code).toBe('CANCELLED');
    expect(endedMs).toBeLessThan(grace + 1_000 + 2_000); // The bound, with generous slack for a slow CI machine.
  });

  it('a timed-out CPU-bound job fails with TIMEOUT and its child is replaced', async () => {
    const { store, queue, run } = setup({ runner: { size: 1 } });
    const warm = ((await run('noop')).result as { pid: number }).pid; // So the 0.5 s limit is not spent starting.
    const { job } = await queue.start('spin', {}, { timeoutSeconds: 0.5 });
    const pid = await reportedPid(store, job.id);
    expect(pid).toBe(warm);
    expect((await waitForStatus(store, job.id, ENDED)).error?.code).toBe('TIMEOUT');
    await waitUntil(() => !isAlive(pid), `child ${pid} is gone`);
    const next = ((await run('noop')).result as { pid: number }).pid;
    seen.add(next);
    expect(next).not.toBe(pid);
  });

  it('cancel leaves no process of a subprocess tree behind (cooperative and forced)', async () => {
    const { store, queue } = setup();
    const polite = (await queue.start('tree', {})).job;
    const deaf = (await queue.start('tree-spin', {})).job;
    await reportedPid(store, deaf.id);
    await waitUntil(
      () => processTable().filter((row) => SLEEPERS.test(row.args)).length === 4,
      'both jobs have their two sleepers running',
    );
    const groups = new Set(
      processTable()
        .filter((row) => SLEEPERS.test(row.args))
        .map((row) => row.pgid),
    );
    await queue.cancel(polite.id);
    await queue.cancel(deaf.id);
    expect((await waitForStatus(store, polite.id, ENDED)).status).toBe('cancelled');
    expect((await waitForStatus(store, deaf.id, ENDED)).status).toBe('cancelled');
    await waitUntil(
      () => !processTable().some((row) => groups.has(row.pgid) || SLEEPERS.test(row.args)),
      'no sleeper is left',
    );
  });
});

const isolation = detectIsolation();

/** A process's cgroup v2 path ("/underway-4026531836-1234-1/child-5678"), or '' off Linux. */
function cgroupOf(pid: number): string {
  if (process.platform !== 'linux') return '';
  return /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? '';
}

for (const mode of ['cgroup', 'process-group'] as const) {
  // As root on Linux with cgroup v2 mounted writable, both modes run; elsewhere cgroup mode says why not.
  const unavailable = mode === 'cgroup' && isolation.mode !== 'cgroup';
  const title = `a job's process tree, ${mode} mode${unavailable ? ` (skipped: ${isolation.reason})` : ''}`;
  describe.skipIf(unavailable || process.platform === 'win32')(title, () => {
    const treeSetup = () => setup({ runner: { size: 3, cgroups: mode === 'cgroup' } });

    for (const detached of [false, true]) {
      const escapes = detached && mode === 'process-group';
      const what = detached ? 'a detached (new session) grandchild' : 'a grandchild in the same process group';
      const skip = escapes ? ' (skipped: it leaves the process group, and only a cgroup holds it)' : '';
      it.skipIf(escapes)(`${what} ends with its job: on cancel, on timeout and at a normal end${skip}`, async () => {
        const { store, queue, run } = treeSetup();
        // Three warm children, so the 1 s timeout is not spent starting one.
        await Promise.all([run('noop'), run('noop'), run('noop')]);
        const cancelled = (await queue.start('grandchild', { detached, after: 'wait' })).job;
        const timedOut = (await queue.start('grandchild', { detached, after: 'spin' }, { timeoutSeconds: 1 })).job;
        const [cancelPid, timeoutPid] = await Promise.all([
          reportedPid(store, cancelled.id),
          reportedPid(store, timedOut.id),
        ]);
        if (mode === 'cgroup') expect(cgroupOf(cancelPid)).toMatch(/^\/underway-\d+-\d+-\d+\/child-\d+$/);
        expect(isGone(cancelPid)).toBe(false);

        await queue.cancel(cancelled.id);
        expect((await waitForStatus(store, cancelled.id, ENDED)).status).toBe('cancelled');
        await waitUntil(() => isGone(cancelPid), `the cancelled job's grandchild ${cancelPid} is gone`);
        expect((await waitForStatus(store, timedOut.id, ENDED)).error?.code).toBe('TIMEOUT');
        await waitUntil(() => isGone(timeoutPid), `the timed-out job's grandchild ${timeoutPid} is gone`);

        const ended = await run('grandchild', { detached, after: 'return' });
        const { pid, grandchild } = ended.result as { pid: number; grandchild: number };
        seen.add(grandchild);
        await waitUntil(() => isGone(grandchild), `the grandchild ${grandchild} of a job that ended is gone`);
        expect(isAlive(pid)).toBe(true); // The warm child that ran the job lives on for the next one.
      });
    }

    it("spares the child's own processes: one its module started, and tsx's esbuild service", async () => {
      const env = { FIXTURE_HELPER: '1' };
      const { run } = setup({ runner: { size: 1, cgroups: mode === 'cgroup', setEnv: env } });
      const results: { pid: number; value: number; helper: number }[] = [];
      for (const n of [1, 2, 3]) {
        const done = await run('import-ts', { dir: dir.path, n });
        expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
        results.push(done.result as { pid: number; value: number; helper: number });
      }
      expect(results.map((r) => r.value)).toEqual([2, 4, 6]); // Each job compiled TypeScript, after the last one's end.
      const first = results[0] as { pid: number; helper: number };
      expect(first.helper).toEqual(expect.any(Number)); // The module started its helper.
      seen.add(first.helper);
      expect(results.every((r) => r.pid === first.pid && r.helper === first.helper)).toBe(true);
      expect(isAlive(first.helper)).toBe(true);
    });

    if (mode !== 'cgroup') return;
    it('leaves no cgroup behind once closed', async () => {
      const { run, runner } = treeSetup();
      const { pid } = (await run('noop')).result as { pid: number };
      const probe = probeCgroups();
      const pool = cgroupOf(pid).split('/')[1] ?? '';
      expect(pool).toMatch(new RegExp(`^underway-\\d+-${process.pid}-\\d+$`));
      expect(probe.ok && existsSync(join(probe.dir, pool))).toBe(true);
      await runner.close();
      expect(probe.ok && existsSync(join(probe.dir, pool))).toBe(false);
    });

    it("kills and removes a dead worker's cgroup when the next pool starts", async () => {
      const probe = probeCgroups();
      if (!probe.ok) throw new Error(probe.reason);
      const gone = spawn(process.execPath, ['-e', '']);
      await once(gone, 'exit'); // Its pid now names a worker that is gone.
      const stale = new Cgroup(probe.dir).child(poolCgroupName(1).replace(`-${process.pid}-`, `-${gone.pid}-`));
      const orphan = spawn('sleep', ['100'], { stdio: 'ignore' });
      stale.child('child-1').add(orphan.pid as number);
      seen.add(orphan.pid as number);
      const { run } = treeSetup();
      await run('noop');
      await waitUntil(() => isGone(orphan.pid as number) && !existsSync(stale.path), 'the stale cgroup is gone');
    });
  });
}

describe('secrets in the sandbox', () => {
  it('appear in no stored row, log line or event; retries still get them', async () => {
    const { store, queue, run } = setup();
    const token = 'tok-9f8e7d6c5b4a';
    const events: JobEvent[] = [];
    const off = store.events.listen((event) => events.push(event));
    const done = await run('secretive', { user: 'ada', token, extra: 31_337 });
    off();
    expect(done).toMatchObject({
      status: 'succeeded',
      attempt: 2,
      result: { echoed: '[redacted]', length: token.length },
    });
    const logs = await store.readLogs(done.id);
    expect(logs.map((l) => l.line)).toContain('connecting as ada with [redacted]');
    const everything = JSON.stringify([done, await store.list(), logs, events]);
    expect(everything).not.toContain(token);
    expect(everything).not.toContain('31337');
    expect(events.some((e) => e.type === 'status' && e.error?.message === 'login with [redacted] failed')).toBe(true);
    for (const file of [`s${n}.db`, `s${n}.db-wal`]) {
      if (existsSync(dir.file(file))) expect(readFileSync(dir.file(file)).includes(token)).toBe(false);
    }
    expect((done.params as { token: string }).token).toMatch(/^\[redacted:v\d+:/);
    // A retried job carries the sealed params as they are, and they still open.
    const again = await queue.retry(
      (await run('linger', { marker: 'x', password: token }, { timeoutSeconds: 0.2 })).id,
    );
    const progress = await collectEvents(store, (e) => e.type === 'progress' && e.jobId === again.id);
    expect(JSON.stringify(progress.at(-1))).toContain(`password of ${token.length} characters`);
    await queue.cancel(again.id);
  });

  it('params never show in the process list or the child environment', async () => {
    const { store, queue } = setup();
    const marker = 'param-marker-5e1f';
    const password = 'pw-0a1b2c3d4e';
    const { job } = await queue.start('linger', { marker, password });
    const pid = await reportedPid(store, job.id);
    const table = processTable()
      .map((row) => row.args)
      .join('\n');
    expect(table).toContain('child-main');
    expect(table).not.toContain(marker);
    expect(table).not.toContain(password);
    if (process.platform === 'linux') {
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      expect(environ).not.toContain(marker);
      expect(environ).not.toContain(password);
    }
    await queue.cancel(job.id);
    await waitForStatus(store, job.id, ENDED);
  });
});
