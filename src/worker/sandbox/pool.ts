import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../logger.ts';
import type { Execution, RunResult } from '../runner.ts';
import { PoolTree } from './process-tree.ts';
import { type ProcessSpec, SandboxProcess } from './sandbox-process.ts';

/** What kind of child a job needs: children differ by heap limit and environment. */
export interface Profile {
  key: string;
  heapMb: number | undefined;
  env(): NodeJS.ProcessEnv;
}

export interface PoolOptions {
  size: number;
  maxJobsPerChild: number;
  maxRssBytes: number;
  /** False: process groups only, never cgroups (process-tree.ts). */
  cgroups: boolean;
  logger: Logger;
  /** How to start a child of this profile; `tmpDir` is the pool's folder for artifact hand-over. */
  spec(profile: Profile, tmpDir: string): ProcessSpec;
}

interface Waiter {
  wake(): void;
}

/**
 * Warm children, at most `size` alive, each running one job at a time. Each child's life:
 *
 *              ready                 run(job)
 *   starting ─────────▶ idle ─────────────────▶ busy
 *      │                 ▲ │                     │ │
 *      │ load fails      │ └─── job ends ◀───────┘ │ crash, kill after an ignored abort,
 *      ▼                 │  (recycled instead past │ IPC lost, over the job's rssMb
 *    dead ◀── terminating ◀─ maxJobsPerChild or    ▼
 *                            maxRssMb)            dead ──▶ replaced (same profile) unless jobs wait
 *
 * A job takes an idle (or starting, unclaimed) child of its profile; else starts one while fewer
 * than `size` live; else ends an idle child of another profile to make room; else waits for a
 * child to be released or to die. Starting a child costs ~0.5 s (Node + tsx), so children stay up.
 */
export class Pool {
  readonly #options: PoolOptions;
  readonly #children = new Set<SandboxProcess>();
  /** Children handed to a job (or reserved while they start for one). */
  readonly #taken = new Set<SandboxProcess>();
  /** Children ended on purpose that must not be replaced (room for another profile, pool closed). */
  readonly #noReplace = new WeakSet<SandboxProcess>();
  readonly #profiles = new WeakMap<SandboxProcess, Profile>();
  #waiters: Waiter[] = [];
  #tmpDir: string | null = null;
  /** The children's process trees (a cgroup, or process groups); made with the first child. */
  #trees: PoolTree | null = null;
  #closed = false;
  readonly #onExit = () => {
    for (const child of this.#children) child.killNow();
    this.#trees?.killNow();
  };

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Live children's process ids (for tests and diagnostics). */
  pids(): number[] {
    return [...this.#children].flatMap((child) => (child.pid === undefined ? [] : [child.pid]));
  }

  /** Runs a job in a child of `profile`; past `limitBytes` of memory it ends MEMORY_LIMIT. */
  async run(execution: Execution, profile: Profile, limitBytes: number | null): Promise<RunResult> {
    let child: SandboxProcess;
    try {
      child = await this.#acquire(profile, execution.signal);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { ok: false, error: { name: 'CrashError', code: 'CRASHED', message } };
    }
    const result = await child.run(execution, limitBytes);
    this.#release(child);
    return result;
  }

  async #acquire(profile: Profile, signal: AbortSignal): Promise<SandboxProcess> {
    for (;;) {
      if (this.#closed) throw new Error('The sandbox pool is closed.');
      if (signal.aborted) throw new Error('The job was stopped before a process was free to run it.');
      const child = this.#take(profile);
      if (!child) {
        await this.#wait(signal);
        continue;
      }
      try {
        await child.ready;
        return child;
      } catch (error) {
        this.#taken.delete(child);
        throw error;
      }
    }
  }

  #take(profile: Profile): SandboxProcess | null {
    let idle: SandboxProcess | undefined;
    let starting: SandboxProcess | undefined;
    let foreign: SandboxProcess | undefined;
    for (const child of this.#children) {
      if (child.state === 'dead' || child.terminating || this.#taken.has(child)) continue;
      if (child.profile !== profile.key) foreign ??= child;
      else if (child.state === 'idle') idle ??= child;
      else if (child.state === 'starting') starting ??= child;
    }
    const found = idle ?? starting;
    if (found) {
      this.#taken.add(found);
      return found;
    }
    if (this.#live() >= this.#options.size) {
      if (!foreign) return null;
      this.#noReplace.add(foreign);
      foreign.terminate();
    }
    const child = this.#start(profile);
    this.#taken.add(child);
    return child;
  }

  #start(profile: Profile): SandboxProcess {
    if (this.#tmpDir === null) {
      this.#tmpDir = mkdtempSync(join(tmpdir(), 'underway-sandbox-'));
      process.on('exit', this.#onExit);
    }
    this.#trees ??= new PoolTree({ cgroups: this.#options.cgroups, log: this.#options.logger });
    const spec = this.#options.spec(profile, this.#tmpDir);
    const child: SandboxProcess = new SandboxProcess(profile.key, spec, this.#trees, () => this.#dead(child));
    this.#children.add(child);
    this.#profiles.set(child, profile);
    return child;
  }

  /** Children that count toward `size`: all but the dead and the dying. */
  #live(): number {
    let live = 0;
    for (const child of this.#children) if (child.state !== 'dead' && !child.terminating) live++;
    return live;
  }

  #release(child: SandboxProcess): void {
    this.#taken.delete(child);
    if (child.state === 'idle') {
      const { maxJobsPerChild, maxRssBytes } = this.#options;
      if (this.#closed || child.jobsRun >= maxJobsPerChild || child.rssBytes > maxRssBytes) child.terminate();
    }
    this.#wakeAll();
  }

  #dead(child: SandboxProcess): void {
    this.#children.delete(child);
    this.#taken.delete(child);
    const profile = this.#profiles.get(child);
    // Replace a child that did work (not one that failed to load: that would loop) while no job
    // waits (a waiter may need the room for another profile).
    const wanted = !this.#closed && !this.#noReplace.has(child) && child.jobsRun > 0 && this.#waiters.length === 0;
    if (wanted && profile && this.#live() < this.#options.size) this.#start(profile);
    this.#wakeAll();
  }

  #wait(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const waiter: Waiter = {
        wake: () => {
          signal.removeEventListener('abort', waiter.wake);
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve();
        },
      };
      this.#waiters.push(waiter);
      signal.addEventListener('abort', waiter.wake, { once: true });
    });
  }

  #wakeAll(): void {
    for (const waiter of [...this.#waiters]) waiter.wake();
  }

  /** Ends every child (SIGTERM, then SIGKILL) and waits until they are gone. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wakeAll();
    const children = [...this.#children];
    for (const child of children) child.terminate();
    await Promise.all(children.map((child) => child.exited));
    await this.#trees?.close();
    this.#trees = null;
    process.off('exit', this.#onExit);
    if (this.#tmpDir) rmSync(this.#tmpDir, { recursive: true, force: true });
    this.#tmpDir = null;
  }
}
