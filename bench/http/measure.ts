import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, startChild, waitForLine } from '../lib/child.ts';
import { createDatabase } from '../lib/env.ts';
import { type LoadResult, postStarts } from './load.ts';
import type { HttpChildInput, HttpChildResult, HttpServerKind, HttpStoreKind } from './types.ts';

export interface HttpMeasurement extends LoadResult {
  settings: string;
  /** Rows in the store afterwards, against the 2xx answers of warm-up and timed run together. */
  rows: number;
  answered: number;
  /** Server CPU ms per 2xx answer, warm-up included: robust to a busy machine, unlike requests/s. */
  cpuMsPerStart: number;
  serverRssMiB: number;
}

/**
 * One HTTP-start measurement: a fresh database (or SQLite folder), a fresh server process, a
 * warm-up at the same connection count (excluded, so the JIT and the pools are warm), then the
 * timed run. Storage and process are removed afterwards, whatever happens.
 */
export async function measureHttpStart(
  server: HttpServerKind,
  store: HttpStoreKind,
  connections: number,
  seconds: number,
  warmupSeconds: number,
): Promise<HttpMeasurement> {
  const db = store === 'pg' ? await createDatabase() : null;
  const dir = store === 'sqlite' ? mkdtempSync(join(tmpdir(), 'underway-bench-http-')) : undefined;
  const input: HttpChildInput = { server, store, pgUrl: db?.url, dir };
  const child = startChild('http-child.ts', input);
  try {
    const ready = (await waitForLine(child, 'ready ', 30_000)).slice('ready '.length).trim();
    const at = ready.indexOf(' ');
    const url = ready.slice(0, at);
    const warm = await postStarts(url, connections, warmupSeconds);
    const timed = await postStarts(url, connections, seconds);
    const done = collect<HttpChildResult>(child, 'http-child.ts', 20_000);
    child.kill('SIGTERM');
    const { rows, cpuMs, rssMiB } = await done;
    return {
      ...timed,
      // The warm-up's failures count too: a server that refused them is not measured as it runs.
      non2xx: timed.non2xx + warm.non2xx,
      errors: timed.errors + warm.errors,
      settings: ready.slice(at + 1),
      rows,
      answered: warm.ok + timed.ok,
      cpuMsPerStart: cpuMs / Math.max(1, warm.ok + timed.ok),
      serverRssMiB: rssMiB,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
