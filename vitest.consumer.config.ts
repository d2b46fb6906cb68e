import { defineConfig } from 'vitest/config';

/**
 * The consumer suite (test/consumer/, GitHub issue #12): underway installed from its tarball into
 * real apps. The global setup packs and installs (minutes: better-sqlite3 compiles per Node
 * version); files run one at a time, each starting its own app processes.
 */
export default defineConfig({
  test: {
    include: ['test/consumer/**/*.test.ts'],
    globalSetup: ['test/consumer/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    // `next build` runs in a beforeAll.
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
