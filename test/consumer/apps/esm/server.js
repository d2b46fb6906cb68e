// A plain JavaScript ESM app on node:http, run with `node server.js`: no loader, no build step.
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createWorker, sandboxRunner } from 'underway';
import { createUnderway } from 'underway/http';
import { sqliteStore } from 'underway/sqlite';
import { tasks } from './tasks.js';

const dataDir = process.env.APP_DATA_DIR ?? join(import.meta.dirname, 'data');
mkdirSync(dataDir, { recursive: true });

/** The host's own login: a `session=<user>` cookie; alice is an admin. */
function sessionUser(cookieHeader) {
  const session = /(?:^|;\s*)session=([^;]+)/.exec(cookieHeader ?? '')?.[1];
  return session ? { id: session, roles: session === 'alice' ? ['admin'] : [] } : null;
}

const store = sqliteStore({ file: join(dataDir, 'underway.db') });
const underway = createUnderway({
  store,
  tasks,
  auth: { authenticate: (request) => sessionUser(request.headers.get('cookie')) },
});
const worker = createWorker({
  store: underway.store,
  tasks,
  runner: sandboxRunner({ module: new URL('./tasks.js', import.meta.url) }),
}).start();

const server = createServer((req, res) => {
  if (req.url === '/hello' || req.url === '/jobs') {
    res.end(`hello from node:http at ${req.url}`);
    return;
  }
  underway.nodeHandler(req, res, () => {
    res.statusCode = 404;
    res.end('not found (node:http host)');
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});

process.once('SIGTERM', async () => {
  await underway.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await worker.stop();
  await store.close();
  console.log('stopped');
});
