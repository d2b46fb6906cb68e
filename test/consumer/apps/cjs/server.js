// A CommonJS app: require() of underway's ES modules (Node >= 20.19 loads ESM without top-level await).
const { mkdirSync } = require('node:fs');
const { createServer } = require('node:http');
const { join } = require('node:path');
const { createWorker } = require('underway');
const { createUnderway } = require('underway/http');
const { sqliteStore } = require('underway/sqlite');
const { tasks } = require('./tasks.js');

const dataDir = process.env.APP_DATA_DIR ?? join(__dirname, 'data');
mkdirSync(dataDir, { recursive: true });

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
const worker = createWorker({ store: underway.store, tasks }).start();

const server = createServer((req, res) => {
  if (req.url === '/hello' || req.url === '/jobs') {
    res.end(`hello from commonjs at ${req.url}`);
    return;
  }
  underway.nodeHandler(req, res, () => {
    res.statusCode = 404;
    res.end('not found (commonjs host)');
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
