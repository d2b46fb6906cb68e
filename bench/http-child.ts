/**
 * The server of the HTTP-start scenario (started by bench/run.ts, one per measurement):
 *
 *   node --import tsx bench/http-child.ts '{"server":"underway","store":"sqlite","dir":"/tmp/…"}'
 *
 * Serves either underway's API (bench/http/underway-server.ts) or the floor, a bare Hono handler
 * inserting one row (bench/http/floor-server.ts), on a free loopback port, and prints
 * `ready <url> <settings>`. The load comes from the parent, so it never shares this event loop.
 * On SIGTERM prints its result (rows stored, CPU time since ready, peak RSS) and exits.
 */
import { startFloorServer } from './http/floor-server.ts';
import type { HttpChildInput, HttpChildResult } from './http/types.ts';
import { startUnderwayServer } from './http/underway-server.ts';
import { reportResult } from './lib/child.ts';
import { rssSampler } from './lib/stats.ts';

const input = JSON.parse(process.argv[2] as string) as HttpChildInput;
const rss = rssSampler();
const server = input.server === 'underway' ? await startUnderwayServer(input) : await startFloorServer(input);
const cpuAtReady = process.cpuUsage();
process.stdout.write(`ready ${server.url} ${server.settings}\n`);
process.once('SIGTERM', () => {
  void (async () => {
    const cpu = process.cpuUsage(cpuAtReady);
    const rssMiB = rss.stop();
    const rows = await server.rows();
    await server.close();
    reportResult({ rows, cpuMs: (cpu.user + cpu.system) / 1000, rssMiB } satisfies HttpChildResult);
    process.exit(0);
  })();
});
