/**
 * Webhooks of a fleet, as the README sets one up on many machines: `underway serve --no-worker`
 * and separate `underway worker` processes on one PostgreSQL, with a receiver that is down at
 * first, then up, then dies mid-request, then comes back; and a worker SIGKILLed under a running
 * job, which another worker then fails STALLED. Every ended job is delivered at least once, each
 * delivery verified by the `standardwebhooks` package; none is lost.
 *
 * The CLI runs from dist/: `npm run build` first.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/job.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import type { Store } from '../src/store/store.ts';
import type { StoredWebhookDelivery } from '../src/store/webhook-deliveries.ts';
import { exited, killLeftovers, outputOf, startCli, waitForOutput } from './helpers/cli.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { collectEvents, waitForStatus } from './helpers/wait.ts';
import { WebhookReceiver } from './helpers/webhook-receiver.ts';

const CONFIG = fileURLToPath(new URL('./fixtures/webhooks/underway.config.ts', import.meta.url));
const TOKEN = 'fleet-admin-token-0123456789abcdef';
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

const db = await createTestDatabase();
afterAll(() => db.drop());
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  expect(await killLeftovers()).toBe(0);
});

/** Resolves once `check` holds, looking again whenever the store hears an event or after 50 ms. */
async function until<T>(store: Store, check: () => Promise<T | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen in ${timeoutMs} ms`);
    await new Promise<void>((resolve) => {
      const off = store.events.listen(() => done());
      const timer = setTimeout(() => done(), 50);
      function done() {
        off();
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

async function stop(child: ChildProcess): Promise<number | null> {
  child.kill('SIGTERM');
  return exited(child);
}

describe('webhooks of a fleet: serve --no-worker and worker processes on PostgreSQL', () => {
  it('delivers every ended job at least once through receiver outages and a worker SIGKILLed mid-job', async () => {
    const schema = db.schema();
    const hook = new WebhookReceiver(SECRET);
    await hook.reserve(); // its port refuses connections until it listens
    cleanups.push(() => hook.close());
    const env = {
      TEST_PG_URL: db.url,
      TEST_PG_SCHEMA: schema,
      TEST_HOOK_URL: hook.url,
      TEST_HOOK_SECRET: SECRET,
      TEST_ADMIN_TOKEN: TOKEN,
      TEST_LEASE_MS: '1500',
    };
    const store = postgresStore({ connectionString: db.url, schema });
    await store.migrate();
    cleanups.push(() => store.close());
    const server = await startCli(['-c', CONFIG, 'serve', '--no-worker', '--port', '0'], env, 'underway is running at');
    const base = ((await waitForOutput(server, /underway is running at (http:\/\/\S+)/)) as RegExpExecArray)[1];
    const first = await startCli(['-c', CONFIG, 'worker'], env, 'underway worker running');

    const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
      const response = await fetch(`${base}${path}`, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
      // biome-ignore lint/suspicious/noExplicitAny: answers the test then asserts on.
      return response.json() as Promise<any>;
    };
    const start = async (task: string, params: unknown): Promise<string> =>
      (await api('/api/jobs', { method: 'POST', body: { task, params } })).id;
    const deliveries = async (): Promise<StoredWebhookDelivery[]> =>
      (await api('/api/webhooks/deliveries?limit=200')).deliveries;
    const expected = new Map<string, Job>(); // webhook-id → the job as it ended
    const ended = async (ids: string[]) => {
      for (const id of ids) {
        const job = await waitForStatus(store, id, ['succeeded', 'failed', 'cancelled']);
        expected.set(`${job.id}.${job.status}`, job);
      }
    };

    // 1. The receiver is down: jobs end, their deliveries are tried and refused, and kept.
    const batch1 = [await start('ok', { n: 1 }), await start('ok', { n: 2 }), await start('boom', { n: 3 })];
    await ended(batch1);
    await until(
      store,
      async () => {
        const log = await deliveries();
        const refused = log.filter((d) => d.attempts >= 1 && d.lastError?.includes('ECONNREFUSED'));
        return refused.length === batch1.length && refused;
      },
      'every first delivery refused',
    );

    // 2. The receiver comes up: the retries get through.
    await hook.listen();
    const phase1 = [...expected.keys()];
    await hook.until((r) => phase1.every((id) => r.accepted().has(id)));

    // 3. It dies mid-request: requests arrive and are cut unanswered.
    hook.hold();
    const batch2 = [await start('ok', { n: 4 }), await start('boom', { n: 5 }), await start('ok', { n: 6 })];
    await ended(batch2);
    await hook.until((r) => r.received.some((d) => d.status === null));
    await hook.close();

    // 4. Meanwhile a worker is SIGKILLed under a running job; another one reaps it, STALLED.
    const hanging = collectEvents(store, (e) => e.task === 'hang' && e.type === 'progress');
    const hung = await start('hang', {});
    await hanging;
    first.kill('SIGKILL');
    await exited(first);
    const second = await startCli(['-c', CONFIG, 'worker'], env, 'underway worker running');
    await ended([hung]);
    expect(expected.get(`${hung}.failed`)?.error?.code).toBe('STALLED');
    const batch3 = [await start('ok', { n: 7 })];
    await ended(batch3);

    // 5. The receiver is back: everything that ended is delivered, verified, none lost.
    await hook.listen();
    const all = [...expected.keys()];
    expect(all).toHaveLength(batch1.length + batch2.length + 1 + batch3.length);
    await hook.until((r) => all.every((id) => r.accepted().has(id)));
    for (const [id, job] of expected) {
      const got = hook.received.filter((r) => r.id === id && r.status === 200);
      expect(got.length, id).toBeGreaterThanOrEqual(1);
      for (const delivery of got) {
        expect(delivery.refused).toBeNull();
        expect(delivery.payload).toMatchObject({
          id,
          type: `job.${job.status}`,
          timestamp: job.finishedAt,
          data: { job: { id: job.id, status: job.status } },
        });
      }
    }
    // Nothing else was sent, and every refusal was a transport error, never a bad signature.
    expect(new Set(hook.received.map((r) => r.id))).toEqual(new Set(all));
    expect(hook.received.filter((r) => r.refused !== null)).toEqual([]);
    const log = await until(
      store,
      async () => {
        const rows = await deliveries();
        return rows.length === all.length && rows.every((d) => d.state === 'delivered') && rows;
      },
      'every delivery recorded as delivered',
    );
    expect(new Set(log.map((d) => d.id))).toEqual(new Set(all));
    // What was cut mid-request came again, and got through.
    const cut = hook.received.filter((r) => r.status === null).map((r) => r.id);
    expect(cut.length).toBeGreaterThanOrEqual(1);
    for (const id of cut) expect(hook.accepted().has(id), id).toBe(true);

    expect(await stop(second), outputOf(second)).toBe(0);
    expect(await stop(server), outputOf(server)).toBe(0);
  }, 180_000); // Worker processes, receiver outages and a SIGKILL: about 28 s at load 20, more when busier.
});
