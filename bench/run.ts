/**
 * underway side by side with graphile-worker, pg-boss and BullMQ (Redis and PostgreSQL), in
 * one run: `npm run bench [-- --reps 3 --jobs 20000 --only drain,pickup --peers underway-pg,graphile --quick]`
 * (`--only priorities`: just that underway drain; `--only limits`: the limited drains and the same drain without;
 * `--only http`: `POST /api/jobs` under autocannon load beside a bare Hono handler inserting one row, the floor;
 * its peers for `--peers`: underway-sqlite-http, floor-sqlite-http, underway-pg-http, floor-pg-http).
 *
 * Every measurement runs in a fresh process on a fresh database (or Redis prefix) that this
 * script creates and removes; repetitions alternate between peers so that a change in the
 * machine's load hits them alike. Prints medians and underway / best peer, and writes every
 * sample to bench/results/<time>.json. Settings and fairness rules: docs/performance.md.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kibPerConnection, measureFanout } from './fanout/measure.ts';
import { measureHttpStart } from './http/measure.ts';
import { HTTP_ROW_PREFIX, type HttpRowSet, httpSummary } from './http/summary.ts';
import type { HttpServerKind, HttpStoreKind } from './http/types.ts';
import { CHILD_FLAGS, collect, runChild, startChild, UNDERWAY_FROM, waitForLine } from './lib/child.ts';
import { createDatabase, deleteRedisKeys, dropLeftoverDatabases, probe, redisNamespace } from './lib/env.ts';
import { rssKiB } from './lib/proc.ts';
import { SseSubscribers } from './lib/sse-client.ts';
import { loadAverage, median, percentile, sleep } from './lib/stats.ts';
import { KEYS, PER_KEY } from './peers/types.ts';
import type { ProgressChildInput, ProgressWorkerResult } from './progress-child.ts';
import type { PeerId, QueueChildInput, QueueChildResult, QueueScenario } from './queue-child.ts';

const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const quick = args.includes('--quick');
const reps = Number(option('reps') ?? (quick ? 1 : 3));
const only = option('only')?.split(',');
const peerFilter = option('peers')?.split(',');
const JOBS = Number(option('jobs') ?? (quick ? 4_000 : 20_000));

type Direction = 'higher' | 'lower';
interface Row {
  scenario: string;
  unit: string;
  better: Direction;
  /** Median per peer. */
  medians: Record<string, number>;
  samples: Record<string, number[]>;
  settings: Record<string, string>;
  notes: string[];
}

const rows: Row[] = [];
const wanted = (name: string) => !only || only.some((o) => name.startsWith(o));
const peerWanted = (peer: string) => !peerFilter || peerFilter.includes(peer);

function row(scenario: string, unit: string, better: Direction): Row {
  const r: Row = { scenario, unit, better, medians: {}, samples: {}, settings: {}, notes: [] };
  rows.push(r);
  return r;
}

function record(r: Row, peer: string, value: number | undefined, settings?: string): void {
  if (value === undefined || Number.isNaN(value)) return;
  const samples = r.samples[peer] ?? [];
  samples.push(value);
  r.samples[peer] = samples;
  r.medians[peer] = median(r.samples[peer] as number[]);
  if (settings) r.settings[peer] = settings;
}

