/**
 * The backup console: `npm start` serves it (`underway serve --config examples/backup-console/underway.config.ts`).
 *
 * Zero set-up: jobs live in embedded SQLite in `$UNDERWAY_DATA_DIR` (default `./data`), and the
 * tasks may only touch folders inside `$UNDERWAY_BACKUP_ROOT` (default `<data dir>/files`, created
 * with a few sample files on first start). With no tokens configured the API serves a single local
 * admin, for requests from this machine only; set `UNDERWAY_TOKENS` to open it to others.
 *
 * Environment:
 * - `PORT` (default 3000), `UNDERWAY_DATA_DIR`, `UNDERWAY_BACKUP_ROOT`
 * - `UNDERWAY_TOKENS`: `token:user[:admin],…` bearer tokens (tokens at least 16 characters)
 * - `UNDERWAY_SHARE_SECRET`: key for share links (default: a random key kept in the data dir)
 * - `UNDERWAY_WEBHOOK_URL` + `UNDERWAY_WEBHOOK_SECRET`: announce finished jobs
 */
import { join, resolve } from 'node:path';
import { dataDir, defineConfig } from 'underway/config';
import type { HttpOptions, TokenEntry } from 'underway/http';
import { sqliteStore } from 'underway/sqlite';
import { ensureSampleFiles, persistentSecret } from './setup.ts';
import { BACKUP_FILE, backupConsoleTasks, type ReadBackup } from './tasks/index.ts';

const data = resolve(dataDir());
const database = join(data, 'underway.db');
const root = resolve(process.env.UNDERWAY_BACKUP_ROOT || join(data, 'files'));
ensureSampleFiles(root);

/** Restores read the backup's archive through a short-lived store of their own (they may run in a child process). */
const readBackup: ReadBackup = async (jobId) => {
  const store = sqliteStore({ file: database, migrate: false });
  const [job, file] = await Promise.all([store.get(jobId), store.openArtifact(jobId, BACKUP_FILE)]);
  if (!job || !file) {
    await store.close();
    return null;
  }
  file.body.once('close', () => void store.close());
  return { job, body: file.body };
};

function tokensFromEnv(): TokenEntry[] {
  return (process.env.UNDERWAY_TOKENS ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const [token = '', id = '', role] = item.split(':');
      return { token, id, roles: role === 'admin' ? ['admin'] : [] };
    });
}

const tokens = tokensFromEnv();
const http = {
  // No tokens: a single local admin, for requests from this machine to localhost/127.0.0.1 only
  // (not through a proxy); the startup log line says so.
  auth: { tokens, localAdmin: tokens.length === 0 },
  shareLinks: { secret: process.env.UNDERWAY_SHARE_SECRET || persistentSecret(join(data, 'share-links.key')) },
  rateLimit: { starts: 30, perSeconds: 60 },
  webhooks: process.env.UNDERWAY_WEBHOOK_URL
    ? { urls: [process.env.UNDERWAY_WEBHOOK_URL], secret: process.env.UNDERWAY_WEBHOOK_SECRET ?? '' }
    : undefined,
} satisfies HttpOptions;

export default defineConfig({
  tasks: backupConsoleTasks({ root, readBackup }),
  store: () => sqliteStore({ file: database }),
  http,
});
