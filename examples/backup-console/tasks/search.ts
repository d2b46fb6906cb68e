import { defineTask } from 'underway';
import { z } from 'zod';
import { DEMO_ENV, folderInside, resolveInside, walk } from './paths.ts';

const MAX_MATCHES = 200;

/**
 * `files.search`: finds files whose name contains some text. How many files there are is not
 * known until the walk ends, so its progress is indeterminate: a count and a caption, no percent.
 */
export function searchTask(root: string) {
  return defineTask({
    name: 'files.search',
    description: `Find files by name inside ${root} (a task of unknown length).`,
    params: z.object({
      text: z.string().min(1).max(200).describe('Part of the file name, any case.'),
      dir: folderInside(root, 'Where to look, relative to the root.').default('.'),
    }),
    sandbox: { env: DEMO_ENV },
    maxAttempts: 1,
    async run({ text, dir }, ctx) {
      const start = await resolveInside(root, dir);
      const needle = text.toLowerCase();
      const matches: string[] = [];
      const entries = await walk(start, ctx.signal, (count, path) => {
        const name = path.split('/').pop() ?? path;
        if (name.toLowerCase().includes(needle) && matches.length < MAX_MATCHES) matches.push(path);
        ctx.progress(count, null, `Looked at ${count} entries, ${matches.length} match`);
      });
      return { looked: entries.length, matches };
    },
  });
}
