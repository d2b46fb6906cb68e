import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Job } from '../src/core/job.ts';
import { secret } from '../src/core/secrets.ts';
import { defineTask } from '../src/core/task.ts';
import { createLogger } from '../src/logger.ts';
import { createQueue } from '../src/queue/queue.ts';
import { Schedules } from '../src/schedule/schedules.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import { FIXTURE_CONFIG, runCli } from './helpers/cli.ts';
import { json, setup, type TestEnv } from './helpers/http.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';

const dir = tempDir('underway-schedules-');
const database = createTestDatabase();
afterAll(async () => {
  dir.cleanup();
  await (await database).drop();
});
const silent = createLogger({ level: 'silent' });

const open: { stores: Store[]; workers: Worker[]; envs: TestEnv[] } = { stores: [], workers: [], envs: [] };
afterEach(async () => {
  await Promise.all(open.workers.splice(0).map((worker) => worker.stop({ graceMs: 0 })));
  await Promise.all(open.stores.splice(0).map((store) => store.close()));
  await Promise.all(open.envs.splice(0).map((env) => env.close()));
});

const tick = defineTask({
  name: 'tick',
  params: z.object({ label: z.string().default('tick') }),
  async run({ label }) {
    return label;
  },
});
const withSecret = defineTask({
  name: 'with-secret',
  params: z.object({ token: secret(z.string()).optional(), region: z.string().default('eu') }),
  async run() {},
});
const tasks = [tick, withSecret];

/** Two stores over one database: as two processes sharing it. */
const BACKENDS: { name: string; pair: () => Promise<[Store, Store]> }[] = [
  {
    name: 'sqlite',
    pair: async () => {
      const file = dir.file(`s${Math.random().toString(36).slice(2)}.db`);
      return [sqliteStore({ file }), sqliteStore({ file })];
    },
  },
  {
    name: 'postgres',
    pair: async () => {
      const db = await database;
      const schema = db.schema();
      const first = postgresStore({ connectionString: db.url, schema, poolSize: 4 });
      await first.migrate();
      return [first, postgresStore({ connectionString: db.url, schema, poolSize: 4 })];
    },
  },
];

/** Resolves with the first `count` jobs of the task that succeeded, heard through the store. */
function succeeded(store: Store, task: string, count: number): Promise<Job[]> {
  return new Promise((resolve) => {
    const seen = new Set<string>();
    const off = store.events.listen((event) => {
      if (event.type !== 'status' || event.task !== task || event.status !== 'succeeded') return;
      seen.add(event.jobId);
      if (seen.size < count) return;
      off();
      void store.list({ task, status: 'succeeded', limit: 200 }).then((page) => resolve(page.jobs));
    });
  });
}