/** One queue measurement in a fresh process on fresh storage, removed afterwards. */
async function measure(input: Omit<QueueChildInput, 'pgUrl' | 'redisPrefix' | 'dir'>): Promise<QueueChildResult> {
  const db = input.peer === 'bullmq-redis' || input.peer === 'underway-sqlite' ? null : await createDatabase();
  const redis = input.peer === 'bullmq-redis' ? redisNamespace() : null;
  const dir = input.peer === 'underway-sqlite' ? mkdtempSync(join(tmpdir(), 'underway-bench-')) : undefined;
  try {
    return await runChild<QueueChildResult>(
      'queue-child.ts',
      { ...input, pgUrl: db?.url, redisPrefix: redis?.prefix, dir },
      input.capMs + 180_000,
    );
  } finally {
    await db?.drop();
    await redis?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

const QUEUE_PEERS: PeerId[] = ['underway-pg', 'underway-sqlite', 'graphile', 'pgboss', 'bullmq-redis', 'bullmq-pg'];
/** Peers with a documented faster setting than their defaults; the others run once per concurrency. */
/** Peers whose docs name faster settings than their defaults (underway: `prefetch`, docs/performance.md). */
const HAS_FAST: PeerId[] = ['underway-pg', 'underway-sqlite', 'graphile', 'pgboss'];

async function queueScenarios(): Promise<void> {
  const peers = QUEUE_PEERS.filter(peerWanted);
  const plans: {
    name: string;
    unit: string;
    better: Direction;
    runs: [PeerId, Omit<QueueChildInput, 'peer' | 'pgUrl' | 'redisPrefix' | 'dir'>][];
    pick: (r: QueueChildResult) => number | undefined;
  }[] = [];
  const plain = { mode: 'default' as const, concurrency: 10, capMs: 60_000 };
  if (wanted('enqueue-one')) {
    plans.push({
      name: 'enqueue, one call per job',
      unit: 'jobs/s',
      better: 'higher',
      pick: (r) => r.rate,
      runs: peers.map((p) => [p, { ...plain, scenario: 'enqueue-one' as QueueScenario, jobs: quick ? 1_000 : 2_000 }]),
    });
  }
  if (wanted('enqueue-batch')) {
    plans.push({
      name: 'enqueue in batches of 1,000',
      unit: 'jobs/s',
      better: 'higher',
      pick: (r) => r.rate,
      runs: peers.map((p) => [
        p,
        { ...plain, scenario: 'enqueue-batch' as QueueScenario, jobs: quick ? 4_000 : 10_000 },
      ]),
    });
  }
  for (const concurrency of [10, 50]) {
    for (const mode of ['default', 'fast'] as const) {
      if (!wanted('drain')) continue;
      const ps = peers.filter((p) => mode === 'default' || HAS_FAST.includes(p));
      plans.push({
        name: `drain ${JOBS.toLocaleString('en')} no-op jobs, c${concurrency}, ${mode === 'default' ? 'defaults' : 'fastest settings'}`,
        unit: 'jobs/s',
        better: 'higher',
        pick: (r) => r.rate,
        runs: ps.map((p) => [
          p,
          {
            scenario: 'drain',
            mode,
            concurrency,
            jobs: JOBS,
            capMs: mode === 'default' && p === 'pgboss' ? 15_000 : 120_000,
          },
        ]),
      });
    }
  }
  // What ordering by priority costs: the same drain with priorities -5 … 5 (underway only).
  if (wanted('drain') || wanted('priorities')) {
    const underwayPeers = peers.filter((p) => p === 'underway-pg' || p === 'underway-sqlite');
    plans.push({
      name: `drain ${JOBS.toLocaleString('en')} no-op jobs, c10, fastest settings, priorities -5..5`,
      unit: 'jobs/s',
      better: 'higher',
      pick: (r) => r.rate,
      runs: underwayPeers.map((p) => [
        p,
        { scenario: 'drain', mode: 'fast', concurrency: 10, jobs: JOBS, capMs: 120_000, priorities: true },
      ]),
    });
  }
  // What the limited claim costs (underway only): the same drain with its queue under a limit
  // of 10 running (the worker's concurrency) or of 5 per key over 4 keys, so that every claim is
  // the limited one. The slots never wait for the limit, but the prefetch does: a prefetched job
  // counts as running, so no more than the limit is ever claimed ahead.
  if (wanted('drain') || wanted('limits')) {
    const underwayPeers = peers.filter((p) => p === 'underway-pg' || p === 'underway-sqlite');
    const limited = [
      ['', undefined],
      [', queue limit 10', 'queue'],
      [`, ${PER_KEY} per key over ${KEYS} keys`, 'per-key'],
    ] as const;
    for (const [label, limits] of limited) {
      // Without limits is the drain's own row: run here only when `--only limits` leaves it out.
      if (!limits && wanted('drain')) continue;
      plans.push({
        name: `drain ${JOBS.toLocaleString('en')} no-op jobs, c10, fastest settings${label}`,
        unit: 'jobs/s',
        better: 'higher',
        pick: (r) => r.rate,
        runs: underwayPeers.map((p) => [
          p,
          { scenario: 'drain', mode: 'fast', concurrency: 10, jobs: JOBS, capMs: 120_000, limits },
        ]),
      });
    }
  }
  if (wanted('pickup')) {
    // pg-boss only wakes on NOTIFY with useListenNotify and a notify queue (its "fast" mode); the others at defaults.
    plans.push({
      name: 'pick-up latency p50, idle worker',
      unit: 'ms',
      better: 'lower',
      pick: (r) => r.p50,
      runs: peers.map((p) => [
        p,
        {
          scenario: 'pickup',
          mode: p === 'pgboss' ? 'fast' : 'default',
          concurrency: 10,
          jobs: quick ? 50 : 200,
          capMs: 60_000,
        },
      ]),
    });
  }
  for (const plan of plans) {
    const r = row(plan.name, plan.unit, plan.better);
    const extra = plan.name.startsWith('pick-up')
      ? {
          p95: row('pick-up latency p95', 'ms', 'lower'),
          p99: row('pick-up latency p99', 'ms', 'lower'),
          after: row('pick-up p50 after enqueue returned', 'ms', 'lower'),
        }
      : null;
    const rss = plan.name.includes('c50, defaults') ? row('worker process peak RSS (drain c50)', 'MiB', 'lower') : null;
    for (let rep = 0; rep < reps; rep++) {
      for (const [peer, input] of plan.runs) {
        try {
          const result = await measure({ peer, ...input });
          record(r, result.peer, plan.pick(result), result.settings);
          if (result.capped)
            r.notes.push(
              `${result.peer}: cut off after ${input.capMs / 1000} s (${result.done} jobs done); rate over what it did`,
            );
          if (result.exactlyOnce === false && !result.capped)
            r.notes.push(`${result.peer}: NOT every job completed exactly once`);
          if (extra) {
            record(extra.p95, result.peer, result.p95);
            record(extra.p99, result.peer, result.p99);
            record(extra.after, result.peer, result.afterReturnP50);
          }
          // A drain cut off early (pg-boss's 2 s polling at its defaults) held a fraction of the
          // jobs: its peak is not comparable, and it would set the target's lightest peer.
          if (rss && !result.capped) record(rss, result.peer, result.rssMiB);
          else if (rss) rss.notes.push(`${result.peer}: ${result.rssMiB} MiB, left out: its drain was cut off`);
          log(
            `${plan.name} | ${result.peer}: ${plan.pick(result)?.toFixed(2)} ${plan.unit}${result.exactlyOnce ? ', exactly once' : ''}`,
          );
        } catch (error) {
          r.notes.push(`${peer}: failed: ${(error as Error).message.split('\n')[0]}`);
          log(`${plan.name} | ${peer}: FAILED ${(error as Error).message}`);
        }
      }
    }
  }
}

/**
 * The paced updates come 110 ms apart, just over the SSE stream's default gap per job (10 a
 * second, `sse.progressPerSecond`), so each is sent as soon as it arrives and the latency is the
 * pipe's. At 20 ms apart (until run M) four in five waited in the stream for the gap on purpose,
 * and the figure was that wait (p50 13 ms), not the delivery.
 */
const PROGRESS: Omit<ProgressChildInput, 'role'> = { holdMs: 1_500, burstMs: 2_000, paced: 100, paceMs: 110 };

/** Progress: a job's updates/s, DB writes, and ctx.progress → SSE client latency (or updateProgress → QueueEvents). */
async function progressScenarios(): Promise<void> {
  if (!wanted('progress') && !wanted('fanout')) return;
  const rate = row('progress updates/s one job emits', 'updates/s', 'higher');
  const writes = row('progress DB writes/s for that job', 'writes/s', 'lower');
  const p50 = row('progress → live listener p50 (other process)', 'ms', 'lower');
  const p95 = row('progress → live listener p95 (other process)', 'ms', 'lower');
  const fanP50 = row('SSE fan-out, 1,000 subscribers: delivery p50', 'ms', 'lower');
  const fanP95 = row('SSE fan-out, 1,000 subscribers: delivery p95', 'ms', 'lower');
  const fanRss = row('SSE fan-out, 1,000 subscribers: server peak RSS', 'MiB', 'lower');
  const fanPerConnection = row('SSE fan-out, 1,000 subscribers: server memory per connection', 'KiB', 'lower');
  for (let rep = 0; rep < reps; rep++) {
    for (const subscribers of wanted('progress') ? [1, ...(wanted('fanout') || !only ? [1_000] : [])] : [1_000]) {
      const db = await createDatabase();
      const server = startChild('progress-child.ts', { ...PROGRESS, role: 'underway-server', pgUrl: db.url });
      const clients = new SseSubscribers();
      try {
        const url = (await waitForLine(server, 'ready ', 30_000)).slice('ready '.length).trim();
        const worker = startChild('progress-child.ts', {
          ...PROGRESS,
          holdMs: PROGRESS.holdMs + subscribers * 5,
          // Fan-out measures delivery of paced updates only; the burst is the one-subscriber run's.
          burstMs: subscribers === 1 ? PROGRESS.burstMs : 0,
          role: 'underway-worker',
          pgUrl: db.url,
        });
        const done = collect<ProgressWorkerResult>(worker, 'progress-child.ts', 120_000);
        const jobId = (await waitForLine(worker, 'job ', 30_000)).slice(4).trim();
        // The server's RSS around the connecting, read from /proc (bench/lib/proc.ts).
        const rssBefore = rssKiB(server.pid as number);
        await clients.open(`${url}/api/jobs/${jobId}/events`, subscribers);
        await sleep(500);
        const perConnection = kibPerConnection(rssBefore, rssKiB(server.pid as number), subscribers);
        const result = await done;
        await sleep(300);
        server.kill('SIGTERM');
        const serverResult = await collect<{ rssMiB: number }>(server, 'progress-child.ts', 20_000);
        const name = 'underway (PostgreSQL)';
        if (subscribers === 1) {
          record(rate, name, result.updatesPerSecond, 'ctx.progress in a loop, yielding every 100 calls; ≤ 4 writes/s');
          record(writes, name, result.dbWritesPerSecond);
          record(
            p50,
            name,
            percentile(clients.latencies, 50),
            'worker process → NOTIFY → server process → SSE → client process',
          );
          record(p95, name, percentile(clients.latencies, 95));
        } else {
          record(
            fanP50,
            name,
            percentile(clients.latencies, 50),
            `${subscribers} EventSource-like clients in one process`,
          );
          record(fanP95, name, percentile(clients.latencies, 95));
          record(fanRss, name, serverResult.rssMiB);
          record(fanPerConnection, name, perConnection, '(RSS with all connected − RSS before) / subscribers');
          const expected = subscribers * PROGRESS.paced;
          if (clients.latencies.length < expected)
            fanP50.notes.push(`${clients.latencies.length} of ${expected} paced events arrived`);
        }
        log(
          `progress (${subscribers} subscribers) | underway: ${result.updatesPerSecond.toFixed(0)} updates/s, ${result.dbWrites} writes, p50 ${percentile(clients.latencies, 50).toFixed(2)} p95 ${percentile(clients.latencies, 95).toFixed(2)} ms, server RSS ${serverResult.rssMiB}`,
        );
      } catch (error) {
        rate.notes.push(`underway: failed: ${(error as Error).message.split('\n')[0]}`);
        log(`progress | underway FAILED ${(error as Error).message}`);
        server.kill('SIGKILL');
      } finally {
        clients.close();
        await db.drop();
      }
    }
    if (wanted('progress') && peerWanted('bullmq-redis')) await bullmqProgress(rate, p50, p95);
  }
  if (wanted('fanout')) await largeFanout();
}

const FANOUT_SUBSCRIBERS = 10_000;
const FANOUT_PROCESSES = 4;

/** The SSE fan-out at 10,000 subscribers over 4 client processes (bench/fanout/measure.ts). */
async function largeFanout(): Promise<void> {
  const label = `SSE fan-out, ${FANOUT_SUBSCRIBERS.toLocaleString('en')} subscribers`;
  const p50 = row(`${label}: delivery p50`, 'ms', 'lower');
  const p95 = row(`${label}: delivery p95`, 'ms', 'lower');
  const p99 = row(`${label}: delivery p99`, 'ms', 'lower');
  const failed = row(`${label}: connections failed`, 'connections', 'lower');
  const perConnection = row(`${label}: server memory per connection`, 'KiB', 'lower');
  const peak = row(`${label}: server peak RSS`, 'MiB', 'lower');
  const name = 'underway (PostgreSQL)';
  for (let rep = 0; rep < reps; rep++) {
    try {
      const m = await measureFanout(FANOUT_SUBSCRIBERS, FANOUT_PROCESSES, PROGRESS);
      record(p50, name, percentile(m.latencies, 50), `${m.subscribers} subscribers in ${FANOUT_PROCESSES} processes`);
      record(p95, name, percentile(m.latencies, 95));
      record(p99, name, percentile(m.latencies, 99));
      record(failed, name, m.failed);
      const kib = kibPerConnection(m.rssBeforeKiB, m.rssConnectedKiB, m.connected);
      record(perConnection, name, kib, '(RSS with all connected − RSS before) / connected');
      record(peak, name, m.serverPeakRssMiB);
      p50.notes.push(
        ...m.notes,
        `${m.received} progress events arrived over ${m.connected} streams; ${m.cutOff} streams never got the job's final status`,
      );
      if (m.failures.length > 0) failed.notes.push(...m.failures);
      log(
        `${label} | underway: ${m.connected}/${m.subscribers} connected in ${m.connectMs} ms, p50 ${percentile(m.latencies, 50).toFixed(2)} p95 ${percentile(m.latencies, 95).toFixed(2)} p99 ${percentile(m.latencies, 99).toFixed(2)} ms, server RSS ${m.rssBeforeKiB} → ${m.rssConnectedKiB} KiB (${kib?.toFixed(1)} KiB/connection), peak ${m.serverPeakRssMiB} MiB`,
      );
    } catch (error) {
      p50.notes.push(`underway: failed: ${(error as Error).message.split('\n')[0]}`);
      log(`${label} | underway FAILED ${(error as Error).message}`);
    }
  }
}

async function bullmqProgress(rate: Row, p50: Row, p95: Row): Promise<void> {
  const { QueueEvents } = await import('bullmq');
  const { redisConnection } = await import('./peers/bullmq.ts');
  const { wallMs } = await import('./lib/stats.ts');
  const redis = redisNamespace();
  const events = new QueueEvents('progress', { connection: redisConnection(), prefix: redis.prefix });
  const latencies: number[] = [];
  events.on('progress', ({ data }) => {
    const message = (data as { message?: string }).message;
    if (message?.startsWith('t')) latencies.push(wallMs() - Number(message.slice(1)));
  });
  try {
    await events.waitUntilReady();
    const result = await runChild<ProgressWorkerResult>(
      'progress-child.ts',
      { ...PROGRESS, role: 'bullmq-worker', redisPrefix: redis.prefix },
      120_000,
    );
    await sleep(300);
    const name = 'BullMQ (Redis)';
    record(rate, name, result.updatesPerSecond, 'await job.updateProgress() in a loop');
    record(p50, name, percentile(latencies, 50), 'updateProgress → QueueEvents "progress" in another process');
    record(p95, name, percentile(latencies, 95));
    log(
      `progress | BullMQ: ${result.updatesPerSecond.toFixed(0)} updates/s, p50 ${percentile(latencies, 50).toFixed(2)} p95 ${percentile(latencies, 95).toFixed(2)} ms`,
    );
  } catch (error) {
    rate.notes.push(`BullMQ: failed: ${(error as Error).message.split('\n')[0]}`);
  } finally {
    await events.close();
    await redis.drop();
  }
}

/** The sandbox's cost per job, by bench/sandbox.ts (its own script, 3 rounds). */
async function sandboxScenario(): Promise<void> {
  if (!wanted('sandbox')) return;
  const script = fileURLToPath(new URL('./sandbox.ts', import.meta.url));
  const r = row('sandbox: no-op jobs/s, 4 at a time', 'jobs/s', 'higher');
  const out = spawnSync(process.execPath, [...CHILD_FLAGS, script, String(Math.max(3, reps))], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, UNDERWAY_LOG_LEVEL: 'error' },
  });
  for (const line of out.stdout.split('\n')) {
    const match = /^(.+?)\s+median\s+([\d.]+) jobs\/s/.exec(line);
    if (match) record(r, `underway ${match[1]?.trim()}`, Number(match[2]));
  }
  log(out.stdout.trim());
}

