import { createWriteStream } from 'node:fs';
import { lstat, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { create } from 'tar';
import { defineTask } from 'underway';
import { z } from 'zod';
import { DEMO_ENV, folderInside, resolveInside, walk } from './paths.ts';

/** The artifact every backup job leaves, and every restore reads. */
export const BACKUP_FILE = 'backup.tar.gz';

/**
 * `backup.create`: packs a folder inside the root into a .tar.gz artifact, one progress step per
 * file or folder ("Adding photos/cat.jpg", 3 of 40, with an ETA).
 */
export function backupTask(root: string) {
  return defineTask({
    name: 'backup.create',
    description: `Back up a folder inside ${root} into a .tar.gz file.`,
    params: z.object({ dir: folderInside(root, 'The folder to back up, relative to the root.').default('.') }),
    timeoutSeconds: 3_600,
    sandbox: { env: DEMO_ENV },
    maxAttempts: 2,
    async run({ dir }, ctx) {
      const source = await resolveInside(root, dir);
      if (!(await stat(source)).isDirectory()) throw new Error(`${dir} is not a folder.`);
      ctx.progress(0, null, `Listing ${dir}`);
      const entries = await walk(source, ctx.signal, (count) => {
        if (count % 100 === 0) ctx.progress(count, null, `Listing ${dir}: ${count} found`);
      });
      const total = entries.length;
      ctx.progress(0, total, `Packing ${total} entries`);
      const work = await mkdtemp(join(tmpdir(), 'underway-backup-'));
      const archive = join(work, BACKUP_FILE);
      try {
        let done = 0;
        let bytes = 0;
        const pack = create(
          {
            gzip: true,
            cwd: source,
            portable: true,
            // Folders are listed with their contents already; recursing would add them twice.
            noDirRecurse: true,
            onWriteEntry: (entry) => {
              entry.on('end', () => {
                done++;
                bytes += entry.stat?.isFile() ? entry.stat.size : 0;
                ctx.progress(done, total, `Adding ${entry.path}`);
              });
            },
          },
          entries,
        );
        await pipeline(pack, createWriteStream(archive), { signal: ctx.signal });
        const archiveBytes = (await lstat(archive)).size;
        ctx.log(`packed ${total} entries, ${bytes} bytes, into ${archiveBytes} bytes`);
        await ctx.artifact(BACKUP_FILE, { path: archive }, { contentType: 'application/gzip' });
        return { dir, entries: total, bytes, archiveBytes };
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
  });
}
