import { mkdir, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar';
import { defineTask, type Job, PermanentJobError } from 'underway';
import { z } from 'zod';
import { DEMO_ENV, folderInside, resolveInside } from './paths.ts';

/** Finds a backup job's archive: the job (for its entry count) and the file's bytes. */
export type ReadBackup = (jobId: string) => Promise<{ job: Job; body: Readable } | null>;

/**
 * `backup.restore`: unpacks a backup job's archive into a new (or empty) folder inside the root,
 * one progress step per entry. node-tar refuses entries that would land outside the target
 * (absolute paths, `..`), so an archive cannot write elsewhere.
 */
export function restoreTask(root: string, readBackup: ReadBackup) {
  return defineTask({
    name: 'backup.restore',
    description: `Restore a backup into a new folder inside ${root}.`,
    params: z.object({
      backupJobId: z.string().min(1).max(64).describe('The id of a succeeded backup.create job.'),
      target: folderInside(root, 'Where to restore, relative to the root: a new or empty folder.'),
    }),
    timeoutSeconds: 3_600,
    sandbox: { env: DEMO_ENV },
    maxAttempts: 1,
    async run({ backupJobId, target }, ctx) {
      // The parent must exist and really be inside the root before anything is created there.
      const parent = await resolveInside(root, dirname(target));
      const destination = join(parent, basename(target));
      await mkdir(destination, { recursive: true });
      await resolveInside(root, target);
      if ((await readdir(destination)).length > 0) {
        throw new PermanentJobError(`${target} is not empty; restore into a new folder.`);
      }
      const backup = await readBackup(backupJobId);
      // Someone else's backup is answered exactly like a missing one: its existence is not confirmed.
      const mine = backup && (ctx.job.owner === null || backup.job.owner === ctx.job.owner);
      if (!backup || !mine) {
        backup?.body.destroy();
        throw new PermanentJobError(`Job ${backupJobId} has no backup to restore.`);
      }
      const total = (backup.job.result as { entries?: number } | null)?.entries ?? null;
      let done = 0;
      ctx.progress(0, total, `Restoring backup ${backupJobId}`);
      await pipeline(
        backup.body,
        extract({
          cwd: destination,
          strict: true,
          onReadEntry: (entry) => {
            entry.on('end', () => ctx.progress(++done, total, `Restoring ${entry.path}`));
          },
        }),
        { signal: ctx.signal },
      );
      ctx.log(`restored ${done} entries into ${target}`);
      return { target, entries: done };
    },
  });
}