/** Connection counts of the HTTP start, and each run's length (after a warm-up at the same count). */
const HTTP_CONNECTIONS = [1, 16, 64];
const HTTP_SECONDS = Number(option('http-seconds') ?? (quick ? 2 : 5));
const HTTP_STORES: [HttpStoreKind, string][] = [
  ['sqlite', 'SQLite'],
  ['pg', 'PostgreSQL'],
];
const httpSets: HttpRowSet[] = [];

/**
 * `POST /api/jobs` under load (autocannon in this process, the server in a fresh child on a fresh
 * database), beside the floor: a bare Hono handler that parses the body and inserts one row into
 * the same store. Rows per store and connection count; the ratio line is underway ÷ floor.
 */
async function httpScenario(): Promise<void> {
  if (!wanted('http')) return;
  for (const [store, label] of HTTP_STORES) {
    const peers = (['underway', 'floor'] as HttpServerKind[]).filter((s) => peerWanted(`${s}-${store}-http`));
    const name = (server: HttpServerKind) => `${server} (${label})`;
    for (const connections of HTTP_CONNECTIONS) {
      const title = `${HTTP_ROW_PREFIX}, ${label}, ${connections} connection${connections > 1 ? 's' : ''}`;
      const rps = row(`${title}: requests/s`, 'req/s', 'higher');
      const p50 = row(`${title}: latency p50`, 'ms', 'lower');
      const p99 = row(`${title}: latency p99`, 'ms', 'lower');
      const cpu = row(`${title}: server CPU per start`, 'ms', 'lower');
      const sets = { rps, p50, p99, cpu };
      httpSets.push({ store: label, connections, underway: name('underway'), floor: name('floor'), ...sets });
      for (let rep = 0; rep < reps; rep++) {
        for (const server of peers) {
          const peer = name(server);
          try {
            const m = await measureHttpStart(server, store, connections, HTTP_SECONDS, quick ? 1 : 2);
            const summary = `${m.rps.toFixed(0)} req/s, p50 ${m.p50} p99 ${m.p99} ms, ${m.rows} rows for ${m.answered} 2xx`;
            // One refused or failed request means the server was not measured doing starts.
            if (m.non2xx > 0 || m.errors > 0) {
              rps.notes.push(`${peer}: sample dropped, ${m.non2xx} non-2xx answers and ${m.errors} errors`);
              log(`${title} | ${peer}: INVALID (${m.non2xx} non-2xx, ${m.errors} errors) ${summary}`);
              continue;
            }
            // Requests in flight when a run stops are stored but not counted: up to one per connection per run.
            if (m.rows < m.answered || m.rows > m.answered + 2 * connections)
              rps.notes.push(`${peer}: ${m.rows} rows stored for ${m.answered} 2xx answers`);
            const settings = `${m.settings}; autocannon ${connections} connections, ${HTTP_SECONDS} s`;
            record(rps, peer, m.rps, settings);
            record(p50, peer, m.p50);
            record(p99, peer, m.p99);
            record(cpu, peer, m.cpuMsPerStart);
            log(
              `${title} | ${peer}: ${summary}, ${m.cpuMsPerStart.toFixed(3)} CPU ms/start, RSS ${m.serverRssMiB} MiB`,
            );
          } catch (error) {
            rps.notes.push(`${peer}: failed: ${(error as Error).message.split('\n')[0]}`);
            log(`${title} | ${peer}: FAILED ${(error as Error).message}`);
          }
        }
      }
    }
  }
}

