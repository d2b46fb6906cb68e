import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../src/core/errors.ts';
import { secret } from '../src/core/secrets.ts';
import { defineTask } from '../src/core/task.ts';
import { createQueue } from '../src/queue/queue.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { tempDir } from './helpers/temp.ts';

const dir = tempDir('underway-queue-');
afterAll(() => dir.cleanup());
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
});
let n = 0;

const thumbnail = defineTask({
  name: 'thumbnail',
  params: z.object({ photo: z.string().min(1), token: secret(z.string()).optional() }),
  maxAttempts: 2,
  async run() {},
});

function setup() {
  const store = sqliteStore({ file: dir.file(`q${++n}.db`) });
  stores.push(store);
  return { store, queue: createQueue({ store, tasks: [thumbnail], secretKey: 'k'.repeat(64) }) };
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
