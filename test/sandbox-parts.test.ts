import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exec, LineSplitter } from '../src/worker/exec.ts';
import { AttemptAbort } from '../src/worker/runner.ts';
import { Cgroup, cgroupDir, oomKilled, ownCgroupPath } from '../src/worker/sandbox/cgroup.ts';
import { childEnv } from '../src/worker/sandbox/env.ts';
import { memoryLimitError, parseVmRss } from '../src/worker/sandbox/memory-limit.ts';
import { groupMembers, killAllBut } from '../src/worker/sandbox/process-group.ts';
import { PROTOCOL_VERSION, parseChildMessage } from '../src/worker/sandbox/protocol.ts';
import { isGone, processTable, waitUntil } from './fixtures/sandbox/processes.ts';
import { tempDir } from './helpers/temp.ts';

const dir = tempDir('underway-sandbox-parts-');
afterAll(() => dir.cleanup());

describe('the parent-child protocol', () => {
  it('accepts well-formed child messages and refuses everything else', () => {
    const v = PROTOCOL_VERSION;
    const good = { v, type: 'progress', jobId: 'j', current: 1, total: null, message: 'x' };
    expect(parseChildMessage(good)).toBe(good);
    for (const bad of [
      null,
      'hello',
      [],
      { ...good, v: 99 },
      { ...good, type: 'explode' },
      { ...good, type: '__proto__' },
      { ...good, current: '1' },
      { ...good, current: Number.NaN },
      { v, type: 'log', jobId: 'j', stream: 'stdin', line: 'x' },
      { v, type: 'error', jobId: 'j', error: { name: 'E' }, rssBytes: 1 },
      { v, type: 'artifact', jobId: 'j', requestId: 1, name: 'a', contentType: null, payload: { kind: 'url' } },
    ]) {
      expect(parseChildMessage(bad)).toBeNull();
    }
  });
});

describe('output lines', () => {
  it('splits chunks into lines, holding partial lines and cutting very long ones', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line), 10);
    splitter.push('one\r\ntw');
    splitter.push('o\nthree is far too long');
    splitter.push(' and goes on\nfour');
    splitter.end();
    expect(lines).toEqual(['one', 'two', 'three is f… [cut]', 'four']);
  });
});

describe('the child environment', () => {
  it('keeps only allowed names, never the secret key or NODE_OPTIONS', () => {
    const from = { PATH: '/bin', HOME: '/h', AWS_SECRET: 'x', UNDERWAY_SECRET_KEY: 'k', NODE_OPTIONS: '--inspect' };
    const env = childEnv(['PATH', 'HOME', 'UNDERWAY_SECRET_KEY', 'NODE_OPTIONS'], { EXTRA: '1' }, from);
    expect(env).toEqual({ PATH: '/bin', HOME: '/h', EXTRA: '1', UNDERWAY_SANDBOX: '1' });
  });
});

describe.skipIf(process.platform === 'win32')('ctx.exec', () => {
  it('ends the whole process tree when the job is aborted', async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const running = exec(
      'sh',
      ['-c', 'echo up; sleep 102 & sleep 102'],
      {},
      {
        signal: controller.signal,
        log: (_stream, line) => lines.push(line),
      },
    );
    const sleepers = () => processTable().filter((row) => row.args === 'sleep 102');
    await waitUntil(() => sleepers().length === 2, 'both sleepers run');
    controller.abort(new AttemptAbort('cancel', 'Cancelled on request.'));
    await expect(running).rejects.toMatchObject({ kind: 'cancel' });
    await waitUntil(() => sleepers().length === 0, 'no sleeper is left');
    expect(lines).toEqual(['up']);
  });

  it('rejects when the program cannot start', async () => {
    const hooks = { signal: new AbortController().signal, log: () => {} };
    await expect(exec('/no/such/program', [], {}, hooks)).rejects.toThrow(/Could not run \/no\/such\/program/);
  });
});

