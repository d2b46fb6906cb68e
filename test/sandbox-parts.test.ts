import { describe, expect, it } from 'vitest';
import { exec, LineSplitter } from '../src/worker/exec.ts';
import { AttemptAbort } from '../src/worker/runner.ts';
import { childEnv } from '../src/worker/sandbox/env.ts';
import { PROTOCOL_VERSION, parseChildMessage } from '../src/worker/sandbox/protocol.ts';
import { processTable, waitUntil } from './fixtures/sandbox/processes.ts';

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
