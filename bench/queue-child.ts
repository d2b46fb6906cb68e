/**
 * One measurement of one peer in a fresh process (so no peer warms another's heap or caches):
 *
 *   node --import tsx bench/queue-child.ts '{"peer":"graphile","scenario":"drain",...}'
 *
 * Prints one `@@result {...}` line. Started by bench/run.ts, which owns the database or Redis
 * prefix and removes it afterwards, whatever happens here.
 */
import { reportResult } from './lib/child.ts';
import { percentile, rssSampler, sleep, waitFor, wallMs } from './lib/stats.ts';
import type { BenchPayload, DrainMode, Peer, PeerOptions } from './peers/types.ts';

export type PeerId = 'underway-pg' | 'underway-sqlite' | 'graphile' | 'pgboss' | 'bullmq-redis' | 'bullmq-pg';
export type QueueScenario = 'enqueue-one' | 'enqueue-batch' | 'drain' | 'pickup';

export interface QueueChildInput extends PeerOptions {
  peer: PeerId;
  scenario: QueueScenario;
  mode: DrainMode;
  concurrency: number;
  /** Jobs measured (after the warm-up). */
  jobs: number;
  /** A drain that has not finished by then is cut off and its rate taken over what it did. */
  capMs: number;
}

export interface QueueChildResult {
  peer: string;
  settings: string;
  /** Jobs per second (enqueue, drain). */
  rate?: number;
  /** Pick-up latency, ms: from the enqueue call to the task starting. */
  p50?: number;
  p95?: number;
  p99?: number;
  /** Pick-up latency from the enqueue call returning (the commit acknowledged) to the task starting. */
  afterReturnP50?: number;
  /** Every measured job ran exactly once and the library records it as completed. */
  exactlyOnce?: boolean;
  /** Jobs done when a capped drain was cut off. */
  done?: number;
  capped?: boolean;
  /** Peak RSS of this process, MiB. */
  rssMiB: number;
}

/**
 * The measured peer, its library loaded alone: a process that imported all four would count
 * every library's code in each peer's RSS.
 */
export async function makePeer(input: QueueChildInput): Promise<Peer> {
  switch (input.peer) {
    case 'underway-pg':
      return new (await import('./peers/underway.ts')).UnderwayPeer('postgres', input);
    case 'underway-sqlite':
      return new (await import('./peers/underway.ts')).UnderwayPeer('sqlite', input);
    case 'graphile':
      return new (await import('./peers/graphile.ts')).GraphilePeer(input);
    case 'pgboss':
      return new (await import('./peers/pgboss.ts')).PgBossPeer(input);
    case 'bullmq-redis':
      return new (await import('./peers/bullmq.ts')).BullMqPeer('redis', input);
    case 'bullmq-pg':
      return new (await import('./peers/bullmq.ts')).BullMqPeer('postgres', input);
  }
}

const payloads = (from: number, count: number): BenchPayload[] =>
  Array.from({ length: count }, (_, i) => ({ n: from + i }));

/** Enqueues `count` jobs in batches of 1,000 through the library's batch call (or underway's seed). */
async function fill(peer: Peer, from: number, count: number): Promise<void> {
  if (peer.seed) return peer.seed(count, from);
  for (let at = from; at < from + count; at += 1_000) {
    await peer.enqueueBatch(payloads(at, Math.min(1_000, from + count - at)));
  }
}

async function enqueueOne(peer: Peer, jobs: number): Promise<Partial<QueueChildResult>> {
  for (let n = 0; n < 200; n++) await peer.enqueueOne({ n }); // warm-up
  const started = performance.now();
  for (let n = 200; n < 200 + jobs; n++) await peer.enqueueOne({ n });
  return { rate: jobs / ((performance.now() - started) / 1000) };
}

async function enqueueBatch(peer: Peer, jobs: number): Promise<Partial<QueueChildResult>> {
  await peer.enqueueBatch(payloads(0, 1_000)); // warm-up
  const started = performance.now();
  for (let at = 1_000; at < 1_000 + jobs; at += 1_000) await peer.enqueueBatch(payloads(at, 1_000));
  return { rate: jobs / ((performance.now() - started) / 1000) };
}

