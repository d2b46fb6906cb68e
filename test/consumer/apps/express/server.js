// An Express 5 app with its body parsers and its own session mounted before underway, as apps have them.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import { createWorker, sandboxRunner } from 'underway';
import { createUnderway } from 'underway/http';
import { sqliteStore } from 'underway/sqlite';
import { tasks } from './tasks.js';

const dataDir = process.env.APP_DATA_DIR ?? join(import.meta.dirname, 'data');
mkdirSync(dataDir, { recursive: true });

const store = sqliteStore({ file: join(dataDir, 'underway.db') });
const underway = createUnderway({
  store,
  tasks,
  // host.node is Express's req: the session middleware below has set req.user.
  auth: { authenticate: (_request, host) => host.node?.user ?? null },
});
const worker = createWorker({
  store: underway.store,
  tasks,
  runner: sandboxRunner({ module: new URL('./tasks.js', import.meta.url) }),
}).start();

const app = express();
app.use(express.json());
app.use(express.urlencoded({ extended: false }));
// A stand-in for express-session: the cookie `session=alice` signs alice in, as an admin.
app.use((req, _res, next) => {
  const session = /(?:^|;\s*)session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  if (session) req.user = { id: session, roles: session === 'alice' ? ['admin'] : [] };
  next();
});
app.get(['/hello', '/jobs'], (req, res) => {
  res.send(`hello from express at ${req.path}`);
});
app.use(underway.nodeHandler);
app.use((_req, res) => {
  res.status(404).send('not found (express host)');
});

const server = app.listen(0, '127.0.0.1', () => {
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
