/**
 * One of several subscriber processes of the large SSE fan-out (started by bench/fanout/measure.ts):
 * opens `count` streams to one job's events URL (as the 1,000-subscriber run does, in-process,
 * with SseSubscribers: no credentials, the server treats loopback as the local admin), prints
 * `connected <ok> <failed>`, and once every stream has ended (the server ends each after the
 * job's final status, so the slowest events are counted too) prints its result and exits; on
 * SIGTERM it does so at once. Spreading 10,000
 * connections over processes keeps one client's event loop from being what is measured.
 *
 * If the parent never says stop, it stops itself after `maxMs` (reporting what it has).
 */
import { reportResult } from './lib/child.ts';
import { SseSubscribers } from './lib/sse-client.ts';
import { waitFor } from './lib/stats.ts';

export interface FanoutClientInput {
  url: string;
  count: number;
  maxMs: number;
}

export interface FanoutClientResult {
  connected: number;
  failed: number;
  /** The first few reasons connections failed. */
  failures: string[];
  /** Progress events received over all this process's streams. */
  received: number;
  /** Streams that got the job's final status: connected − this were cut off early (e.g. dropped for lagging). */
  sawEnd: number;
  /** Delivery latency of every stamped progress event, ms, to 0.01 ms (keeps the result line small). */
  latencies: number[];
  /** From the first connection attempt to the last answer. */
  connectMs: number;
}

const input = JSON.parse(process.argv[2] as string) as FanoutClientInput;
const clients = new SseSubscribers();
let connectMs = 0;

let finished = false;
function finish(): void {
  if (finished) return;
  finished = true;
  clearTimeout(guard);
  clients.close();
  reportResult({
    connected: input.count - clients.failed,
    failed: clients.failed,
    failures: clients.failures,
    received: clients.received,
    sawEnd: clients.sawEnd,
    latencies: clients.latencies.map((ms) => Math.round(ms * 100) / 100),
    connectMs,
  } satisfies FanoutClientResult);
  // Exits once the result line is flushed, even if a stream was still being opened.
  process.stdout.write('', () => process.exit(0));
}

// Holds the process open while streams may all have failed, and bounds its life.
const guard = setTimeout(finish, input.maxMs);
process.once('SIGTERM', finish);

const started = performance.now();
await clients.openCounting(input.url, input.count);
connectMs = Math.round(performance.now() - started);
process.stdout.write(`connected ${input.count - clients.failed} ${clients.failed}\n`);
await waitFor(() => clients.closed >= input.count - clients.failed, input.maxMs, 50);
finish();
