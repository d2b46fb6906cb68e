// A Fastify 5 app with underway registered as a plugin beside its own routes.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { createWorker } from 'underway';
import { underwayFastify } from 'underway/fastify';
import { createUnderway } from 'underway/http';
import { sqliteStore } from 'underway/sqlite';
import { tasks } from './tasks.js';

const dataDir = process.env.APP_DATA_DIR ?? join(import.meta.dirname, 'data');
mkdirSync(dataDir, { recursive: true });

function sessionUser(cookieHeader) {
  const session = /(?:^|;\s*)session=([^;]+)/.exec(cookieHeader ?? '')?.[1];
  return session ? { id: session, roles: session === 'alice' ? ['admin'] : [] } : null;
}

const store = sqliteStore({ file: join(dataDir, 'underway.db') });
const underway = createUnderway({
  store,
  tasks,
  // host.fastify is Fastify's request.
  auth: { authenticate: (_request, host) => sessionUser(host.fastify?.headers.cookie) },
});
const worker = createWorker({ store: underway.store, tasks }).start();

const app = Fastify();
await app.register(underwayFastify, { underway });
app.get('/hello', async () => 'hello from fastify at /hello');
app.get('/jobs', async () => 'hello from fastify at /jobs');

const address = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`listening ${address}`);

process.once('SIGTERM', async () => {
  await underway.close();
  await app.close();
  await worker.stop();
  await store.close();
  console.log('stopped');
});
