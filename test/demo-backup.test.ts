import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BACKUP_FILE, backupConsoleTasks } from '../examples/backup-console/tasks/index.ts';
import type { JobProgress } from '../src/core/job.ts';
import { createUnderway, type Underway } from '../src/http/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import { json, silent, TOKENS } from './helpers/http.ts';
import { tempDir } from './helpers/temp.ts';
import { collectEvents, waitForStatus } from './helpers/wait.ts';

const dir = tempDir('underway-demo-');
afterAll(() => dir.cleanup());

const open: { worker?: Worker; underway?: Underway; store?: Store } = {};
afterEach(async () => {
  await open.worker?.stop({ graceMs: 0 });
  await open.underway?.close();
  await open.store?.close();
});

/** A folder with nested folders, an empty one, binary and non-ASCII names. */
function sampleTree(root: string): void {
  mkdirSync(join(root, 'site', 'pub', 'deep', 'deeper'), { recursive: true });
  mkdirSync(join(root, 'site', 'empty'), { recursive: true });
  writeFileSync(join(root, 'site', 'index.html'), '<h1>hi</h1>\n');
  writeFileSync(join(root, 'site', 'pub', 'café ünïcode.txt'), 'accents\n');
  const binary = Buffer.alloc(300_000);
  for (let i = 0; i < binary.length; i++) binary[i] = (i * 7919) % 256;
  writeFileSync(join(root, 'site', 'pub', 'data.bin'), binary);
  for (let i = 0; i < 25; i++)
    writeFileSync(join(root, 'site', 'pub', 'deep', `f${i}.txt`), `file ${i}\n`.repeat(i * 50));
  writeFileSync(join(root, 'site', 'pub', 'deep', 'deeper', 'last.txt'), '');
}

