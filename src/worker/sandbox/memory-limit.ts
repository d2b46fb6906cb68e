import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { SerializedError } from '../../core/errors.ts';

/**
 * The memory limit of a job (`sandbox.rssMb`), watched from the parent: V8's heap limit does not
 * cover Buffers, typed arrays or native memory (a task with `heapMb: 128` reached 2.1 GB of
 * Buffers), and a child busy in a loop cannot report on itself. Every 250 ms while the job runs
 * the parent reads the resident size of the job's processes (/proc/<pid>/status on Linux, `ps`
 * elsewhere, nothing on Windows).
 *
 * What counts is what the job added: the child's resident size above what it was when the job
 * started (Node and tsx alone take ~77 MB, and a warm child carries what earlier jobs left, up to
 * the runner's `maxRssMb`), plus the whole resident size of the processes the job started where a
 * cgroup holds them. Where the kernel's memory controller is delegated, the job's cgroup also
 * gets `memory.max` at the same limit, which counts the same thing (pages charged during the job)
 * and cannot be outrun between two samples.
 */

const MIB = 1024 * 1024;
export const SAMPLE_MS = 250;

/** The error a job over its memory limit ends with: not retried, it would use as much again. */
export function memoryLimitError(usedBytes: number | null, limitBytes: number): SerializedError {
  const limit = Math.round(limitBytes / MIB);
  const message =
    usedBytes === null
      ? `The job went over its ${limit} MB memory limit and the kernel ended it.`
      : `The job used ${Math.round(usedBytes / MIB)} MB, over its ${limit} MB limit.`;
  return { name: 'MemoryLimitError', code: 'MEMORY_LIMIT', message, permanent: true };
}

/** Resident bytes of one process from /proc/<pid>/status ("VmRSS:  1234 kB"), or null. */
export function parseVmRss(status: string): number | null {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb === undefined ? null : Number(kb) * 1024;
}

/** Resident bytes of one process now, synchronously (Linux only; null elsewhere or when it is gone). */
function rssNow(pid: number): number | null {
  if (process.platform !== 'linux') return null;
  try {
    return parseVmRss(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return null;
  }
}

/** Resident bytes of each process (gone ones left out); null where it cannot be measured (Windows). */
export async function residentSizes(pids: readonly number[]): Promise<Map<number, number> | null> {
  const sizes = new Map<number, number>();
  if (process.platform === 'linux') {
    await Promise.all(
      pids.map(async (pid) => {
        const rss = parseVmRss(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
        if (rss !== null) sizes.set(pid, rss);
      }),
    );
    return sizes;
  }
  if (process.platform === 'win32') return null;
  if (pids.length === 0) return sizes;
  const out = await new Promise<string>((resolve) =>
    execFile('ps', ['-o', 'pid=,rss=', '-p', pids.join(',')], (error, stdout) => resolve(error ? '' : stdout)),
  );
  for (const line of out.split('\n')) {
    const [pid, kb] = line.trim().split(/\s+/).map(Number);
    if (pid && kb !== undefined && Number.isFinite(kb)) sizes.set(pid, kb * 1024);
  }
  return sizes;
}

/** Samples a running job's memory until stopped; calls `onExceeded` once when it passes the limit. */
export class MemoryWatch {
  readonly #childPid: number;
  readonly #pids: () => number[];
  readonly #limitBytes: number;
  readonly #onExceeded: (usedBytes: number) => void;
  readonly #timer: NodeJS.Timeout;
  #baseline: number | null;
  #sampling = false;
  #stopped = false;

  constructor(options: {
    childPid: number;
    pids: () => number[];
    limitBytes: number;
    onExceeded: (usedBytes: number) => void;
  }) {
    this.#childPid = options.childPid;
    this.#pids = options.pids;
    this.#limitBytes = options.limitBytes;
    this.#onExceeded = options.onExceeded;
    // Linux: read now, before the job is sent. Elsewhere the first sample sets the baseline.
    this.#baseline = rssNow(options.childPid);
    this.#timer = setInterval(() => void this.#sample(), SAMPLE_MS);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  async #sample(): Promise<void> {
    if (this.#sampling || this.#stopped) return; // A slow `ps` must not pile up.
    this.#sampling = true;
    try {
      const sizes = await residentSizes(this.#pids());
      if (!sizes || this.#stopped) return;
      const own = sizes.get(this.#childPid) ?? 0;
      this.#baseline ??= own;
      let used = Math.max(0, own - this.#baseline);
      for (const [pid, rss] of sizes) if (pid !== this.#childPid) used += rss;
      if (used > this.#limitBytes) {
        this.stop();
        this.#onExceeded(used);
      }
    } finally {
      this.#sampling = false;
    }
  }
}
