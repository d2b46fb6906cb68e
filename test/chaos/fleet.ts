/**
 * The chaos tests' tools: real `underway worker` processes on the chaos fixture config, a
 * driver that SIGKILLs them on a schedule, the side-effect table, the process table, figures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach } from 'vitest';
import type { Store } from '../../src/store/store.ts';
import { BIN, ROOT } from '../helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/temp.ts';

export const CHAOS_CONFIG = fileURLToPath(new URL('../fixtures/chaos/underway.config.ts', import.meta.url));

/** `UNDERWAY_CHAOS=full` (npm run test:chaos) runs the full sizes; `npm test` the short ones. */
export const FULL = process.env.UNDERWAY_CHAOS === 'full';

/**
 * What every chaos file sets up: a temporary folder, a test database made on first use, and the
 * hooks that kill any worker a failed test left behind and drop both after the file.
 */
export function chaosFiles(prefix: string): { dir: ReturnType<typeof tempDir>; database(): Promise<TestDatabase> } {
  const dir = tempDir(prefix);
  let db: Promise<TestDatabase> | null = null;
  afterEach(async () => {
    await killAllWorkers();
  });
  afterAll(async () => {
    await (await db)?.drop();
    dir.cleanup();
  });
  return { dir, database: () => (db ??= createTestDatabase()) };
}

/** One `underway worker` process. */
export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves once the worker logged that it runs; rejects if it exited first. */
  ready: Promise<void>;
  isReady: boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last 64 KiB of its log, for a failure message. */
  log(): string;
  /** Resolves once its log (from now on) contains `text`; rejects if it exits first. */
  logged(text: string): Promise<void>;
}

const LOG_KEEP = 64 * 1024;
const all = new Set<WorkerProcess>();

/** What a chaos worker is told (fixtures/chaos/underway.config.ts reads it). */
export interface FleetSettings {
  /** The test database, and the schema of this test's store. */
  url: string;
  schema: string;
  /** The test's data folder: the workers' sandbox temp folders go inside, removed with it. */
  data: string;
  /** The lease; the config's default otherwise. */
  leaseMs?: number;
  concurrency?: number;
}

/** The environment of a chaos worker for these settings, with `extra` variables (a test's own) after them. */
export function fleetEnv(settings: FleetSettings, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CHAOS_PG_URL: settings.url,
    CHAOS_PG_SCHEMA: settings.schema,
    UNDERWAY_DATA_DIR: settings.data,
    ...(settings.leaseMs !== undefined && { CHAOS_LEASE_MS: String(settings.leaseMs) }),
    ...(settings.concurrency !== undefined && { CHAOS_CONCURRENCY: String(settings.concurrency) }),
    ...extra,
  };
}

/** Starts `underway --config <chaos config> worker` with this environment added. */
export function startWorker(env: Record<string, string>): WorkerProcess {
  // A SIGKILLed worker cannot remove its sandbox pool's temp folder: keep those inside the test's
  // data folder, which the test removes (a full chaos run left ~300 of them in /tmp).
  const tmp = env.UNDERWAY_DATA_DIR ? join(env.UNDERWAY_DATA_DIR, 'tmp') : undefined;
  if (tmp) mkdirSync(tmp, { recursive: true });
  const child = spawn(process.execPath, [BIN, '--config', CHAOS_CONFIG, 'worker'], {
    cwd: ROOT,
    env: { ...process.env, UNDERWAY_LOG_LEVEL: 'info', ...(tmp ? { TMPDIR: tmp } : {}), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const waiters: { text: string; seen: string; resolve(): void }[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const handle: WorkerProcess = {
    child,
    pid: child.pid ?? -1,
    isReady: false,
    exited,
    ready: new Promise<void>((resolve, reject) => {
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        log = (log + chunk).slice(-LOG_KEEP);
        for (const waiter of [...waiters]) {
          waiter.seen = (waiter.seen + chunk).slice(-LOG_KEEP);
          if (waiter.seen.includes(waiter.text)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve();
          }
        }
        if (!handle.isReady && log.includes('underway worker running')) {
          handle.isReady = true;
          resolve();
        }
      });
      void exited.then(({ code, signal }) => {
        if (!handle.isReady) reject(new Error(`worker exited (${code ?? signal}) before it was ready:\n${log}`));
      });
    }),
    log: () => log,
    logged: (text) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ text, seen: '', resolve });
        void exited.then(() => reject(new Error(`the worker exited before it logged "${text}":\n${log}`)));
      }),
  };
  handle.ready.catch(() => {});
  all.add(handle);
  void exited.then(() => all.delete(handle));
  return handle;
}

