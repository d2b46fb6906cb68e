import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';
import { ownSources } from './vitest.config.ts';

/**
 * `npm run test:chaos`: the reliability and security proofs at full size (docs/reliability.md).
 * The same files run in `npm test` in a shortened form; here they get the full sizes and a
 * summary of the figures at the end. Restarting the (shared) PostgreSQL is opt-in:
 * UNDERWAY_CHAOS_PG_RESTART=1. Set in process.env, not test.env,
 * so that the worker processes the tests start see them too.
 */
process.env.UNDERWAY_CHAOS = 'full';
process.env.UNDERWAY_CHAOS_FIGURES ??= join(tmpdir(), `underway-chaos-figures-${process.pid}.jsonl`);

export default defineConfig({
  resolve: { alias: ownSources },
  test: {
    include: ['test/chaos/**/*.test.ts', 'test/fuzz*.test.ts', 'test/hostile*.test.ts', 'test/access*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One file at a time: the kill tests measure, and the PostgreSQL restart cuts every connection.
    fileParallelism: false,
    globalSetup: ['test/chaos/summary.ts'],
  },
});
