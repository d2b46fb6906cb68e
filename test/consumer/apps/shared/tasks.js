// The task every ESM test app runs, in its own module so a sandboxed worker's children can load it.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineTask } from 'underway';
import { z } from 'zod';

/**
 * Counts to `n`, one progress step at a time. With `hold` (a file path), it waits at the first
 * step until that file exists, so a test can watch a job that is still running and then let it end.
 */
export const count = defineTask({
  name: 'count',
  description: 'Counts to n.',
  params: z.object({ n: z.number().int().min(1).max(50), hold: z.string().optional() }),
  maxAttempts: 1,
  async run({ n, hold }, ctx) {
    for (let i = 0; i < n; i++) {
      ctx.progress(i, n, `Counting ${i + 1} of ${n}`);
      if (hold && i === 0) await waitForFile(hold, ctx.signal);
    }
    ctx.progress(n, n, 'Done');
    // Which process ran it: the tests tell a sandboxed child from the server's own process.
    ctx.log(`counted by pid ${process.pid}`);
    return { counted: n };
  },
});

export const tasks = [count];

async function waitForFile(path, signal) {
  // A file is the simplest signal that crosses into a sandboxed child; 20 ms polls cost nothing here.
  while (!existsSync(path)) await sleep(20, undefined, { signal });
}
