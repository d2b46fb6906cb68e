/**
 * Store write failures on SQLite: a full disk (a 2 MiB tmpfs) and a read-only file system (the
 * same folder through a read-only bind mount). Each must fail with a clear error, leave the database intact
 * and readable, and work again once space (or write access) returns, in the same process.
 *
 * Needs root to mount a tmpfs; elsewhere the suite is skipped and says why.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { StoreError } from '../../src/core/errors.ts';
import { defineTask } from '../../src/core/task.ts';
import { sqliteStore } from '../../src/store/sqlite/index.ts';
import { createWorker } from '../../src/worker/index.ts';
import { silent } from '../helpers/http.ts';
import { allFinished, recordFigures } from './fleet.ts';

/** Mounts a tmpfs of `size` on a new folder, or says why it cannot. */
function mountTmpfs(size: string): { dir: string } | { reason: string } {
  if (process.platform !== 'linux') return { reason: 'a tmpfs mount needs Linux' };
  if (process.getuid?.() !== 0) return { reason: 'mounting a tmpfs needs root (run the chaos suite as root)' };
  const dir = mkdtempSync(join(tmpdir(), 'underway-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return { reason: `mount -t tmpfs is not permitted here: ${String(error).split('\n')[0]}` };
  }
}

const mounted = mountTmpfs('2m');
const skipReason = 'reason' in mounted ? mounted.reason : null;
const mountDir = 'dir' in mounted ? mounted.dir : '';

afterAll(() => {
  if (!mountDir) return;
  execFileSync('umount', [mountDir], { stdio: 'pipe' });
  rmSync(mountDir, { recursive: true, force: true });
});

/** Fills the file system with one file until it refuses; returns the file. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (let i = 0; i < 10_000; i++) writeSync(fd, chunk);
    throw new Error('the tmpfs never filled up');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return path;
}

function integrity(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

const noop = defineTask({ name: 'noop', params: z.object({ blob: z.string() }), run: () => ({ ok: true }) });

describe.skipIf(skipReason !== null)(
  `SQLite store write failures${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    it('disk full: a clear StoreError, the database intact and readable, work resumes when space returns', async () => {
      const file = join(mountDir, 'underway.db');
      const store = sqliteStore({ file });
      try {
        const before: string[] = [];
        for (let i = 0; i < 5; i++)
          before.push((await store.enqueue({ task: 'noop', params: { blob: `job ${i}` }, maxAttempts: 3 })).job.id);
        const filler = fill(mountDir);

        // 512 KiB of params cannot fit anywhere: the write must fail, saying why.
        const big = { blob: 'x'.repeat(512 * 1024) };
        const error = await store.enqueue({ task: 'noop', params: big, maxAttempts: 3 }).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(StoreError);
        expect((error as StoreError).code).toBe('STORE_FULL');
        expect((error as Error).message).toMatch(/disk holding the database .* is full; nothing was written/);
        // Reads go on; what was there is unchanged; the file is sound.
        expect((await store.list({ limit: 50 })).jobs.map((j) => j.id).sort()).toEqual([...before].sort());
        expect(integrity(file)).toBe('ok');

        // Space returns: the same store instance writes again, and a worker runs everything.
        rmSync(filler);
        const after = (await store.enqueue({ task: 'noop', params: big, maxAttempts: 3 })).job.id;
        const worker = createWorker({ store, tasks: [noop], logger: silent, pollMs: 50 }).start();
        await allFinished(store, 6, 20_000);
        await worker.stop();
        const jobs = await Promise.all([...before, after].map((id) => store.get(id)));
        expect(jobs.map((j) => j?.status)).toEqual(Array(6).fill('succeeded'));
        expect(integrity(file)).toBe('ok');
        recordFigures('disk full (SQLite)', {
          error: `${(error as StoreError).code}: ${(error as Error).message.replace(mountDir, '…')}`,
          integrity: 'ok',
          recovered: 'yes',
        });
      } finally {
        await store.close();
        // The next test needs the room.
        for (const name of ['filler', 'underway.db', 'underway.db-wal', 'underway.db-shm']) {
          rmSync(join(mountDir, name), { force: true });
        }
      }
    });

    it('read-only file system: a clear StoreError on open or write, the file intact, usable again read-write', async () => {
      const file = join(mountDir, 'ro.db');
      const writable = sqliteStore({ file });
      const first = (await writable.enqueue({ task: 'noop', params: { blob: 'before' }, maxAttempts: 3 })).job.id;
      await writable.close();
      // A read-only view of the same folder (a remount of the tmpfs itself is refused while files are open).
      const roDir = mkdtempSync(join(tmpdir(), 'underway-ro-'));
      execFileSync('mount', ['--bind', mountDir, roDir], { stdio: 'pipe' });
      let error: unknown = null;
      try {
        execFileSync('mount', ['-o', 'remount,bind,ro', roDir], { stdio: 'pipe' });
        try {
          const readOnly = sqliteStore({ file: join(roDir, 'ro.db') });
          try {
            await readOnly.enqueue({ task: 'noop', params: { blob: 'during' }, maxAttempts: 3 });
          } finally {
            await readOnly.close();
          }
        } catch (e) {
          error = e;
        }
      } finally {
        execFileSync('umount', [roDir], { stdio: 'pipe' });
        rmSync(roDir, { recursive: true, force: true });
      }
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code, String(error)).toBe('STORE_READ_ONLY');
      expect((error as Error).message).toMatch(/cannot be written: .* is on a read-only file system/);
      expect(integrity(file)).toBe('ok');
      const again = sqliteStore({ file });
      try {
        expect((await again.get(first))?.status).toBe('queued');
        const second = (await again.enqueue({ task: 'noop', params: { blob: 'after' }, maxAttempts: 3 })).job.id;
        expect((await again.list()).jobs.map((j) => j.id).sort()).toEqual([first, second].sort());
      } finally {
        await again.close();
      }
      recordFigures('read-only file system (SQLite)', {
        error: `${(error as StoreError).code}: ${(error as Error).message.replaceAll(mountDir, '…').replaceAll(roDir, '…')}`,
        integrity: 'ok',
        recovered: 'yes',
      });
    });
  },
);