/** Counts runs per job number. */
class RunLog {
  readonly runs = new Map<number, number>();
  handled = 0;
  readonly handler = (payload: BenchPayload) => {
    this.handled++;
    this.runs.set(payload.n, (this.runs.get(payload.n) ?? 0) + 1);
  };
  /** Jobs 0 … total − 1 each ran exactly once, and no other job ran. */
  exactlyOnce(total: number): boolean {
    for (let n = 0; n < total; n++) if (this.runs.get(n) !== 1) return false;
    return this.runs.size === total;
  }
}

async function drain(peer: Peer, input: QueueChildInput): Promise<Partial<QueueChildResult>> {
  // Warm-up: the same path on a few hundred jobs, not timed (fewer for a run that will be cut off).
  const warm = input.capMs < 60_000 ? 50 : 500;
  const log = new RunLog();
  const settings = { concurrency: input.concurrency, mode: input.mode, handler: log.handler };
  await fill(peer, 0, warm);
  await peer.startWorker(settings);
  if (await waitFor(() => log.handled >= warm, Math.min(input.capMs, 20_000))) {
    await waitFor(async () => (await peer.completed(warm)) >= warm, 10_000, 20);
  }
  await peer.stopWorker();

  const total = warm + input.jobs;
  const before = log.handled;
  await fill(peer, warm, input.jobs);
  const started = performance.now();
  await peer.startWorker(settings);
  await waitFor(() => log.handled >= total, input.capMs, 2);
  const finished =
    log.handled >= total && (await waitFor(async () => (await peer.completed(total)) >= total, 10_000, 10));
  const seconds = (performance.now() - started) / 1000;
  const done = log.handled - before;
  await peer.stopWorker();
  const completed = await peer.completed(total);
  return {
    rate: (finished ? input.jobs : done) / seconds,
    capped: !finished,
    done,
    exactlyOnce: finished && completed === total && log.exactlyOnce(total),
  };
}

async function pickup(peer: Peer, input: QueueChildInput): Promise<Partial<QueueChildResult>> {
  const fromCall: number[] = [];
  const fromReturn: number[] = [];
  let startedAt = 0;
  let ran = 0;
  await peer.startWorker({
    concurrency: input.concurrency,
    mode: input.mode,
    handler: () => {
      startedAt = wallMs();
      ran++;
    },
  });
  await sleep(500); // the worker is listening and idle
  const warm = 20;
  for (let n = 0; n < warm + input.jobs; n++) {
    const before = ran;
    const at = wallMs();
    await peer.enqueueOne({ n, at });
    const returned = wallMs();
    if (!(await waitFor(() => ran > before, 5_000, 0.5))) throw new Error(`job ${n} was not picked up within 5 s`);
    if (n >= warm) {
      fromCall.push(startedAt - at);
      fromReturn.push(startedAt - returned);
    }
    await sleep(10); // idle again
  }
  await peer.stopWorker();
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    p50: round(percentile(fromCall, 50)),
    p95: round(percentile(fromCall, 95)),
    p99: round(percentile(fromCall, 99)),
    afterReturnP50: round(percentile(fromReturn, 50)),
  };
}

const input = JSON.parse(process.argv[2] as string) as QueueChildInput;
const rss = rssSampler();
const peer = await makePeer(input);
await peer.prepare?.(input.mode);
await peer.setup();
let result: Partial<QueueChildResult>;
switch (input.scenario) {
  case 'enqueue-one':
    result = await enqueueOne(peer, input.jobs);
    break;
  case 'enqueue-batch':
    result = await enqueueBatch(peer, input.jobs);
    break;
  case 'drain':
    result = await drain(peer, input);
    break;
  case 'pickup':
    result = await pickup(peer, input);
    break;
}
const rssMiB = rss.stop();
await peer.close();
reportResult({ peer: peer.name, settings: peer.settings(input.mode, input.concurrency), ...result, rssMiB });
process.exit(0);
