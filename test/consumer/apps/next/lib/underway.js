// One underway (and one worker) per server process, kept on globalThis: Next.js may evaluate this
// module more than once (route bundles, instrumentation), and nothing here may run during `next build`.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createWorker } from 'underway';
import { createUnderway } from 'underway/http';
import { sqliteStore } from 'underway/sqlite';
import { tasks } from '../tasks.js';

const dataDir = () => process.env.APP_DATA_DIR ?? join(process.cwd(), 'data');

/** The host's own login: a `session=<user>` cookie; alice is an admin. */
function sessionUser(cookieHeader) {
  const session = /(?:^|;\s*)session=([^;]+)/.exec(cookieHeader ?? '')?.[1];
  return session ? { id: session, roles: session === 'alice' ? ['admin'] : [] } : null;
}

/** @returns {import('underway/http').Underway} */
export function getUnderway() {
  if (!globalThis.__consumerUnderway) {
    mkdirSync(dataDir(), { recursive: true });
    const store = sqliteStore({ file: join(dataDir(), 'underway.db') });
    globalThis.__consumerUnderway = createUnderway({
      store,
      tasks,
      auth: { authenticate: (request) => sessionUser(request.headers.get('cookie')) },
    });
  }
  return globalThis.__consumerUnderway;
}

/** Starts this process's worker once; the marker file lets the test see which processes started one. */
export function startWorker() {
  if (globalThis.__consumerWorker) return;
  const underway = getUnderway();
  globalThis.__consumerWorker = createWorker({ store: underway.store, tasks }).start();
  appendFileSync(join(dataDir(), 'worker-started.log'), `${process.pid} ${process.argv.slice(1).join(' ')}\n`);
}
