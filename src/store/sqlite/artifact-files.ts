import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkArtifactName } from '../../core/artifact-name.ts';
import { newLeaseToken } from '../../core/ids.ts';

/**
 * The SQLite store's artifact bytes: files in a folder beside the database, one subfolder per
 * job. Each file is written under a temporary name and renamed, so a reader never sees half of
 * one; the store keeps the name, type and size in its database.
 */
export class ArtifactFiles {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  #path(jobId: string, name: string): string {
    return join(this.#dir, jobId, checkArtifactName(name));
  }

  /** Writes the file (replacing one of the same name) and returns its size in bytes. */
  async write(jobId: string, name: string, body: Uint8Array | Readable): Promise<number> {
    const target = this.#path(jobId, name);
    await mkdir(join(this.#dir, jobId), { recursive: true });
    const partial = `${target}.${newLeaseToken()}.partial`;
    try {
      if (body instanceof Uint8Array) await writeFile(partial, body);
      else await pipeline(body, createWriteStream(partial));
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    }
    return (await stat(target)).size;
  }

  /** A stream of the file, or null when it is gone (removed by hand). */
  async open(jobId: string, name: string): Promise<Readable | null> {
    const path = this.#path(jobId, name);
    try {
      await stat(path);
    } catch {
      return null;
    }
    return createReadStream(path);
  }

  /** Deletes every file of these jobs. */
  async remove(jobIds: readonly string[]): Promise<void> {
    await Promise.all(jobIds.map((id) => rm(join(this.#dir, id), { recursive: true, force: true })));
  }
}
