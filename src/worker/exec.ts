import { spawn } from 'node:child_process';
import { MAX_LOG_LINE_LENGTH } from '../core/job.ts';
import type { ExecOptions, ExecResult } from '../core/task.ts';

/**
 * `ctx.exec` and the process-tree kill it shares with the sandbox pool.
 *
 * On POSIX every program runs as the leader of its own process group (`detached`), so one
 * `kill(-pgid)` reaches everything it started (`sh -c 'a & b'` included). Windows has no process
 * groups: `taskkill /T /F` walks the tree instead, and always kills at once (no SIGTERM stage).
 */

const IS_WINDOWS = process.platform === 'win32';
/** Characters of each stream kept in an exec result by default (the log gets everything). */
const DEFAULT_MAX_OUTPUT = 1024 * 1024;
/** After SIGTERM, how long a cancelled program gets before SIGKILL: tools like tar clean up in well under 1 s. */
const EXEC_KILL_GRACE_MS = 2_000;

/** Sends `signal` to the process group led by `pid` (POSIX) or kills the tree (Windows). Never throws. */
export function killTree(pid: number, signal: 'SIGTERM' | 'SIGKILL'): void {
  if (IS_WINDOWS) {
    try {
      const killer = spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { stdio: 'ignore', windowsHide: true });
      killer.on('error', () => {});
      killer.unref();
    } catch {
      // taskkill missing: nothing better to do.
    }
    return;
  }
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already; EPERM: not ours to kill.
  }
}

/** Listens to programs `exec` starts and ends in this process (the sandbox child tells its parent). */
export type SubprocessListener = (state: 'started' | 'ended', pid: number) => void;
let subprocessListener: SubprocessListener | null = null;

/** Sets (or, with null, clears) the one process-wide subprocess listener. */
export function onSubprocess(listener: SubprocessListener | null): void {
  subprocessListener = listener;
}

/** What `exec` needs from the job it runs for. */
export interface ExecHooks {
  signal: AbortSignal;
  log(stream: 'stdout' | 'stderr', line: string): void;
}

/**
 * Runs `command` with `args` (no shell), copying its output to the job's log line by line. Resolves
 * with the exit code and output; rejects with `signal.reason` after ending the process tree when
 * the job is aborted, and with the spawn error when the program cannot start. When the program
 * exits, whatever it left running in its process group is killed: a job leaves no daemons behind.
 */
export function exec(
  command: string,
  args: readonly string[] = [],
  options: ExecOptions = {},
  hooks: ExecHooks,
): Promise<ExecResult> {
  const { signal } = hooks;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: !IS_WINDOWS,
      windowsHide: true,
    });
    const pid = child.pid;
    const max = options.maxOutput ?? DEFAULT_MAX_OUTPUT;
    const output = { stdout: '', stderr: '' };
    let killTimer: NodeJS.Timeout | undefined;
    let spawnError: Error | null = null;

    for (const stream of ['stdout', 'stderr'] as const) {
      const splitter = new LineSplitter((line) => {
        if (options.log !== false) hooks.log(stream, line);
      });
      const readable = child[stream];
      readable?.setEncoding('utf8');
      readable?.on('data', (chunk: string) => {
        if (output[stream].length < max) output[stream] += chunk.slice(0, max - output[stream].length);
        splitter.push(chunk);
      });
      readable?.on('end', () => splitter.end());
    }
    if (options.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {}); // EPIPE: the program did not read all of its input.
      child.stdin.end(options.input);
    }

    const onAbort = () => {
      if (pid === undefined) return;
      killTree(pid, 'SIGTERM');
      killTimer = setTimeout(() => killTree(pid, 'SIGKILL'), EXEC_KILL_GRACE_MS);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (pid !== undefined) subprocessListener?.('started', pid);

    child.on('error', (error) => {
      spawnError = error;
    });
    // 'exit' comes before the pipes close; a background process holding them open would keep
    // 'close' away for as long as it lives, so the rest of the group goes now.
    child.on('exit', () => {
      if (pid !== undefined && !IS_WINDOWS) killTree(pid, 'SIGKILL');
    });
    child.on('close', (code, exitSignal) => {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      if (pid !== undefined) subprocessListener?.('ended', pid);
      if (signal.aborted) reject(signal.reason);
      else if (spawnError) reject(new Error(`Could not run ${command}: ${spawnError.message}`, { cause: spawnError }));
      else resolve({ code, signal: exitSignal, stdout: output.stdout, stderr: output.stderr });
    });
  });
}

/**
 * Cuts a text stream into lines (without `\n` or `\r\n`), holding a partial line until it ends.
 * A line longer than `maxLength` is cut there, marked, and the rest of it dropped, so a program
 * printing megabytes without a newline cannot grow the buffer.
 */
export class LineSplitter {
  readonly #onLine: (line: string) => void;
  readonly #maxLength: number;
  #partial = '';
  #dropping = false;

  constructor(onLine: (line: string) => void, maxLength = MAX_LOG_LINE_LENGTH) {
    this.#onLine = onLine;
    this.#maxLength = maxLength;
  }

  push(chunk: string): void {
    let start = 0;
    for (let newline = chunk.indexOf('\n'); newline !== -1; newline = chunk.indexOf('\n', start)) {
      this.#take(chunk.slice(start, newline), true);
      start = newline + 1;
    }
    if (start < chunk.length) this.#take(chunk.slice(start), false);
  }

  /** Emits a last line that had no newline. */
  end(): void {
    if (this.#partial !== '' && !this.#dropping) this.#onLine(this.#partial);
    this.#partial = '';
    this.#dropping = false;
  }

  #take(piece: string, complete: boolean): void {
    if (this.#dropping) {
      if (complete) this.#dropping = false;
      return;
    }
    const line = this.#partial + piece;
    this.#partial = '';
    if (line.length > this.#maxLength) {
      this.#onLine(`${line.slice(0, this.#maxLength)}… [cut]`);
      this.#dropping = !complete;
    } else if (complete) {
      this.#onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    } else {
      this.#partial = line;
    }
  }
}
