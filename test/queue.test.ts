import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TooLargeError, ValidationError } from '../src/core/errors.ts';
import { newJobId } from '../src/core/ids.ts';
import { keyFromSource, revealSecrets, secret } from '../src/core/secrets.ts';
import { defineTask } from '../src/core/task.ts';
import { createQueue, MAX_PARAMS_BYTES } from '../src/queue/queue.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';

const dir = tempDir('underway-queue-');
afterAll(() => dir.cleanup());
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});
let n = 0;
const KEY = 'k'.repeat(64);
/** Its bytes, as core/secrets.ts takes them (the queue finds them from the option). */
const KEY_BYTES = keyFromSource(KEY);

const thumbnail = defineTask({
  name: 'thumbnail',
  params: z.object({ photo: z.string().min(1), token: secret(z.string()).optional() }),
  maxAttempts: 2,
  async run() {},
});

function setup() {
  const store = sqliteStore({ file: dir.file(`q${++n}.db`) });
  stores.push(store);
  return { store, queue: createQueue({ store, tasks: [thumbnail], secretKey: KEY }) };
}

describe('queue.startMany', () => {
  it('starts many jobs in one call, each with its own options, secrets sealed', async () => {
    const { store, queue } = setup();
    const started = await queue.startMany(thumbnail, [
      { params: { photo: 'a.jpg' }, owner: 'ann' },
      { params: { photo: 'b.jpg', token: 'hunter2' }, owner: 'bob', delaySeconds: 60 },
      { params: { photo: 'c.jpg' }, dedupeKey: 'c', maxAttempts: 5 },
    ]);
    expect(started.map((s) => [s.job.owner, s.job.maxAttempts, s.created])).toEqual([
      ['ann', 2, true],
      ['bob', 2, true],
      [null, 5, true],
    ]);
    expect(Date.parse(started[1]?.job.runAt as string)).toBeGreaterThan(Date.now() + 50_000);
    expect(JSON.stringify(started[1]?.job.params)).not.toContain('hunter2');
    expect((await store.counts()).find((c) => c.status === 'queued')?.count).toBe(3);
    // The dedupe key holds across calls, as with start.
    const again = await queue.startMany('thumbnail', [{ params: { photo: 'c.jpg' }, dedupeKey: 'c' }]);
    expect(again).toEqual([{ job: started[2]?.job, created: false }]);
  });

  it('rejects the whole batch when one item is invalid, naming it, and stores nothing', async () => {
    const { store, queue } = setup();
    const attempt = queue.startMany(thumbnail, [
      { params: { photo: 'a.jpg' } },
      { params: { photo: '' } },
      { params: { photo: 'c.jpg' } },
    ]);
    await expect(attempt).rejects.toBeInstanceOf(ValidationError);
    await expect(attempt).rejects.toMatchObject({
      message: 'Job 2 of 3: The params for task "thumbnail" are not valid.',
      issues: [expect.stringMatching(/^params\.photo:/)],
    });
    await expect(queue.startMany('nope', [{ params: {} }])).rejects.toThrow(/Unknown task "nope"/);
    expect((await store.list()).jobs).toEqual([]);
  });
});

