import { createReadStream, createWriteStream, renameSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkArtifactName } from '../../core/artifact-name.ts';
import { newLeaseToken } from '../../core/ids.ts';

/** An artifact's bytes written beside their place, not yet in it. */
export interface StagedFile {
  size: number;
  /** Moves the file into place (synchronous: it runs inside a write transaction). */
  commit(): void;
  /** Deletes the file. */
  discard(): Promise<void>;
}

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

  /**
   * Writes the bytes under a temporary name beside their final place, and hands back their size
   * with the two ways on: `commit` renames them into place (replacing a file of that name; called
   * by the store inside the write transaction that checked the lease, so a fenced-out attempt can
   * never replace the winner's file), `discard` deletes them.
   */
  async stage(jobId: string, name: string, body: Uint8Array | Readable): Promise<StagedFile> {
    const target = this.#path(jobId, name);
    await mkdir(join(this.#dir, jobId), { recursive: true });
    const partial = `${target}.${newLeaseToken()}.partial`;
    const discard = () => rm(partial, { force: true });
    try {
      if (body instanceof Uint8Array) await writeFile(partial, body);
      else await pipeline(body, createWriteStream(partial));
      const { size } = await stat(partial);
      return { size, commit: () => renameSync(partial, target), discard };
    } catch (error) {
      await discard();
      throw error;
    }
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
