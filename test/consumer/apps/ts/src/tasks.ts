// The test task in TypeScript: its params type comes from the zod schema.
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineTask } from 'underway';
import { z } from 'zod';

export const count = defineTask({
  name: 'count',
  description: 'Counts to n.',
  params: z.object({ n: z.number().int().min(1).max(50), hold: z.string().optional() }),
  maxAttempts: 1,
  async run({ n, hold }, ctx) {
    for (let i = 0; i < n; i++) {
      ctx.progress(i, n, `Counting ${i + 1} of ${n}`);
      if (hold && i === 0) while (!existsSync(hold)) await sleep(20, undefined, { signal: ctx.signal });
    }
    ctx.progress(n, n, 'Done');
    ctx.log(`counted by pid ${process.pid}`);
    return { counted: n };
  },
});

export const tasks = [count];
