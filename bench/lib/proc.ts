import { readFileSync } from 'node:fs';

/**
 * Figures of another process read from Linux's /proc, so the bench can watch a server child it
 * did not write (its RSS while subscribers connect) without asking the child. Undefined off Linux
 * or once the process is gone.
 */
function procField(pid: number, file: string, pattern: RegExp): string | undefined {
  try {
    return pattern.exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** The process's resident set size now, in KiB. */
export function rssKiB(pid: number): number | undefined {
  const value = procField(pid, 'status', /^VmRSS:\s+(\d+)\s+kB/m);
  return value === undefined ? undefined : Number(value);
}

/** The process's soft limit on open file descriptors (its `ulimit -n`); Infinity when unlimited. */
export function openFilesLimit(pid: number): number | undefined {
  const value = procField(pid, 'limits', /^Max open files\s+(\S+)/m);
  if (value === undefined) return undefined;
  return value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value);
}

/** How many local ports the kernel hands out to outgoing connections (one per loopback subscriber). */
export function ephemeralPorts(): number | undefined {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return low !== undefined && high !== undefined ? high - low + 1 : undefined;
  } catch {
    return undefined;
  }
}
