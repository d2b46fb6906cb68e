import type { Logger } from '../../logger.ts';
import { killTree } from '../exec.ts';
import { Cgroup, type CgroupProbe, oomKilled, poolCgroupName, probeCgroups, sweepStale } from './cgroup.ts';
import { groupMembers, killAllBut, OwnProcesses, type ProcessInfo, processInfo } from './process-group.ts';

/**
 * A job's process tree is what the job started while it ran: the warm child that runs it is not
 * part of it (it runs the next job), and neither is what earlier jobs started. Cancel, timeout and
 * the normal end of a job all kill that tree; a child's death or retirement kills everything.
 *
 * Two modes, chosen once per process (and logged once):
 *
 *   cgroup (Linux, cgroup v2 writable)             process-group (elsewhere)
 *   <worker's own cgroup>/                         the child leads its own process group
 *     underway-<ns>-<pid>-<n>/  a pool, no process ├─ same group: killed at the job's end, all
 *       child-<pid>/  the child, and all its jobs  │  members but the child (process-group.ts)
 *                     start: at a job's end all    └─ setsid / detached: a new group, out of
 *                     but the child is killed         reach (ctx.exec groups are tracked apart)
 *
 * A process cannot leave its cgroup (short of root moving it), so child-<pid>/ minus the child is
 * exactly what its jobs left running. The other way, a job-<n>/ cgroup the child is moved into for each job and out of after
 * it, was measured and dropped: moving a busy Node child (every thread moves) cost 0.16-0.4 ms a
 * move, and the warm pool fell from ~3,500-4,000 to ~900-1,500 empty jobs a second (2 CPUs, 4 at a
 * time); a look at cgroup.procs costs 0.015 ms, and this way the pool ran ~3,500 against ~4,000
 * with process groups only (rounds taken in turns, a loaded machine).
 * Processes live only in the leaves (child-<pid>/), as cgroup v2's "no internal processes" rule
 * wants for memory control: the pool's cgroup, holding no process, enables +memory for its children.
 */
export type IsolationMode = 'cgroup' | 'process-group';

/** The mode a pool uses here, and why. */
export interface Isolation {
  mode: IsolationMode;
  reason: string;
}

const IS_WINDOWS = process.platform === 'win32';

let probed: CgroupProbe | undefined;
/** Probed once per process: the answer does not change while it runs. */
const probe = (): CgroupProbe => {
  probed ??= probeCgroups();
  return probed;
};

/** Which mode a pool gets on this machine; `useCgroups: false` asks for the process-group mode. */
export function detectIsolation(useCgroups = true): Isolation {
  if (!useCgroups) return { mode: 'process-group', reason: 'the runner was given cgroups: false' };
  const found = probe();
  if (!found.ok) return { mode: 'process-group', reason: found.reason };
  const kill = found.kill ? 'cgroup.kill' : 'no cgroup.kill (Linux < 5.14): pid by pid';
  const memory = found.memory ? 'memory.max' : 'no memory controller: memory sampled';
  return { mode: 'cgroup', reason: `cgroup v2 at ${found.dir} (${kill}; ${memory})` };
}

/** What the sandbox child needs from its job's process tree. */
export interface ChildTree {
  /** Call when the child has loaded the module: what runs now is its own, not a job's. */
  childReady(): void;
  /** Call before the job is sent: what the child starts from now on belongs to this job. */
  jobStarted(memoryMaxBytes: number | null): void;
  /** The processes weighed for the memory limit: the child and, with cgroups, what the job started (not the child's own). */
  jobPids(): number[];
  /** Kills what the job left running (`spawned`: it started a process); a promise when that takes a look first. */
  jobEnded(spawned: boolean): Promise<void> | null;
  /** True when the kernel ended the job at its memory.max. */
  outOfMemory(): boolean;
  /** SIGKILLs the child and everything its jobs started. */
  kill(): void;
  /** After the child died: kills what is left and removes what held it. */
  dispose(): Promise<void>;
}

let logged = false;
let warnedMove = false;
let poolNumber = 0;

/** The process trees of one pool's children: its cgroup, or nothing but process groups. */
export class PoolTree {
  readonly mode: IsolationMode;
  readonly #log: Logger;
  readonly #cgroup: Cgroup | null = null;
  #memory = false;

  constructor(options: { cgroups: boolean; log: Logger }) {
    this.#log = options.log;
    let { mode, reason } = detectIsolation(options.cgroups);
    const found = mode === 'cgroup' ? probe() : null; // cgroups: false touches no cgroup file.
    if (found?.ok) {
      sweepStale(found.dir);
      try {
        this.#cgroup = new Cgroup(found.dir).child(poolCgroupName(++poolNumber));
        this.#memory = found.memory && enable(this.#cgroup, 'memory');
      } catch (error) {
        mode = 'process-group';
        reason = `cannot create a cgroup: ${(error as Error).message}`;
      }
    }
    this.mode = mode;
    if (!logged) {
      logged = true;
      const text =
        mode === 'cgroup'
          ? "sandbox: each job's processes are held in a cgroup and killed when the job ends"
          : "sandbox: each job's processes are tracked by process group (one that calls setsid escapes)";
      this.#log.info({ isolation: mode, reason }, text);
    }
  }

