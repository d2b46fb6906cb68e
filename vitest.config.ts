import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Inside the tests the package's own name means its sources; outside, in the CLI processes the
 * tests start, it means dist/ (the package's exports), as it does for a user.
 */
const ENTRIES = Object.entries({
  'underway/sqlite': 'src/store/sqlite/index.ts',
  'underway/postgres': 'src/store/postgres/index.ts',
  'underway/config': 'src/config/index.ts',
  'underway/worker': 'src/worker/index.ts',
  'underway/http': 'src/http/index.ts',
  'underway/fastify': 'src/http/fastify.ts',
  'underway/next': 'src/http/next.ts',
  'underway/client': 'src/client/index.ts',
});
export const ownSources = [
  ...ENTRIES.map(([find, path]) => ({ find, replacement: fileURLToPath(new URL(path, import.meta.url)) })),
  { find: /^underway$/, replacement: fileURLToPath(new URL('src/index.ts', import.meta.url)) },
];

export default defineConfig({
  resolve: { alias: ownSources },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The packed tarball in fresh apps: `npm run test:consumer` (vitest.consumer.config.ts).
    exclude: ['test/consumer/**', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