/** SIGKILLs every worker this file started that still runs; returns how many there were. */
export async function killAllWorkers(): Promise<number> {
  const left = [...all];
  for (const w of left) w.child.kill('SIGKILL');
  await Promise.all(left.map((w) => w.exited));
  return left.length;
}

export interface KillDriverOptions {
  workers: number;
  env: Record<string, string>;
  /** The chaos schedule: one kill per tick at most. */
  everyMs: number;
  /**
   * A worker becomes killable once it has finished a random number of jobs in this range (heard
   * through `store`), so that work gets done between kills while others are still running. On 2
   * CPUs a restart costs ~1 s of CPU for the CLI and ~0.5 s per sandbox child (4 s in all with
   * the machine's load at 14); with a plain time rule (killable 1.5 s after it is up) the kills
   * came faster than the restarts and no job ever finished (150 jobs, 2 workers: 0 done in 70 s,
   * 30 kills).
   */
  jobsBeforeKill: [number, number];
  store: Store;
}

/**
 * Keeps `workers` worker processes running and SIGKILLs a random one that has run at least
 * its quota of jobs every `everyMs`, starting its replacement at once. The ticks are the chaos
 * schedule, not a wait for a result.
 */
export class KillDriver {
  readonly #options: KillDriverOptions;
  readonly slots: WorkerProcess[] = [];
  kills = 0;
  starts = 0;
  /** Killed worker pids, with when. */
  readonly killedAt = new Map<number, number>();
  /** Jobs each worker pid finished, from the `succeeded` events (the chaos task returns its worker's pid). */
  readonly #finished = new Map<number, number>();
  readonly #quota = new Map<number, number>();
  #timer: NodeJS.Timeout | null = null;
  #off: (() => void) | null = null;

  constructor(options: KillDriverOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    this.#off = this.#options.store.events.listen((event) => {
      if (event.type !== 'status' || event.status !== 'succeeded') return;
      const pid = (event.result as { worker?: unknown } | undefined)?.worker;
      if (typeof pid === 'number') this.#finished.set(pid, (this.#finished.get(pid) ?? 0) + 1);
    });
    for (let i = 0; i < this.#options.workers; i++) this.slots.push(this.#spawn());
    await Promise.all(this.slots.map((w) => w.ready));
  }

  /** Starts the kills. */
  chaos(): void {
    this.#timer = setInterval(() => this.#tick(), this.#options.everyMs);
  }

  #spawn(): WorkerProcess {
    this.starts++;
    const worker = startWorker(this.#options.env);
    const [least, most] = this.#options.jobsBeforeKill;
    this.#quota.set(worker.pid, least + Math.floor(Math.random() * (most - least + 1)));
    return worker;
  }

  #tick(): void {
    const ripe = this.slots
      .map((w, slot) => ({ w, slot }))
      .filter(({ w }) => w.isReady && (this.#finished.get(w.pid) ?? 0) >= (this.#quota.get(w.pid) ?? 0));
    const pick = ripe[Math.floor(Math.random() * ripe.length)];
    if (!pick) return;
    pick.w.child.kill('SIGKILL');
    this.kills++;
    this.killedAt.set(pick.w.pid, Date.now());
    this.slots[pick.slot] = this.#spawn();
  }

  /** Stops the kills; the workers go on. */
  calm(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Stops the kills, then stops every worker gracefully (SIGTERM) and resolves with their exit codes. */
  async stop(): Promise<(number | null)[]> {
    this.calm();
    this.#off?.();
    // A replacement still starting must be up before SIGTERM means "stop gracefully" to it.
    await Promise.allSettled(this.slots.map((w) => w.ready));
    const exits = this.slots.map(async (w) => {
      w.child.kill('SIGTERM');
      return (await w.exited).code;
    });
    return Promise.all(exits);
  }
}

export interface EffectRow {
  job: string;
  attempt: number;
  worker: number;
  child: number;
  kind: 'start' | 'done';
  at: number;
}

/**
 * Creates the side-effect table before any worker runs: 20 children making it at once on a fresh
 * file could meet a lock that switching to WAL does not wait for (one run failed that way).
 */
export function prepareEffects(file: string): string {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE effects (job TEXT, attempt INTEGER, worker INTEGER, child INTEGER, kind TEXT, at INTEGER)');
  } finally {
    db.close();
  }
  return file;
}