  /** The tree of a child just forked; where its cgroup cannot be made, its process group. */
  forChild(pid: number | undefined): ChildTree {
    if (pid === undefined) return NO_TREE; // It never started.
    if (this.#cgroup) {
      try {
        return new CgroupTree(pid, this.#cgroup, this.#memory);
      } catch (error) {
        if (!warnedMove) this.#log.warn({ err: error }, 'sandbox: a child could not be moved into a cgroup');
        warnedMove = true;
      }
    }
    return new GroupTree(pid);
  }

  /** SIGKILLs everything in the pool's cgroup, synchronously (for an exiting worker). */
  killNow(): void {
    this.#cgroup?.kill();
    this.#cgroup?.removeEmpty(); // Usually too early; the next worker's sweepStale removes it.
  }

  /** After the children are gone: removes the pool's cgroup. */
  async close(): Promise<void> {
    await this.#cgroup?.remove();
  }
}

/** Writes an interface file; false where it cannot. */
function trySet(cgroup: Cgroup, file: string, value: string): boolean {
  try {
    cgroup.set(file, value);
    return true;
  } catch {
    return false;
  }
}

/** Turns on a controller for a cgroup's children; false where it cannot. */
const enable = (cgroup: Cgroup, controller: string) => trySet(cgroup, 'cgroup.subtree_control', `+${controller}`);

class CgroupTree implements ChildTree {
  readonly #pid: number;
  readonly #cgroup: Cgroup;
  readonly #memory: boolean;
  readonly #own: OwnProcesses;
  #limited = false;

  constructor(pid: number, pool: Cgroup, memory: boolean) {
    this.#pid = pid;
    this.#memory = memory;
    this.#own = new OwnProcesses(pid);
    this.#cgroup = pool.child(`child-${pid}`);
    try {
      // Right after fork, before the child has loaded Node: nothing it starts can be born outside.
      this.#cgroup.add(pid);
    } catch (error) {
      void this.#cgroup.remove();
      throw error;
    }
    // Where the kernel's OOM killer acts, it ends the child and its jobs' processes together.
    if (memory) trySet(this.#cgroup, 'memory.oom.group', '1');
  }

  childReady(): void {
    this.#own.record(this.#infos());
  }

  jobStarted(memoryMaxBytes: number | null): void {
    // What is here besides the child's own was started after the last job ended, by its timers.
    this.#killOthers();
    if (!this.#memory || memoryMaxBytes === null) return;
    // The limit counts what the job adds: what the child has charged now, plus the job's allowance.
    const current = Number(this.#cgroup.read('memory.current') ?? Number.NaN);
    if (!Number.isFinite(current)) return;
    this.#limited = trySet(this.#cgroup, 'memory.max', String(current + memoryMaxBytes)); // Else: sampled only.
  }

  jobPids(): number[] {
    const job = this.#infos().filter((info) => !this.#own.spares(info));
    return [this.#pid, ...job.map((info) => info.pid)];
  }

  jobEnded(): Promise<void> | null {
    if (this.#limited) {
      this.#limited = false;
      trySet(this.#cgroup, 'memory.max', 'max');
    }
    if (!this.#killOthers()) return null;
    // Killed ones are listed until they exit, and may have forked meanwhile: look again until only
    // the child's own are left. What never empties (a fork bomb) takes the child with it.
    return killAllBut(this.#own.spares, () => this.#infos()).then((emptied) => {
      if (!emptied) this.#cgroup.kill();
    });
  }

  /** The processes in the child's cgroup (one read of cgroup.procs, ~0.015 ms). */
  #infos(): ProcessInfo[] {
    return this.#cgroup.pids().flatMap((pid) => processInfo(pid) ?? []);
  }

  /** SIGKILLs every process here that is not the child's own, synchronously; true if there was one. */
  #killOthers(): boolean {
    let found = false;
    for (const pid of this.#cgroup.pids()) {
      if (pid === this.#pid) continue; // The common case, read no further.
      const info = processInfo(pid);
      if (!info || this.#own.spares(info)) continue;
      found = true;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    return found;
  }

  outOfMemory(): boolean {
    return oomKilled(this.#cgroup);
  }

  kill(): void {
    this.#cgroup.kill();
  }

  async dispose(): Promise<void> {
    await this.#cgroup.remove();
  }
}

const NO_TREE: ChildTree = {
  childReady() {},
  jobStarted() {},
  jobPids: () => [],
  jobEnded: () => null,
  outOfMemory: () => false,
  kill() {},
  dispose: async () => {},
};

class GroupTree implements ChildTree {
  readonly #pid: number;
  readonly #own: OwnProcesses;
  /** The look at the group when the child became ready; a sweep waits for it. */
  #ready: Promise<void> = Promise.resolve();

  constructor(pid: number) {
    this.#pid = pid;
    this.#own = new OwnProcesses(pid);
  }

  childReady(): void {
    if (IS_WINDOWS) return;
    this.#ready = groupMembers(this.#pid).then(
      (infos) => this.#own.record(infos),
      () => {},
    );
  }

  jobStarted(): void {}

  jobPids(): number[] {
    return [this.#pid];
  }

  jobEnded(spawned: boolean): Promise<void> | null {
    if (!spawned || IS_WINDOWS) return null;
    return this.#ready.then(() => killAllBut(this.#own.spares, () => groupMembers(this.#pid))).then(() => undefined);
  }

  outOfMemory(): boolean {
    return false;
  }

  kill(): void {
    killTree(this.#pid, 'SIGKILL');
  }

  async dispose(): Promise<void> {
    if (!IS_WINDOWS) killTree(this.#pid, 'SIGKILL'); // What it left in its group; taskkill cannot find orphans.
  }
}
