import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename } from 'node:path';

/**
 * Listing and killing the processes of a job, for both modes of process-tree.ts. In the
 * process-group mode a sandbox child leads its own process group, and what its jobs start without
 * `detached` stays in that group. A warm child outlives its jobs, so a plain `kill(-pgid)` at a
 * job's end would kill the child too: instead the group's members are listed and all but the
 * child's own killed. Listing costs ~3.3 ms for 116 processes on Linux (more on a busy server), so
 * it runs only after a job that started a process (see child-main.ts).
 */

/** At most this many list-and-kill rounds, 10 ms apart. */
const SWEEP_ROUNDS = 20;

/** What is needed to tell a job's process from the child's own. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** The executable's name ("esbuild"). */
  comm: string;
  /** When it started (Linux: clock ticks since boot), so that a reused pid is not taken for its old owner; '' elsewhere. */
  start: string;
}

/** Parses /proc/<pid>/stat: "pid (comm) state ppid pgrp … starttime …"; comm may hold spaces and ")". */
function parseStat(pid: number, stat: string): (ProcessInfo & { pgrp: number; zombie: boolean }) | null {
  const close = stat.lastIndexOf(')');
  if (close === -1) return null;
  const fields = stat.slice(close + 2).split(' ');
  return {
    pid,
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    comm: stat.slice(stat.indexOf('(') + 1, close),
    start: fields[19] ?? '',
    zombie: fields[0] === 'Z',
  };
}

/** One process, read now (Linux only), or null when it is gone. */
export function processInfo(pid: number): ProcessInfo | null {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}

/** Live processes (zombies left out: they run nothing) whose process group is `pgid`. */
export async function groupMembers(pgid: number): Promise<ProcessInfo[]> {
  if (process.platform === 'linux') {
    const entries = (await readdir('/proc').catch(() => [] as string[])).filter((name) => /^\d+$/.test(name));
    const infos = await Promise.all(
      entries.map(async (name) =>
        parseStat(Number(name), await readFile(`/proc/${name}/stat`, 'latin1').catch(() => '')),
      ),
    );
    return infos.filter((info) => info !== null && info.pgrp === pgid && !info.zombie) as ProcessInfo[];
  }
  const out = await new Promise<string>((resolve) =>
    execFile('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat=,comm='], (error, stdout) => resolve(error ? '' : stdout)),
  );
  const members: ProcessInfo[] = [];
  for (const line of out.split('\n')) {
    const [pid, ppid, group, stat, ...comm] = line.trim().split(/\s+/);
    if (Number(group) !== pgid || stat?.startsWith('Z')) continue;
    members.push({ pid: Number(pid), ppid: Number(ppid), comm: basename(comm.join(' ')), start: '' });
  }
  return members;
}

/**
 * The child's own processes, which a job's end does not kill (the child's end does): those running
 * when it had loaded the module (a module may start a helper for all its jobs), and the esbuild
 * service that tsx's loader starts in the child the first time it compiles TypeScript, as a job's
 * `await import('./report.ts')` does: killed with that job, it failed every later import in the
 * child with "The service is no longer running".
 */
export class OwnProcesses {
  readonly #childPid: number;
  /** pid → start time, so that a pid reused by a job's process is not spared. */
  readonly #atReady = new Map<number, string>();

  constructor(childPid: number) {
    this.#childPid = childPid;
  }

  record(infos: readonly ProcessInfo[]): void {
    for (const info of infos) if (info.pid !== this.#childPid) this.#atReady.set(info.pid, info.start);
  }

  readonly spares = (info: ProcessInfo): boolean =>
    info.pid === this.#childPid ||
    (info.ppid === this.#childPid && info.comm === 'esbuild') ||
    this.#atReady.get(info.pid) === info.start;
}

/**
 * SIGKILLs every process `list` names that `spare` does not, and again until it names no other (a
 * member may fork while the previous round kills, and a killed one is listed until it has exited).
 * False if others were still listed after every round.
 */
export async function killAllBut(
  spare: (info: ProcessInfo) => boolean,
  list: () => ProcessInfo[] | Promise<ProcessInfo[]>,
): Promise<boolean> {
  for (let round = 0; round < SWEEP_ROUNDS; round++) {
    const others = (await list()).filter((info) => !spare(info));
    if (others.length === 0) return true;
    for (const { pid } of others) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Exited meanwhile.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}
