// The test task, written as CommonJS.
const { existsSync } = require('node:fs');
const { setTimeout: sleep } = require('node:timers/promises');
const { defineTask } = require('underway');
const { z } = require('zod');

const count = defineTask({
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

module.exports = { count, tasks: [count] };
