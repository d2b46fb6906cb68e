import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));

/**
 * How a bench child starts: TypeScript through tsx, and underway itself from dist/ (tsc's output,
 * what `npm install` gives a user; `npm run bench` builds it first), as every peer runs its own
 * published JavaScript. `UNDERWAY_BENCH_SRC=1` runs underway from src/ through tsx instead, whose
 * transform adds a naming helper to every function that is made at run time (1–3 % of a drain).
 */
export const UNDERWAY_FROM: 'src' | 'dist' = process.env.UNDERWAY_BENCH_SRC === '1' ? 'src' : 'dist';
export const CHILD_FLAGS: readonly string[] = [
  '--import',
  'tsx',
  ...(UNDERWAY_FROM === 'src' ? [] : ['--import', fileURLToPath(new URL('./from-dist.mjs', import.meta.url))]),
];

/** Prefix of the one line a bench child prints with its result. */
export const RESULT_MARK = '@@result ';

/** Prints a child's result for the parent to pick up. */
export function reportResult(value: unknown): void {
  process.stdout.write(`${RESULT_MARK}${JSON.stringify(value)}\n`);
}

/** Starts `bench/<script>` (CHILD_FLAGS), the argument as JSON. */
export function startChild(script: string, argument: unknown): ChildProcess {
  return spawn(process.execPath, [...CHILD_FLAGS, `${BENCH_DIR}${script}`, JSON.stringify(argument)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, UNDERWAY_LOG_LEVEL: 'error' },
  });
}

/**
 * Runs a bench child to its end and returns its result line; fails with its stderr when it
 * fails, and kills it (its own pid only) when it outlives `timeoutMs`.
 */
export function runChild<T>(script: string, argument: unknown, timeoutMs: number): Promise<T> {
  const child = startChild(script, argument);
  return collect<T>(child, script, timeoutMs);
}

/** Waits for a started child's result line. */
export function collect<T>(child: ChildProcess, script: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_MARK));
      if (code === 0 && line) resolve(JSON.parse(line.slice(RESULT_MARK.length)) as T);
      else reject(new Error(`${script} exited with ${code}: ${err.trim().split('\n').slice(-8).join('\n')}`));
    });
  });
}

/** Resolves with the first stdout line a child prints that starts with `mark` (e.g. "ready"). */
export function waitForLine(child: ChildProcess, mark: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no "${mark}" within ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-2000);
    });
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => l.startsWith(mark));
      if (line) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve(line);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before "${mark}": ${err}`));
    });
  });
}
