/**
 * PostgreSQL restarted in the middle of a run: worker processes keep going (their queries fail
 * with STORE_UNREACHABLE and are tried again), every job finishes exactly once, and a live page
 * (an SSE stream of /api/events on a server sharing the database) hears events again after the
 * restart, through the store's listener reconnecting and catching up.
 *
 * Restarting the server cuts every other test's connections, so this runs only when
 * UNDERWAY_CHAOS_PG_RESTART=1 (opt-in everywhere: the machine's PostgreSQL is shared), as root with pg_ctlcluster.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createUnderway } from '../../src/http/index.ts';
import { postgresStore } from '../../src/store/postgres/index.ts';
import { listen, SseClient, silent, TOKENS } from '../helpers/http.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/temp.ts';
import {
  allFinished,
  childrenGone,
  FULL,
  fleetEnv,
  killAllWorkers,
  prepareEffects,
  readEffects,
  recordFigures,
  startWorker,
} from './fleet.ts';

const CLUSTER = ['15', 'main'];
function skipReason(): string | null {
  if (process.env.UNDERWAY_CHAOS_PG_RESTART !== '1') {
    return 'restarting PostgreSQL cuts other tests’ connections: set UNDERWAY_CHAOS_PG_RESTART=1 to allow it';
  }
  if (process.getuid?.() !== 0) return 'pg_ctlcluster restart needs root';
  if (!existsSync(`/etc/postgresql/${CLUSTER.join('/')}`)) return `no cluster /etc/postgresql/${CLUSTER.join('/')}`;
  return null;
}
const reason = skipReason();

const pgctl = (action: string) =>
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', ...CLUSTER, action], { stdio: 'pipe', timeout: 60_000 });

/** Waits (bounded) until the server accepts connections; starts it if it is down. */
function ensurePostgresUp(): void {
  const ready = () => {
    try {
      execFileSync('pg_isready', ['-h', '127.0.0.1', '-t', '1'], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 30 && !ready(); i++) {
    if (i === 0) {
      try {
        pgctl('start');
      } catch {
        // Already starting, or started by someone else: pg_isready decides.
      }
    }
    execFileSync('sleep', ['1']);
  }
  if (!ready())
    throw new Error(
      'PostgreSQL did not come back: start it with pg_ctlcluster --skip-systemctl-redirect 15 main start',
    );
}

const JOBS = FULL ? 400 : 100;
// Made in the test: a skipped file runs no afterAll, and a folder made here would be left behind.
let dir: ReturnType<typeof tempDir> | null = null;
let db: TestDatabase | null = null;
afterAll(async () => {
  await killAllWorkers();
  if (!reason) ensurePostgresUp();
  await db?.drop();
  dir?.cleanup();
});

describe.skipIf(reason !== null)(`PostgreSQL restart mid-run${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it(`${JOBS} jobs, 2 workers, the server restarted once: all finish once, live events resume`, {
    timeout: 240_000,
  }, async () => {
    const folder = tempDir('underway-chaos-pgr-');
    dir = folder;
    db = await createTestDatabase();
    const schema = db.schema();
    const data = folder.file('data');
    mkdirSync(data, { recursive: true });
    const effects = prepareEffects(`${data}/effects.db`);
    const store = postgresStore({ connectionString: db.url, schema, poolSize: 4 });
    const states: string[] = [];
    const watcher = postgresStore({
      connectionString: db.url,
      schema,
      poolSize: 2,
      onListenerState: (state) => states.push(state),
    });
    const underway = createUnderway({
      mountPath: '',
      store: watcher,
      tasks: [],
      logger: silent,
      auth: { tokens: [{ token: TOKENS.admin, id: 'root', roles: ['admin'] }] },
    });
    const server = await listen(underway);
    let page: SseClient | null = null;
    try {
      await store.migrate();
      await watcher.listening();
      const env = fleetEnv({ url: db.url, schema, data, leaseMs: 2000 });
      const workers = [startWorker(env), startWorker(env)];
      await Promise.all(workers.map((w) => w.ready));
      page = new SseClient(`${server.url}/api/events`, { authorization: `Bearer ${TOKENS.admin}` });
      await page.frame('snapshot');

      const ids: string[] = [];
      for (let i = 0; i < JOBS; i++) {
        const ms = 100 + Math.floor(Math.random() * 400);
        ids.push(
          (await store.enqueue({ task: 'chaos.effect', params: { effects, ms, steps: 4 }, maxAttempts: 100 })).job.id,
        );
      }
      // A third of the jobs done, then the restart.
      await page.until(
        (c) =>
          c.frames.filter((f) => f.event === 'status' && (f.data as { status: string }).status === 'succeeded')
            .length >=
          JOBS / 3,
        120_000,
      );
      const restartStarted = performance.now();
      pgctl('restart');
      ensurePostgresUp();
      const restartSeconds = (performance.now() - restartStarted) / 1000;
      const framesAtRestart = page.frames.length;

      await allFinished(store, JOBS, 180_000);
      // The page that was open all along hears the rest, after the listener came back.
      const heardAfter = await page.until((c) => {
        const after = c.frames
          .slice(framesAtRestart)
          .filter((f) => f.event === 'status' && (f.data as { status: string }).status === 'succeeded');
        return after.length > 0 ? after.length : undefined;
      }, 30_000);
      // A page opened now works too.
      const fresh = new SseClient(`${server.url}/api/events`, { authorization: `Bearer ${TOKENS.admin}` });
      await fresh.frame('snapshot');
      fresh.close();

      for (const w of workers) w.child.kill('SIGTERM');
      const exits = await Promise.all(workers.map(async (w) => (await w.exited).code));
      const jobs = await Promise.all(ids.map((id) => store.get(id)));
      const done = readEffects(effects).filter((r) => r.kind === 'done');
      const starts = readEffects(effects).filter((r) => r.kind === 'start');
      const committed = jobs.map((j) => done.filter((r) => r.job === j?.id && r.attempt === j?.attempt).length);
      recordFigures('PostgreSQL restart', {
        jobs: JOBS,
        restartSeconds: Number(restartSeconds.toFixed(1)),
        succeeded: jobs.filter((j) => j?.status === 'succeeded').length,
        stuck: jobs.filter((j) => j?.status === 'queued' || j?.status === 'running').length,
        reruns: starts.length - JOBS,
        jobsDoneTwice: done.length - new Set(done.map((r) => r.job)).size,
        pageEventsAfterRestart: heardAfter,
        listener: states.join('→'),
      });
      expect(jobs.filter((j) => j?.status !== 'succeeded').map((j) => [j?.id, j?.status, j?.error?.message])).toEqual(
        [],
      );
      expect(committed.every((n) => n === 1)).toBe(true);
      expect(states).toContain('lost');
      expect(states.at(-1)).toBe('listening');
      expect(exits).toEqual([0, 0]);
      expect(await childrenGone(data)).toEqual([]);
    } finally {
      page?.close();
      await server.close();
      await underway.close();
      await watcher.close();
      await store.close();
    }
  });
});