function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

const fmt = (v: number | undefined) =>
  v === undefined ? '—' : v >= 100 ? Math.round(v).toLocaleString('en') : v.toFixed(v >= 10 ? 1 : 2);

function printTable(): void {
  for (const r of rows) {
    const peers = Object.keys(r.medians);
    // The HTTP rows get one compact table per store (httpSummary), with underway ÷ floor.
    if (peers.length === 0 || r.scenario.startsWith(HTTP_ROW_PREFIX)) continue;
    const ours = peers.filter((p) => p.startsWith('underway'));
    const others = peers.filter((p) => !p.startsWith('underway'));
    const best = others.sort((a, b) =>
      r.better === 'higher'
        ? (r.medians[b] as number) - (r.medians[a] as number)
        : (r.medians[a] as number) - (r.medians[b] as number),
    )[0];
    console.log(`\n${r.scenario} (${r.unit}, ${r.better} is better; medians of ${reps})`);
    for (const p of [...ours, ...others]) {
      console.log(
        `  ${p.padEnd(34)} ${fmt(r.medians[p]).padStart(10)}   [${(r.samples[p] ?? []).map(fmt).join(', ')}]`,
      );
    }
    if (best) {
      for (const p of ours) {
        const ratio = (r.medians[p] as number) / (r.medians[best] as number);
        console.log(`  ${`${p} / best peer (${best})`.padEnd(60)} ${ratio.toFixed(2)}x`);
      }
    }
    for (const note of [...new Set(r.notes)]) console.log(`  note: ${note}`);
  }
}

