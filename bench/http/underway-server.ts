import { join } from 'node:path';
import { z } from 'zod';
import { defineTask } from '../../src/core/task.ts';
import { createUnderway, serveHttp } from '../../src/http/index.ts';
import { createLogger } from '../../src/logger.ts';
import { postgresStore } from '../../src/store/postgres/index.ts';
import { sqliteStore } from '../../src/store/sqlite/index.ts';
import { BENCH_TOKEN, type BenchServer, type HttpChildInput } from './types.ts';

/**
 * underway's HTTP API as `underway serve` runs it (mounted at ``, so `POST /api/jobs`), with one
 * no-op task and no worker: only the start is measured. Auth is a static bearer token (what a
 * program calling the API uses; it also skips the CSRF check, which is for browsers). The start
 * rate limit (60 a minute per user by default) is off: it exists to stop a runaway script, and
 * load from one user is exactly that. Logs at `error`, as in every other scenario.
 */
export async function startUnderwayServer(input: HttpChildInput): Promise<BenchServer> {
  const quiet = createLogger({ level: 'error' });
  const store =
    input.store === 'pg'
      ? postgresStore({ connectionString: input.pgUrl, schema: 'underway' })
      : sqliteStore({ file: join(input.dir as string, 'underway.db') });
  await store.migrate();
  // A server hears job events (its SSE streams) from the start; PostgreSQL's come through LISTEN.
  if (input.store === 'pg') await (store as ReturnType<typeof postgresStore>).listening();
  const noop = defineTask({ name: 'noop', params: z.object({}), run: async () => {} });
  const underway = createUnderway({
    mountPath: '',
    store,
    tasks: [noop],
    logger: quiet,
    rateLimit: false,
    auth: { tokens: [{ token: BENCH_TOKEN, id: 'bench', roles: ['admin'] }] },
  });
  const running = await serveHttp(underway, { port: 0, host: '127.0.0.1', logger: quiet });
  const durability = input.store === 'pg' ? 'pool 10, synchronous_commit on' : 'WAL, synchronous=NORMAL';
  return {
    url: running.url,
    settings: `createUnderway + serveHttp, bearer token, rateLimit off, log level error, no worker; ${durability}`,
    rows: async () => (await store.counts()).reduce((sum, c) => sum + c.count, 0),
    close: async () => {
      await running.close();
      await underway.close();
      await store.close();
    },
  };
}
