import type { ChildProcess } from 'node:child_process';
import type { FanoutClientInput, FanoutClientResult } from '../fanout-client.ts';
import { collect, startChild, waitForLine } from '../lib/child.ts';
import { createDatabase } from '../lib/env.ts';
import { ephemeralPorts, openFilesLimit, rssKiB } from '../lib/proc.ts';
import { sleep } from '../lib/stats.ts';
import type { ProgressChildInput, ProgressWorkerResult } from '../progress-child.ts';

/** Descriptors the server needs besides its subscribers: stdio, the pg pool and LISTEN client, the listener. */
const SERVER_FD_MARGIN = 100;
/** Time for the server's RSS to settle after the last stream opened, before it is read. */
const SETTLE_MS = 500;
/** How long after the job ended the clients may take to receive what was sent to them. */
const DRAIN_MS = 60_000;

export interface FanoutMeasurement {
  /** Subscribers asked for: fewer than wanted when the server's descriptor limit is lower. */
  subscribers: number;
  connected: number;
  failed: number;
  failures: string[];
  latencies: number[];
  received: number;
  /** Connected streams that never got the job's final status (dropped by the server for lagging, or cut off by DRAIN_MS). */
  cutOff: number;
  /** Slowest client process, first attempt to last answer. */
  connectMs: number;
  rssBeforeKiB: number | undefined;
  rssConnectedKiB: number | undefined;
  /** The server's own peak, sampled every 50 ms in it (progress-child.ts). */
  serverPeakRssMiB: number;
  /** Why fewer than wanted were measured, or other limits met. */
  notes: string[];
}

/**
 * (RSS with the streams open − RSS before) / streams, in KiB: what a subscriber costs the server
 * at rest (sockets, HTTP parser, the Hono response, the fan-out's per-connection state).
 */
export function kibPerConnection(before: number | undefined, after: number | undefined, connections: number) {
  return before === undefined || after === undefined || connections <= 0 ? undefined : (after - before) / connections;
}

/**
 * The SSE fan-out with subscribers spread over `processes` client processes (bench/fanout-client.ts),
 * against the same server and job as the 1,000-subscriber run (bench/progress-child.ts). The
 * server's RSS is read from /proc before the first subscriber and once all are connected; the
 * worker holds its paced updates until then (`holdMs`). Every process is killed afterwards.
 */
export async function measureFanout(
  wanted: number,
  processes: number,
  progress: Omit<ProgressChildInput, 'role'>,
): Promise<FanoutMeasurement> {
  const notes: string[] = [];
  const db = await createDatabase();
  const server = startChild('progress-child.ts', { ...progress, role: 'underway-server', pgUrl: db.url });
  const children: ChildProcess[] = [server];
  try {
    const url = (await waitForLine(server, 'ready ', 30_000)).slice('ready '.length).trim();
    const subscribers = fitSubscribers(wanted, server.pid as number, notes);
    await sleep(SETTLE_MS);
    const rssBeforeKiB = rssKiB(server.pid as number);
    // About 1 ms per subscriber to connect on a 2-CPU machine; the worker waits 3 (plus the usual hold).
    const holdMs = progress.holdMs + subscribers * 3;
    const worker = startChild('progress-child.ts', {
      ...progress,
      holdMs,
      burstMs: 0,
      role: 'underway-worker',
      pgUrl: db.url,
    });
    children.push(worker);
    const workerDone = collect<ProgressWorkerResult>(worker, 'progress-child.ts', holdMs + 120_000);
    workerDone.catch(() => {});
    const jobId = (await waitForLine(worker, 'job ', 30_000)).slice(4).trim();
    const lifeMs = holdMs + progress.paced * progress.paceMs + 120_000;
    const clients = Array.from({ length: processes }, (_, i) => {
      const count = Math.floor(subscribers / processes) + (i < subscribers % processes ? 1 : 0);
      const input: FanoutClientInput = { url: `${url}/api/jobs/${jobId}/events`, count, maxMs: lifeMs };
      const child = startChild('fanout-client.ts', input);
      children.push(child);
      const result = collect<FanoutClientResult>(child, 'fanout-client.ts', lifeMs + 20_000);
      result.catch(() => {});
      return { child, result };
    });
    await Promise.all(clients.map(({ child }) => waitForLine(child, 'connected ', holdMs)));
    await sleep(SETTLE_MS);
    const rssConnectedKiB = rssKiB(server.pid as number);
    await workerDone;
    // Each client reports once all its streams ended: when behind, it is still receiving now.
    // One that has not within DRAIN_MS is told to report what it has.
    const stragglers = setTimeout(() => {
      for (const { child } of clients) if (child.exitCode === null) child.kill('SIGTERM');
    }, DRAIN_MS);
    const results = await Promise.all(clients.map(({ result }) => result)).finally(() => clearTimeout(stragglers));
    const serverDone = collect<{ rssMiB: number }>(server, 'progress-child.ts', 20_000);
    server.kill('SIGTERM');
    const { rssMiB } = await serverDone;
    const failed = results.reduce((sum, r) => sum + r.failed, 0);
    return {
      subscribers,
      connected: subscribers - failed,
      failed,
      failures: [...new Set(results.flatMap((r) => r.failures))].slice(0, 5),
      latencies: results.flatMap((r) => r.latencies),
      received: results.reduce((sum, r) => sum + r.received, 0),
      cutOff: subscribers - failed - results.reduce((sum, r) => sum + r.sawEnd, 0),
      connectMs: Math.max(...results.map((r) => r.connectMs)),
      rssBeforeKiB,
      rssConnectedKiB,
      serverPeakRssMiB: rssMiB,
      notes,
    };
  } finally {
    // Each by its own pid; a child that already ended is left alone.
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await db.drop();
  }
}

/**
 * As many subscribers as the server can hold: each is one descriptor in the server process
 * (and one local port on loopback). Says so in `notes` when that is fewer than wanted.
 */
function fitSubscribers(wanted: number, serverPid: number, notes: string[]): number {
  let fits = wanted;
  const limit = openFilesLimit(serverPid);
  if (limit !== undefined && limit - SERVER_FD_MARGIN < fits) {
    fits = Math.max(1, limit - SERVER_FD_MARGIN);
    notes.push(
      `server's open-file limit (ulimit -n) is ${limit}: measured ${fits} subscribers, not ${wanted}; raise it to measure all`,
    );
  }
  const ports = ephemeralPorts();
  if (ports !== undefined && ports - SERVER_FD_MARGIN < fits) {
    fits = Math.max(1, ports - SERVER_FD_MARGIN);
    notes.push(`only ${ports} local ports for outgoing connections: measured ${fits} subscribers, not ${wanted}`);
  }
  return fits;
}
