// A TypeScript app compiled by `tsc` (strict, exactOptionalPropertyTypes, skipLibCheck off) and run by `node`.
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createWorker } from 'underway';
import { createUnderway, type User } from 'underway/http';
import { sqliteStore } from 'underway/sqlite';
import { count, tasks } from './tasks.js';

const dataDir = process.env.APP_DATA_DIR ?? join(import.meta.dirname, 'data');
mkdirSync(dataDir, { recursive: true });

function sessionUser(cookieHeader: string | null): User | null {
  const session = /(?:^|;\s*)session=([^;]+)/.exec(cookieHeader ?? '')?.[1];
  return session ? { id: session, roles: session === 'alice' ? ['admin'] : [] } : null;
}

const store = sqliteStore({ file: join(dataDir, 'underway.db') });
const underway = createUnderway({
  store,
  tasks,
  auth: { authenticate: (request: Request) => sessionUser(request.headers.get('cookie')) },
});
const worker = createWorker({ store: underway.store, tasks }).start();

// Typed start: the params are checked against the task's schema at compile time.
const { job } = await underway.queue.start(count, { n: 3 });
const id: string = job.id;
console.log(`started at boot ${id}`);

/** Never called: it only has to compile, and fail to compile if params were `any`. */
export function typeChecks(): void {
  // @ts-expect-error n is a number, so a string must not compile
  void underway.queue.start(count, { n: 'three' });
}

const server = createServer((req, res) => {
  if (req.url === '/hello' || req.url === '/jobs') {
    res.end(`hello from typescript at ${req.url}`);
    return;
  }
  underway.nodeHandler(req, res, () => {
    res.statusCode = 404;
    res.end('not found (typescript host)');
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});

process.once('SIGTERM', async () => {
  await underway.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await worker.stop();
  await store.close();
  console.log('stopped');
});
