import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Creates the backup root with a few files on first start, so there is something to back up. */
export function ensureSampleFiles(root: string): void {
  if (existsSync(root)) return;
  mkdirSync(join(root, 'site', 'pub'), { recursive: true });
  mkdirSync(join(root, 'site', 'empty'), { recursive: true });
  writeFileSync(join(root, 'site', 'index.html'), '<h1>Hello from the backup console</h1>\n');
  writeFileSync(join(root, 'site', 'pub', 'notes.txt'), 'Back me up, restore me, compare us.\n');
  writeFileSync(join(root, 'site', 'pub', 'random.bin'), randomBytes(256 * 1024));
  for (let i = 1; i <= 40; i++) writeFileSync(join(root, 'site', 'pub', `page-${i}.txt`), `page ${i}\n`.repeat(200));
}

/** A random key kept in a file (0600), made on first use: share links then survive restarts. */
export function persistentSecret(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dirname(file), { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch {
    // Another process (a worker started alongside) made it first: its key is the key.
    return readFileSync(file, 'utf8').trim();
  }
}