describe('finding our cgroup', () => {
  const mountinfo = (root: string, point: string, type = 'cgroup2') =>
    `22 1 0:20 / /proc rw - proc proc rw\n41 31 0:38 ${root} ${point} rw,relatime - ${type} ${type} rw\n`;

  it('reads the v2 path from /proc/self/cgroup, null on cgroup v1 only', () => {
    expect(ownCgroupPath('4:memory:/x\n0::/system.slice/app.service\n')).toBe('/system.slice/app.service');
    expect(ownCgroupPath('4:memory:/x\n1:cpu:/\n')).toBeNull();
  });

  it('finds it under the cgroup2 mount: pure, hybrid, a namespaced root, an escaped space', () => {
    expect(cgroupDir('/app', mountinfo('/', '/sys/fs/cgroup'))).toBe('/sys/fs/cgroup/app');
    expect(cgroupDir('/', mountinfo('/', '/sys/fs/cgroup/unified'))).toBe('/sys/fs/cgroup/unified');
    expect(cgroupDir('/docker/abc/x', mountinfo('/docker/abc', '/sys/fs/cgroup'))).toBe('/sys/fs/cgroup/x');
    expect(cgroupDir('/docker/abcd', mountinfo('/docker/abc', '/sys/fs/cgroup'))).toBeNull();
    expect(cgroupDir('/a', mountinfo('/', '/mnt/with\\040space'))).toBe('/mnt/with space/a');
    expect(cgroupDir('/a', mountinfo('/', '/sys/fs/cgroup/memory', 'cgroup'))).toBeNull();
  });

  it('tells a kernel memory.max kill from memory.events', () => {
    const fake = join(dir.path, 'fake-cgroup');
    mkdirSync(fake);
    expect(oomKilled(new Cgroup(fake))).toBe(false); // No memory controller: no file.
    writeFileSync(join(fake, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\noom_group_kill 0\n');
    expect(oomKilled(new Cgroup(fake))).toBe(false);
    writeFileSync(join(fake, 'memory.events'), 'low 0\nhigh 0\nmax 9\noom 1\noom_kill 2\noom_group_kill 1\n');
    expect(oomKilled(new Cgroup(fake))).toBe(true);
  });

  it.skipIf(process.platform === 'win32')(
    'kills pid by pid where the kernel has no cgroup.kill (before 5.14)',
    async () => {
      const fake = join(dir.path, 'old-kernel');
      mkdirSync(join(fake, 'job-1'), { recursive: true });
      const sleeper = spawn('sleep', ['103'], { stdio: 'ignore' });
      writeFileSync(join(fake, 'cgroup.procs'), '');
      writeFileSync(join(fake, 'job-1', 'cgroup.procs'), `${sleeper.pid}\n`);
      new Cgroup(fake).kill();
      await waitUntil(() => isGone(sleeper.pid as number), 'the sleeper listed in a child cgroup is gone');
    },
  );
});

describe('the memory limit', () => {
  it('reads VmRSS and words the error', () => {
    expect(parseVmRss('Name:\tnode\nVmHWM:\t  90000 kB\nVmRSS:\t   81234 kB\nRssAnon:\t 1 kB\n')).toBe(81234 * 1024);
    expect(parseVmRss('Name:\tzombie\n')).toBeNull();
    const mb = 1024 * 1024;
    expect(memoryLimitError(612.4 * mb, 512 * mb)).toEqual({
      name: 'MemoryLimitError',
      code: 'MEMORY_LIMIT',
      message: 'The job used 612 MB, over its 512 MB limit.',
      permanent: true,
    });
  });
});

describe.skipIf(process.platform === 'win32')('the process-group fallback', () => {
  it('lists a process group and kills every member but those spared', async () => {
    const script =
      "const { spawn } = require('node:child_process'); for (const i of [1, 2]) spawn('sleep', ['103']); setInterval(() => {}, 1000);";
    const leader = spawn(process.execPath, ['-e', script], { detached: true, stdio: 'ignore' });
    const pid = leader.pid as number;
    const byPid = (a: number, b: number) => a - b;
    try {
      const inGroup = () => processTable().filter((row) => row.pgid === pid);
      await waitUntil(() => inGroup().length === 3, 'the leader and two sleepers run');
      const members = await groupMembers(pid);
      expect(members.map((m) => m.pid).sort(byPid)).toEqual(
        inGroup()
          .map((row) => row.pid)
          .sort(byPid),
      );
      expect(members.filter((m) => m.pid !== pid)).toMatchObject([
        { ppid: pid, comm: 'sleep' },
        { ppid: pid, comm: 'sleep' },
      ]);
      expect(
        await killAllBut(
          (info) => info.pid === pid,
          () => groupMembers(pid),
        ),
      ).toBe(true);
      expect(inGroup().map((row) => row.pid)).toEqual([pid]);
    } finally {
      process.kill(-pid, 'SIGKILL');
    }
  });
});