/** The side-effect rows the chaos task wrote. */
export function readEffects(file: string): EffectRow[] {
  const db = new Database(file, { readonly: true, timeout: 10_000 });
  try {
    return db.prepare('SELECT * FROM effects').all() as EffectRow[];
  } finally {
    db.close();
  }
}

/**
 * Resolves once no job is queued or running (re-checked on every status event, and every second
 * as a safety net for an event missed across a database restart), or rejects after `timeoutMs`.
 */
export function allFinished(store: Store, total: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let checking = false;
    let again = false;
    let last = '';
    const check = async () => {
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      try {
        do {
          again = false;
          const counts = await store.counts().catch(() => null);
          if (!counts) continue;
          last = JSON.stringify(counts.map((c) => `${c.status}:${c.count}`));
          const open = counts.filter((c) => c.status === 'queued' || c.status === 'running');
          const ended = counts.filter((c) => !open.includes(c)).reduce((n, c) => n + c.count, 0);
          if (open.length === 0 && ended >= total) done(null);
        } while (again && !settled);
      } finally {
        checking = false;
      }
    };
    const off = store.events.listen((event) => {
      if (event.type === 'status' && event.status !== 'running') void check();
    });
    const safety = setInterval(() => void check(), 1_000);
    const timer = setTimeout(() => done(new Error(`jobs still open after ${timeoutMs} ms: ${last}`)), timeoutMs);
    const done = (error: Error | null) => {
      if (settled) return;
      settled = true;
      off();
      clearInterval(safety);
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    void check();
  });
}

/**
 * Sandbox children (`child-main`) still alive whose environment carries this data folder: the
 * chaos tests give every worker a folder of their own, so other tests' children are not counted.
 */
export function childrenOf(dataDir: string): number[] {
  if (process.platform !== 'linux') return [];
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!args.includes('child-main')) continue;
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // a zombie is already dead
      if (env.includes(`UNDERWAY_DATA_DIR=${dataDir}`)) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Waits (polling the process table, bounded) until none of `dataDir`'s children is left; returns those left. */
export async function childrenGone(dataDir: string, timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = childrenOf(dataDir);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = childrenOf(dataDir);
  }
  return left;
}

/**
 * Prints one test's figures and, when `UNDERWAY_CHAOS_FIGURES` names a file (the chaos config
 * sets it), appends them there for the summary printed at the end of the run.
 */
export function recordFigures(name: string, figures: Record<string, number | string>): void {
  console.info(`[figures] ${name}: ${JSON.stringify(figures)}`);
  const file = process.env.UNDERWAY_CHAOS_FIGURES;
  if (file) appendFileSync(file, `${JSON.stringify({ name, ...figures })}\n`);
}