describe('job ids chosen before the insert', () => {
  it("seals each job's secrets for the id and owner the store then gives it", async () => {
    const { queue } = setup();
    const { job } = await queue.start(thumbnail, { photo: 'a.jpg', token: 'tok-one' }, { owner: 'ann' });
    const many = await queue.startMany(thumbnail, [
      { params: { photo: 'b.jpg', token: 'tok-two' }, owner: 'bob' },
      { params: { photo: 'c.jpg', token: 'tok-three' } },
    ]);
    for (const [started, token] of [
      [job, 'tok-one'],
      [many[0]?.job, 'tok-two'],
      [many[1]?.job, 'tok-three'],
    ] as const) {
      if (!started) throw new Error('not started');
      const binding = { jobId: started.id, owner: started.owner };
      expect(revealSecrets(started.params, binding, KEY_BYTES).params).toMatchObject({ token });
    }
  });

  it('keeps the job holding a dedupe key, whose secrets open for it still', async () => {
    const { queue } = setup();
    const first = await queue.start(thumbnail, { photo: 'a.jpg', token: 'tok-first' }, { dedupeKey: 'd' });
    const second = await queue.start(thumbnail, { photo: 'a.jpg', token: 'tok-second' }, { dedupeKey: 'd' });
    expect(second).toEqual({ job: first.job, created: false });
    expect(revealSecrets(second.job.params, { jobId: first.job.id, owner: null }, KEY_BYTES).params).toMatchObject({
      token: 'tok-first',
    });
  });

  const input = (id: string, dedupeKey: string | null = null) => ({
    id,
    task: 'thumbnail',
    params: { photo: id },
    maxAttempts: 1,
    dedupeKey,
  });
  const honoursIds = async (store: Store) => {
    const [one, two, three] = [newJobId(), newJobId(), newJobId()];
    expect((await store.enqueue(input(one))).job.id).toBe(one);
    const many = await store.enqueueMany([input(two), input(three, 'k'), input(newJobId(), 'k')]);
    expect(many.map((m) => [m.job.id, m.created])).toEqual([
      [two, true],
      [three, true],
      [three, false],
    ]);
    expect((await store.get(two))?.params).toEqual({ photo: two });
    // Without one, the store makes one, as before.
    expect((await store.enqueue({ task: 'thumbnail', params: {}, maxAttempts: 1 })).job.id).toMatch(/^[\w-]{22}$/);
  };

  it('SQLite inserts with the id given, in enqueue and enqueueMany', async () => {
    const { store } = setup();
    await honoursIds(store);
  });

  it('PostgreSQL inserts with the id given, in enqueue and enqueueMany', async () => {
    const db = await createTestDatabase();
    const store = postgresStore({ connectionString: db.url, schema: db.schema(), poolSize: 2 });
    try {
      await store.migrate();
      await honoursIds(store);
    } finally {
      await store.close();
      await db.drop();
    }
  });
});

describe('params that cannot be stored', () => {
  const anything = defineTask({ name: 'anything', params: z.object({ value: z.unknown() }), async run() {} });

  it('refuses params past the cap, too deep for JSON, or holding a NUL character, and stores nothing', async () => {
    const store = sqliteStore({ file: dir.file(`q${++n}.db`) });
    stores.push(store);
    const queue = createQueue({ store, tasks: [anything], secretKey: KEY });
    const big = queue.start(anything, { value: 'x'.repeat(MAX_PARAMS_BYTES) });
    await expect(big).rejects.toBeInstanceOf(TooLargeError);
    await expect(big).rejects.toMatchObject({ code: 'TOO_LARGE' });
    let deep: unknown = [];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    await expect(queue.start(anything, { value: deep })).rejects.toBeInstanceOf(ValidationError);
    await expect(queue.start(anything, { value: 'a\u0000b' })).rejects.toThrow(/NUL character/);
    expect((await store.list()).jobs).toEqual([]);
    await expect(queue.start(anything, { value: 'x'.repeat(1_000) })).resolves.toMatchObject({ created: true });
  });
});

describe('queue.prepare', () => {
  it('checks everything start does before anything is stored, and adds the job once', async () => {
    const { store, queue } = setup();
    expect(() => queue.prepare(thumbnail, { photo: '' })).toThrow(ValidationError);
    expect(() => queue.prepare(thumbnail, { photo: 'a.jpg' }, { delaySeconds: -1 })).toThrow(ValidationError);
    const start = queue.prepare(thumbnail, { photo: 'a.jpg', token: 'hunter2' }, { owner: 'ann' });
    // Prepared, not added: nothing in the store yet.
    expect(await store.counts()).toEqual([]);
    const { job, created } = await start.add();
    expect([job.owner, job.status, created]).toEqual(['ann', 'queued', true]);
    // Sealed for this job and its owner at prepare time.
    expect(revealSecrets(job.params, { jobId: job.id, owner: 'ann' }, KEY_BYTES).params).toEqual({
      photo: 'a.jpg',
      token: 'hunter2',
    });
    await expect(start.add()).rejects.toThrow(/added already/);
    expect((await store.counts()).reduce((sum, row) => sum + row.count, 0)).toBe(1);
  });
});