/** The issue's targets, computed from the medians (reported, never asserted). */
function targets(): { target: string; value: string; met: boolean | null }[] {
  const find = (prefix: string) => rows.find((r) => r.scenario.startsWith(prefix));
  const get = (prefix: string, peer: string) => find(prefix)?.medians[peer];
  const out: { target: string; value: string; met: boolean | null }[] = [];
  const ratio = (label: string, a: number | undefined, b: number | undefined, atLeast: number) => {
    if (a === undefined || b === undefined) return out.push({ target: label, value: 'not measured', met: null });
    out.push({ target: label, value: `${(a / b).toFixed(2)}x (${fmt(a)} / ${fmt(b)})`, met: a / b >= atLeast });
  };
  const limit = (label: string, a: number | undefined, bound: number, better: Direction) => {
    if (a === undefined) return out.push({ target: label, value: 'not measured', met: null });
    out.push({ target: label, value: fmt(a), met: better === 'higher' ? a >= bound : a <= bound });
  };
  const PG = 'underway (PostgreSQL)';
  const SQ = 'underway (SQLite)';
  for (const c of [10, 50]) {
    // Each side at its best: its fastest documented settings where it has some, else its defaults.
    const best = (peer: string) => {
      const rates = ['defaults', 'fastest']
        .map((mode) => get(`drain ${JOBS.toLocaleString('en')} no-op jobs, c${c}, ${mode}`, peer))
        .filter((rate): rate is number => rate !== undefined);
      return rates.length > 0 ? Math.max(...rates) : undefined;
    };
    ratio(`PG drain c${c} >= 1.0x graphile-worker batched`, best(PG), best('graphile-worker'), 1);
    ratio(`SQLite drain c${c} >= 2x BullMQ (Redis)`, best(SQ), best('BullMQ (Redis)'), 2);
  }
  ratio(
    'PG one-call enqueue >= 2x graphile-worker',
    get('enqueue, one call', PG),
    get('enqueue, one call', 'graphile-worker'),
    2,
  );
  limit('SQLite one-call enqueue >= 10,000/s', get('enqueue, one call', SQ), 10_000, 'higher');
  limit('PG pick-up p50 <= 1 ms', get('pick-up latency p50', PG), 1, 'lower');
  limit('PG pick-up p99 <= 3 ms', get('pick-up latency p99', PG), 3, 'lower');
  limit('progress >= 10,000 updates/s from one job', get('progress updates/s', PG), 10_000, 'higher');
  limit('progress <= 4 DB writes/s for that job', get('progress DB writes/s', PG), 4, 'lower');
  limit('ctx.progress -> SSE client p95 <= 2 ms', get('progress → live listener p95', PG), 2, 'lower');
  const rss = find('worker process peak RSS');
  if (rss) {
    const peers = Object.entries(rss.medians).filter(([p]) => !p.startsWith('underway'));
    const lightest = Math.min(...peers.map(([, v]) => v));
    for (const ours of [PG, SQ])
      limit(`worker RSS (${ours}) <= lightest peer (${fmt(lightest)} MiB)`, rss.medians[ours], lightest, 'lower');
  }
  return out;
}