/** Every path under `base` with its content (null for folders), for byte-for-byte comparison. */
function snapshot(base: string): Map<string, Buffer | null> {
  const out = new Map<string, Buffer | null>();
  const visit = (rel: string) => {
    for (const name of readdirSync(join(base, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      if (statSync(join(base, path)).isDirectory()) {
        out.set(path, null);
        visit(path);
      } else out.set(path, readFileSync(join(base, path)));
    }
  };
  visit('');
  return out;
}

function start(n: number) {
  const root = join(dir.path, `root-${n}`);
  mkdirSync(root, { recursive: true });
  sampleTree(root);
  const store = sqliteStore({ file: join(dir.path, `demo-${n}.db`) });
  const tasks = backupConsoleTasks({
    root,
    readBackup: async (jobId) => {
      const [job, file] = await Promise.all([store.get(jobId), store.openArtifact(jobId, BACKUP_FILE)]);
      return job && file ? { job, body: file.body } : null;
    },
  });
  const underway = createUnderway({
    mountPath: '',
    store,
    tasks,
    logger: silent,
    auth: { tokens: [{ token: TOKENS.alice, id: 'alice' }] },
  });
  const worker = createWorker({ store: underway.store, tasks, logger: silent, pollMs: 50 }).start();
  Object.assign(open, { store, underway, worker });
  const call = (path: string, body?: unknown) =>
    underway.app.request(path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${TOKENS.alice}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return { root, store, call };
}

describe('the backup console demo', () => {
  it('backs a folder up into a .tar.gz with per-file progress, and restores it byte-identically', async () => {
    const { root, store, call } = start(1);
    const backup = await json(await call('/api/jobs', { task: 'backup.create', params: { dir: 'site' } }));
    expect(backup.status).toBe('queued');
    const progress = collectEvents(
      store,
      (event) => event.type === 'status' && event.jobId === backup.id && event.status === 'succeeded',
    );
    const done = await waitForStatus(store, backup.id, 'succeeded');
    const entries = snapshot(join(root, 'site'));
    expect(done.result).toMatchObject({ dir: 'site', entries: entries.size });
    const steps = (await progress)
      .filter((e) => e.type === 'progress' && e.jobId === backup.id)
      .map((e) => (e as { progress: JobProgress }).progress);
    const last = steps.at(-1);
    expect(last).toMatchObject({ current: entries.size, total: entries.size, percent: 100 });
    expect(steps.some((p) => p.message?.startsWith('Adding '))).toBe(true);

    const download = await call(`/api/jobs/${backup.id}/artifacts/${BACKUP_FILE}`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/gzip');
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

    const restore = await json(
      await call('/api/jobs', { task: 'backup.restore', params: { backupJobId: backup.id, target: 'restored' } }),
    );
    const restored = await waitForStatus(store, restore.id, 'succeeded');
    expect(restored.result).toEqual({ target: 'restored', entries: entries.size });
    expect(restored.progress).toMatchObject({ current: entries.size, total: entries.size });
    expect(snapshot(join(root, 'restored'))).toEqual(entries);

    // A second restore into the same, now full, folder is refused, not merged.
    const again = await json(
      await call('/api/jobs', { task: 'backup.restore', params: { backupJobId: backup.id, target: 'restored' } }),
    );
    const refused = await waitForStatus(store, again.id, 'failed');
    expect(refused.error?.message).toContain('not empty');
    expect(refused.attempt).toBe(1);
  });

  it("does not restore another user's backup, and says no more than for a missing one", async () => {
    const { store, call } = start(9);
    const backup = await json(await call('/api/jobs', { task: 'backup.create', params: { dir: 'site' } }));
    await waitForStatus(store, backup.id, 'succeeded');
    const queue = open.underway?.queue;
    if (!queue) throw new Error('no app');
    const { job } = await queue.start('backup.restore', { backupJobId: backup.id, target: 'theirs' }, { owner: 'bob' });
    const failed = await waitForStatus(store, job.id, 'failed');
    expect(failed.error?.message).toBe(`Job ${backup.id} has no backup to restore.`);
  });

  it('refuses folders outside the root: 400 before a job exists, or a failed job for a link that leads out', async () => {
    const { root, store, call } = start(2);
    for (const bad of ['/etc', '../..', 'site/../../x']) {
      const response = await call('/api/jobs', { task: 'backup.create', params: { dir: bad } });
      expect(response.status, bad).toBe(400);
      expect((await json(response)).error.details).toEqual([
        expect.stringContaining('params.dir: must be a folder inside'),
      ]);
    }
    const restore = await call('/api/jobs', { task: 'backup.restore', params: { backupJobId: 'x', target: '/tmp/x' } });
    expect(restore.status).toBe(400);

    symlinkSync('/etc', join(root, 'sneaky'));
    const job = await json(await call('/api/jobs', { task: 'backup.create', params: { dir: 'sneaky' } }));
    const failed = await waitForStatus(store, job.id, 'failed');
    expect(failed.error?.message).toContain('leads out of');
    expect(failed.attempt).toBe(1);
  });

  it('searches with indeterminate progress (no total, no percent)', async () => {
    const { store, call } = start(3);
    const job = await json(await call('/api/jobs', { task: 'files.search', params: { text: 'F1' } }));
    const done = await waitForStatus(store, job.id, 'succeeded');
    expect(done.progress).toMatchObject({ total: null, percent: null, etaSeconds: null });
    expect(done.result).toMatchObject({
      matches: expect.arrayContaining(['site/pub/deep/f1.txt', 'site/pub/deep/f10.txt']),
    });
  });

  it('loads as a config whose http options createUnderway takes as they are', async () => {
    const data = join(dir.path, 'config-data');
    process.env.UNDERWAY_DATA_DIR = data;
    try {
      const { default: config } = await import('../examples/backup-console/underway.config.ts');
      expect(config.tasks.map((t) => t.name)).toEqual(['backup.create', 'backup.restore', 'files.search']);
      const store = typeof config.store === 'function' ? config.store() : (config.store as Store);
      open.store = store;
      const underway = createUnderway({ mountPath: '', store, tasks: config.tasks, logger: silent, ...config.http });
      open.underway = underway;
      expect(underway.describeAuth()).toContain('local admin for requests from this machine');
      expect(statSync(join(data, 'files', 'site')).isDirectory()).toBe(true);
    } finally {
      delete process.env.UNDERWAY_DATA_DIR;
    }
  });
});
