/**
 * What one browser receives over SSE while the backup console's demo backs up 8,040 entries (40
 * folders of 200 files), the case of issue 17. A job page reads two streams: the job's own
 * (`<underway-progress>`) and `/api/events` (`<underway-indicator>`); both are counted.
 *
 *   node --import tsx test/helpers/sse-backup-bytes.ts
 *
 * Prints one JSON line. Not a test: numbers for docs and for comparing two versions of the code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKUP_FILE, backupConsoleTasks } from '../../examples/backup-console/tasks/index.ts';
import { createUnderway, serveHttp } from '../../src/http/index.ts';
import { sqliteStore } from '../../src/store/sqlite/index.ts';
import { createWorker } from '../../src/worker/index.ts';
import { silent, TOKENS } from './http.ts';
import { tempDir } from './temp.ts';

const FOLDERS = 40;
const FILES = 200;

interface Counted {
  bytes: number;
  frames: Record<string, number>;
  /** Resolves when a frame's data contains this text (or the stream ends). */
  until(text: string): Promise<void>;
  close(): void;
}

function count(url: string): Counted {
  const abort = new AbortController();
  const waiting: { text: string; resolve(): void }[] = [];
  const counted: Counted = {
    bytes: 0,
    frames: {},
    until: (text) => new Promise((resolve) => waiting.push({ text, resolve })),
    close: () => abort.abort(),
  };
  void (async () => {
    const response = await fetch(url, { headers: { authorization: `Bearer ${TOKENS.alice}` }, signal: abort.signal });
    const reader = response.body?.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = (await reader?.read()) ?? { done: true, value: undefined };
      if (done) break;
      counted.bytes += value.byteLength;
      buffer += decoder.decode(value, { stream: true });
      for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = block.match(/^event: (.*)$/m)?.[1];
        if (event) counted.frames[event] = (counted.frames[event] ?? 0) + 1;
        for (const w of waiting.filter((w) => block.includes(w.text))) w.resolve();
      }
    }
  })()
    .catch(() => undefined)
    .finally(() => {
      for (const w of waiting) w.resolve();
    });
  return counted;
}

const dir = tempDir('underway-sse-bytes-');
const root = join(dir.path, 'root');
for (let d = 0; d < FOLDERS; d++) {
  mkdirSync(join(root, 'site', `d${d}`), { recursive: true });
  for (let f = 0; f < FILES; f++) writeFileSync(join(root, 'site', `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`);
}
const store = sqliteStore({ file: join(dir.path, 'underway.db') });
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
const server = await serveHttp(underway, { port: 0, host: '127.0.0.1', logger: silent });
const { job } = await underway.queue.start('backup.create', { dir: 'site' }, { owner: 'alice' });
const one = count(`${server.url}/api/jobs/${job.id}/events`);
const all = count(`${server.url}/api/events`);
await Promise.all([one.until('"status":"queued"'), all.until('"jobs"')]);
const worker = createWorker({ store, tasks, logger: silent, pollMs: 50 }).start();
await Promise.all([one.until('"status":"succeeded"'), all.until('"status":"succeeded"')]);
const ended = await store.get(job.id);
console.log(
  JSON.stringify({
    entries: (ended?.result as { entries?: number } | null)?.entries,
    seconds: (Date.parse(ended?.finishedAt ?? '') - Date.parse(ended?.startedAt ?? '')) / 1000,
    jobStream: { bytes: one.bytes, frames: one.frames },
    listStream: { bytes: all.bytes, frames: all.frames },
  }),
);
one.close();
all.close();
await worker.stop({ graceMs: 0 });
await server.close();
await underway.close();
await store.close();
dir.cleanup();