// The children run underway from dist/ (lib/child.ts): built from this checkout first.
if (UNDERWAY_FROM === 'dist') {
  const build = spawnSync('npm', ['run', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (build.status !== 0) throw new Error('npm run build failed: the bench runs underway from dist/');
}
const services = await probe();
const leftovers = await dropLeftoverDatabases().catch(() => 0);
await deleteRedisKeys().catch(() => 0);
const loadBefore = loadAverage();
log(
  `node ${process.version}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), PostgreSQL ${services.postgres ?? 'unreachable'}, Redis ${services.redis ?? 'unreachable'}, load ${loadBefore.join(' ')}${leftovers ? `, dropped ${leftovers} leftover databases` : ''}`,
);
if (!services.postgres)
  throw new Error('The bench needs PostgreSQL (see test/helpers/postgres.ts for how to start it).');
const started = Date.now();
await queueScenarios();
await progressScenarios();
await sandboxScenario();
await httpScenario();
const loadAfter = loadAverage();
printTable();
for (const line of httpSummary(httpSets, reps)) console.log(line);
const goals = targets();
console.log('\nTargets (from the issue; reported, not asserted):');
for (const goal of goals) {
  console.log(`  ${goal.met === null ? '?' : goal.met ? 'met   ' : 'MISSED'} ${goal.target.padEnd(58)} ${goal.value}`);
}
console.log(
  `\nload average before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')}; ${Math.round((Date.now() - started) / 1000)} s`,
);
const results = {
  at: new Date().toISOString(),
  node: process.version,
  cpus: availableParallelism(),
  postgres: services.postgres,
  redis: services.redis,
  reps,
  jobs: JOBS,
  underwayFrom: UNDERWAY_FROM,
  load: { before: loadBefore, after: loadAfter },
  targets: goals,
  rows,
};
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = join(dir, `${results.at.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
// Formatted as the repository's formatter wants it, so `npm run lint` passes with results kept.
spawnSync(
  process.execPath,
  [fileURLToPath(new URL('../node_modules/@biomejs/biome/bin/biome', import.meta.url)), 'format', '--write', file],
  { stdio: 'ignore' },
);
console.log(`results: ${file}`);
process.exit(0);
