import { lstat, readdir, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { PermanentJobError } from 'underway';
import { z } from 'zod';

/**
 * What a sandboxed child needs from the worker's environment: the config module is loaded again
 * in the child, and must find the same data folder and root there (a child's environment is
 * otherwise clean).
 */
export const DEMO_ENV = ['UNDERWAY_DATA_DIR', 'UNDERWAY_BACKUP_ROOT'] as const;

/** True when `path` is `root` or inside it, judged on the text of the paths alone. */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * A params field naming a folder inside `root`, relative to it (`photos/2024`). Anything that
 * would leave the root (`/etc`, `../..`) fails validation, so the API answers 400 before a job
 * exists.
 */
export function folderInside(root: string, description: string) {
  return z
    .string()
    .max(1024)
    .describe(description)
    .refine((value) => !value.includes('\0') && isInside(root, resolve(root, value)), {
      message: `must be a folder inside ${root}`,
    });
}

/**
 * The real location of a folder inside `root`, symbolic links resolved: a link inside the root
 * that points out of it is refused here (the schema check only sees the text).
 */
export async function resolveInside(root: string, value: string): Promise<string> {
  const realRoot = await realpath(root);
  const path = resolve(realRoot, value);
  const real = await realpath(path).catch(() => {
    throw new PermanentJobError(`There is no folder ${value} in ${root}.`);
  });
  if (!isInside(realRoot, real)) throw new PermanentJobError(`${value} leads out of ${root}; refusing.`);
  return real;
}

/**
 * Everything under `dir` (folders before their contents, sorted), as paths relative to it.
 * Symbolic links are listed as links, never followed, so the walk cannot leave the folder.
 */
export async function walk(dir: string, signal: AbortSignal, onEntry?: (count: number, path: string) => void) {
  const out: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const name of names) {
      signal.throwIfAborted();
      const child = rel ? `${rel}/${name}` : name;
      out.push(child);
      onEntry?.(out.length, child);
      const info = await lstat(join(dir, child));
      if (info.isDirectory()) await visit(child);
    }
  };
  await visit('');
  return out;
}
