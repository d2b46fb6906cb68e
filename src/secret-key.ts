import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { keyFromSource, SecretError, type SecretKeySource } from './core/secrets.ts';

/**
 * Where the key that seals secret params comes from (the sealing itself is core/secrets.ts, which
 * is pure): the `secretKey` option; else the file `UNDERWAY_SECRET_KEY_FILE` names, when it
 * exists; else `UNDERWAY_SECRET_KEY` (32 bytes as hex or base64, or a passphrase); else a key
 * file, `UNDERWAY_SECRET_KEY_FILE` or `$UNDERWAY_DATA_DIR/secret.key` (`./data`), created 0600 on
 * first use. Every process that starts or runs such jobs needs the same key.
 *
 * The queue and the worker hand core/secrets.ts `() => secretKey(option)`, called only when a
 * secret is actually sealed or opened: tasks without secrets never create a key file.
 */

const keys = new Map<string, Buffer>();

/**
 * The key from `source`; else from `UNDERWAY_SECRET_KEY_FILE` when that file exists; else from
 * `UNDERWAY_SECRET_KEY`; else from the key file (`UNDERWAY_SECRET_KEY_FILE` or the data folder's
 * `secret.key`), created when missing. Cached: a process keeps the key it found first.
 *
 * Why a named file comes before the variable: a job's process running as the worker's user can
 * read the worker's environment (`/proc/<pid>/environ`), so the variable is the weaker place for
 * the key (docs/sandbox.md, "What a job's process can still read"). Why the data folder's own file
 * does not: any run without the variable creates it, and a file left over from such a run would
 * silently replace the key that the other machines use.
 */
export function secretKey(source?: SecretKeySource): Buffer {
  if (source instanceof Uint8Array) return keyFromSource(source);
  const named = process.env.UNDERWAY_SECRET_KEY_FILE || undefined;
  const fromEnv = source ?? process.env.UNDERWAY_SECRET_KEY;
  const file = named ?? join(process.env.UNDERWAY_DATA_DIR || './data', 'secret.key');
  const cacheKey = source ? `key:${source}` : `file:${named ?? ''}\0key:${fromEnv ?? ''}\0default:${file}`;
  let key = keys.get(cacheKey);
  if (!key) {
    const fromFile = named ? readKeyFile(named) : undefined;
    key = source ? keyFromSource(source) : (fromFile ?? (fromEnv ? keyFromSource(fromEnv) : keyFromFile(file)));
    keys.set(cacheKey, key);
  }
  return key;
}

/** The key in `file`; undefined when there is no such file (any other failure throws). */
function readKeyFile(file: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SecretError(`The secret key file ${file} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  // An empty file would be the passphrase "": a key anyone can make.
  if (text.trim() === '') throw new SecretError(`The secret key file ${file} is empty.`);
  return keyFromSource(text);
}

/** Reads the key file, or creates it (0600) atomically: written aside, then linked into place. */
function keyFromFile(file: string): Buffer {
  const existing = readKeyFile(file);
  if (existing) return existing;
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const fd = openSync(aside, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('base64')}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(aside, file); // EEXIST: another process won the race; its key is the key.
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(aside, { force: true });
  }
  return keyFromSource(readFileSync(file, 'utf8'));
}