describe.each(BACKENDS)('recurring schedules on $name', ({ pair }) => {
  it('two workers fire an every-second schedule exactly once per tick, the tick in each job', async () => {
    const [a, b] = await pair();
    open.stores.push(a, b);
    const schedules = [{ task: 'tick', name: 'heartbeat', everySeconds: 1, params: { label: 'beat' } }];
    const done = succeeded(a, 'tick', 3);
    for (const store of [a, b]) {
      open.workers.push(createWorker({ store, tasks, logger: silent, pollMs: 100, schedules }).start());
    }
    await done;
    await Promise.all(open.workers.splice(0).map((worker) => worker.stop({ graceMs: 0 })));
    const jobs = (await a.list({ task: 'tick', limit: 200 })).jobs.reverse();
    const ticks = jobs.map((job) => /^schedule:heartbeat:(.+)$/.exec(job.dedupeKey ?? '')?.[1]);
    // One job per tick, consecutive seconds, none twice.
    expect(new Set(ticks).size).toBe(ticks.length);
    ticks.forEach((at, i) => {
      expect(Date.parse(at as string) % 1000).toBe(0);
      if (i > 0) expect(Date.parse(at as string) - Date.parse(ticks[i - 1] as string)).toBe(1000);
    });
    expect(jobs.every((job) => job.params && (job.params as { label: string }).label === 'beat')).toBe(true);
    const [saved] = await a.listSchedules();
    expect(saved).toMatchObject({ name: 'heartbeat', source: 'config', lastTickAt: ticks.at(-1) });
  });

  it('a task can schedule itself; a bad definition stops createWorker with its reason', async () => {
    const [store, other] = await pair();
    open.stores.push(store, other);
    const nightly = defineTask({ ...tick, name: 'nightly', schedule: { cron: '0 3 * * *', timezone: 'Europe/Paris' } });
    open.workers.push(createWorker({ store, tasks: [nightly], logger: silent }).start());
    const schedules = new Schedules(createQueue({ store, tasks: [nightly] }));
    await expect.poll(async () => (await schedules.list()).length).toBe(1);
    const [view] = await schedules.list(2);
    expect(view).toMatchObject({ name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', source: 'config' });
    expect(view?.nextRuns).toHaveLength(2);
    expect(new Date(view?.nextRuns[0] as string).getUTCHours()).toBeOneOf([1, 2]); // 03:00 Paris
    expect(() =>
      createWorker({ store: other, tasks, logger: silent, schedules: [{ task: 'tick', cron: '0 25 * * *' }] }),
    ).toThrow(/Schedule tick: "0 25 \* \* \*" is not a cron expression/);
    expect(() =>
      createWorker({ store: other, tasks, logger: silent, schedules: [{ task: 'nope', everySeconds: 5 }] }),
    ).toThrow(/Unknown task "nope"/);
  });
});

describe('schedules at run time', () => {
  it('refuses a schedule whose params hold a secret (it would be kept in clear), and params the schema refuses', async () => {
    const store = sqliteStore({ file: dir.file('secret.db') });
    open.stores.push(store);
    const schedules = new Schedules(createQueue({ store, tasks }));
    await expect(
      schedules.save({ task: 'with-secret', everySeconds: 60, params: { token: 'hunter2' } }),
    ).rejects.toThrow(/hold a secret field of with-secret/);
    await expect(schedules.save({ task: 'tick', everySeconds: 60, params: { label: 5 } })).rejects.toThrow(
      /Schedule tick: /,
    );
    expect(await schedules.save({ task: 'with-secret', everySeconds: 60, params: { region: 'us' } })).toMatchObject({
      name: 'with-secret',
      params: { region: 'us' },
    });
  });

  it('over HTTP: admins list, add, replace and remove; bad timing is a 400 that says why', async () => {
    const env = setup();
    open.envs.push(env);
    const put = (name: string, body: unknown, as: 'admin' | 'alice' = 'admin') =>
      env.call(`/api/schedules/${name}`, { method: 'PUT', body, as });
    expect((await put('daily', { task: 'echo', cron: '0 3 * * *' }, 'alice')).status).toBe(403);
    expect((await env.call('/api/schedules')).status).toBe(403);
    const added = await put('daily', {
      task: 'echo',
      cron: '0 3 * * *',
      timezone: 'Asia/Tokyo',
      params: { text: 'hi' },
    });
    expect(added.status).toBe(201);
    expect(await json(added)).toMatchObject({ name: 'daily', task: 'echo', source: 'runtime', createdBy: 'root' });
    const replaced = await put('daily', { task: 'echo', everySeconds: 3600, params: { text: 'hi' } });
    expect(replaced.status).toBe(200);
    expect(await json(replaced)).toMatchObject({ cron: null, everySeconds: 3600, timezone: null });
    const badCron = await put('broken', { task: 'echo', cron: '0 3 * *' });
    expect(badCron.status).toBe(400);
    expect((await json(badCron)).error.message).toMatch(/not a cron expression/);
    const badZone = await put('broken', { task: 'echo', cron: '0 3 * * *', timezone: 'Europe/Atlantis' });
    expect((await json(badZone)).error.message).toMatch(/"Europe\/Atlantis" is not a time zone/);
    expect((await put('broken', { task: 'echo', everySeconds: -5 })).status).toBe(400);
    expect((await put('broken', { task: 'echo', everySeconds: 5, catchUpSeconds: -1 })).status).toBe(400);
    expect((await put('broken', { task: 'nope', everySeconds: 5 })).status).toBe(400);
    const listed = await json(await env.call('/api/schedules', { as: 'admin' }));
    expect(listed.schedules.map((s: { name: string }) => s.name)).toEqual(['daily']);
    expect(listed.schedules[0].nextRuns).toHaveLength(5);
    expect((await env.call('/api/schedules/daily', { method: 'DELETE', as: 'admin' })).status).toBe(204);
    expect((await env.call('/api/schedules/daily', { method: 'DELETE', as: 'admin' })).status).toBe(404);
  });

  it('from the CLI: set, list, remove; a bad cron expression exits 2', async () => {
    const e = { UNDERWAY_DATA_DIR: dir.file('cli-data') };
    const cli = (args: string[]) => runCli(['--config', FIXTURE_CONFIG, ...args], e);
    const set = await cli([
      'schedule',
      'set',
      'morning',
      '--task',
      'steps',
      '--cron',
      '0 7 * * 1-5',
      '--timezone',
      'Europe/Berlin',
      '--params',
      '{"steps": 1}',
    ]);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/^Schedule morning starts steps at "0 7 \* \* 1-5" \(Europe\/Berlin\); next at \d{4}-/);
    const listed = await cli(['schedules']);
    expect(listed.stdout).toMatch(/^NAME +TASK +WHEN +NEXT RUN \(UTC\) +FROM\nmorning +steps +at "0 7 \* \* 1-5"/);
    const bad = await cli(['schedule', 'set', 'oops', '--task', 'steps', '--cron', '0 7 * *']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a cron expression/);
    expect(await cli(['schedule', 'remove', 'morning'])).toMatchObject({
      code: 0,
      stdout: 'Removed schedule morning.\n',
    });
    expect((await cli(['schedules'])).stdout).toBe('No schedules.\n');
  });
});
