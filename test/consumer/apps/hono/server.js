// A Hono app on @hono/node-server, with underway as a middleware that passes other paths on.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { createWorker } from 'underway';
import { createUnderway } from 'underway/http';
import { sqliteStore } from 'underway/sqlite';
import { tasks } from './tasks.js';

const dataDir = process.env.APP_DATA_DIR ?? join(import.meta.dirname, 'data');
mkdirSync(dataDir, { recursive: true });

const store = sqliteStore({ file: join(dataDir, 'underway.db') });
const underway = createUnderway({
  store,
  tasks,
  // host.hono is Hono's Context.
  auth: {
    authenticate: (_request, host) => {
      const session = host.hono ? getCookie(host.hono, 'session') : undefined;
      return session ? { id: session, roles: session === 'alice' ? ['admin'] : [] } : null;
    },
  },
});
const worker = createWorker({ store: underway.store, tasks }).start();

const app = new Hono();
app.use(underway.hono);
app.get('/hello', (c) => c.text('hello from hono at /hello'));
app.get('/jobs', (c) => c.text('hello from hono at /jobs'));

const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  console.log(`listening http://127.0.0.1:${info.port}`);
});

process.once('SIGTERM', async () => {
  await underway.close();
  server.closeAllConnections?.();
  await new Promise((resolve) => server.close(resolve));
  await worker.stop();
  await store.close();
  console.log('stopped');
});
