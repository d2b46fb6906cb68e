import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { StoreError, toError } from '../../core/errors.ts';
import { APPLICATION_ID, MIGRATIONS } from './migrations.ts';

/** SQLite's result codes for "another connection holds the lock" and "this is not a database". */
const BUSY_CODES = new Set(['SQLITE_BUSY', 'SQLITE_BUSY_SNAPSHOT', 'SQLITE_BUSY_RECOVERY', 'SQLITE_LOCKED']);
const NOT_A_DATABASE = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT']);

export interface OpenOptions {
  /** How long a statement waits for another process's lock before failing. Default 5000 ms. */
  busyTimeoutMs?: number | undefined;
  /** "normal" (default: safe against process crashes) or "full" (also against power loss). */
  synchronous?: 'normal' | 'full' | undefined;
}

/** Opens (creating when absent) and checks an underway SQLite file. */
export function openDatabase(file: string, options: OpenOptions = {}): Database.Database {
  const path = file === ':memory:' ? file : resolve(file);
  let db: Database.Database;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path, { timeout: options.busyTimeoutMs ?? 5_000 });
  } catch (error) {
    throw storeError(error, path);
  }
  try {
    checkIsOurs(db, path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    // A checkpoint copies the WAL's pages into the database file and syncs it, inside whichever
    // commit crosses the threshold. At SQLite's default of 1,000 pages (4 MiB) a one-job enqueue,
    // which dirties ~15 pages, paid for one every ~65 commits; at 10,000 the hot pages (index
    // roots, the last leaves) are copied once per 40 MiB of WAL instead of ten times: one-call
    // enqueue +17 % (docs/performance.md, run L). After a large transaction the WAL file is cut
    // back to 64 MiB at the next checkpoint.
    db.pragma('wal_autocheckpoint = 10000');
    db.pragma('journal_size_limit = 67108864');
  } catch (error) {
    db.close();
    throw storeError(error, path);
  }
  return db;
}

function checkIsOurs(db: Database.Database, path: string): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  if (applicationId === APPLICATION_ID) return;
  const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
  if (applicationId !== 0 || tables.n > 0) {
    throw new StoreError(
      'NOT_UNDERWAY_DATABASE',
      `${path} is a SQLite database, but not underway's. Point underway at its own file (it creates one when absent).`,
    );
  }
}

/** Brings the schema up to date, in one write transaction so that concurrent starters take turns. */
export function migrateDatabase(db: Database.Database, path: string): void {
  try {
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > MIGRATIONS.length) {
        throw new StoreError(
          'SCHEMA_TOO_NEW',
          `${path} was written by a newer underway (schema ${version}, this one knows ${MIGRATIONS.length}). Upgrade underway.`,
        );
      }
      for (let step = version; step < MIGRATIONS.length; step++) db.exec(MIGRATIONS[step] as string);
      db.pragma(`user_version = ${MIGRATIONS.length}`);
      db.pragma(`application_id = ${APPLICATION_ID}`);
    }).immediate();
  } catch (error) {
    throw storeError(error, path);
  }
}

/** Turns a SQLite error into a StoreError that says what happened in words. */
export function storeError(thrown: unknown, path: string): Error {
  if (thrown instanceof StoreError) return thrown;
  const error = toError(thrown);
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && BUSY_CODES.has(code)) {
    return new StoreError(
      'STORE_BUSY',
      `The database ${path} is locked by another process and stayed locked past the busy timeout. Try again; if it persists, look for a process holding it.`,
      { cause: error },
    );
  }
  if (typeof code === 'string' && NOT_A_DATABASE.has(code)) {
    return new StoreError(
      'NOT_UNDERWAY_DATABASE',
      `${path} is not a SQLite database (or it is damaged), so it is not an underway database. Point underway at its own file.`,
      { cause: error },
    );
  }
  if (code === 'SQLITE_FULL') {
    // Written to the WAL and rolled back: the file stays sound, and the same store writes again
    // once there is room (test/chaos/disk-full.test.ts, a 2 MiB tmpfs).
    return new StoreError(
      'STORE_FULL',
      `The disk holding the database ${path} is full; nothing was written. Free some space: underway goes on once writes succeed again.`,
      { cause: error },
    );
  }
  if (typeof code === 'string' && (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN')) {
    // SQLite says only "unable to open database file" when the folder is read-only (it cannot
    // make the -wal and -shm files beside the database): name the cause when it is that.
    const denied = notWritable(path);
    if (denied) {
      return new StoreError('STORE_READ_ONLY', `The database ${path} cannot be written: ${denied}.`, { cause: error });
    }
  }
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    return new StoreError('STORE_FAILED', `The database ${path} failed: ${error.message} (${code}).`, { cause: error });
  }
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
    // ENOTDIR, EACCES, EROFS…: the file or its folder cannot be made or opened.
    return new StoreError('STORE_FAILED', `The database ${path} cannot be opened: ${error.message}.`, { cause: error });
  }
  return error;
}

/** Why the database file (or its folder) cannot be written, or null when it can. */
function notWritable(path: string): string | null {
  for (const target of existsSync(path) ? [path, dirname(path)] : [dirname(path)]) {
    try {
      accessSync(target, constants.W_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EROFS') return `${target} is on a read-only file system`;
      if (code === 'EACCES' || code === 'EPERM') return `this user may not write to ${target}`;
    }
  }
  return null;
}
