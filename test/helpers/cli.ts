import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/underway.js', import.meta.url));
export const FIXTURE_CONFIG = fileURLToPath(new URL('../fixtures/cli/underway.config.ts', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `underway ...args` to the end in a real process (in `cwd`, default the repository). */
export function runCli(args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, UNDERWAY_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs `underway ...args` and closes its stdout as soon as the first line arrives, as
 * `underway ... | head -1` does; resolves with that line, the exit code and stderr.
 */
export function runCliClosingStdout(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, UNDERWAY_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const onData = (chunk: Buffer) => {
      stdout += chunk.toString();
      const end = stdout.indexOf('\n');
      if (end === -1) return;
      stdout = stdout.slice(0, end + 1);
      child.stdout.off('data', onData);
      child.stdout.destroy(); // The reader goes away: the CLI's next write meets EPIPE.
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const running = new Set<ChildProcess>();
/** Everything each started process wrote (stdout and stderr, interleaved as it came). */
const outputs = new WeakMap<ChildProcess, { text: string; closed: boolean }>();

/**
 * Starts a long-running `underway` process (worker, serve) and resolves once its output says
 * `readyText` (the JSON log lines go to stderr).
 */
export function startCli(
  args: string[],
  env: Record<string, string>,
  readyText: string,
  cwd = ROOT,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...process.env, UNDERWAY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const output = { text: '', closed: false };
  outputs.set(child, output);
  child.on('close', () => (output.closed = true));
  const append = (chunk: Buffer) => {
    output.text += chunk.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return waitForOutput(child, readyText).then(
    () => child,
    (error: unknown) => {
      throw new Error(`underway ${args.join(' ')} was not ready: ${(error as Error).message}`);
    },
  );
}

/** What a process started by startCli has written so far. */
export function outputOf(child: ChildProcess): string {
  return outputs.get(child)?.text ?? '';
}

/**
 * Resolves with the first match of `pattern` in what the process wrote (at once if it already
 * did); rejects if the process exits first or after `timeoutMs`.
 */
export function waitForOutput(
  child: ChildProcess,
  pattern: string | RegExp,
  timeoutMs = 20_000,
): Promise<RegExpExecArray | string> {
  const find = () => {
    const text = outputOf(child);
    if (typeof pattern === 'string') return text.includes(pattern) ? pattern : null;
    return pattern.exec(text);
  };
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = find();
      if (found) finish(() => resolve(found));
    };
    // 'close', not 'exit': the last output may come after 'exit'.
    const onClose = () =>
      finish(() =>
        reject(
          new Error(`it exited (${child.exitCode ?? child.signalCode}) before writing ${pattern}:\n${outputOf(child)}`),
        ),
      );
    const timer = setTimeout(
      () => finish(() => reject(new Error(`${pattern} did not come in ${timeoutMs} ms:\n${outputOf(child)}`))),
      timeoutMs,
    );
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('close', onClose);
      fn();
    };
    // After the collectors (registered first), so the text includes the chunk that woke us.
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('close', onClose);
    check();
    if (outputs.get(child)?.closed) onClose();
  });
}

/** Resolves when the process has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** Kills every process startCli started that is still alive; returns how many there were. */
export async function killLeftovers(): Promise<number> {
  const left = [...running];
  for (const child of left) child.kill('SIGKILL');
  await Promise.all(left.map(exited));
  return left.length;
}
