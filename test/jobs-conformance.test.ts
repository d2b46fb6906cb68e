import { afterAll } from 'vitest';
import { postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';
import { describeJobs } from './jobs-conformance.ts';

const dir = tempDir('underway-jobs-');
afterAll(() => dir.cleanup());
let n = 0;

describeJobs('sqlite', { create: async () => sqliteStore({ file: dir.file(`jobs-${++n}.db`) }) });

const db = await createTestDatabase();
afterAll(() => db.drop());

describeJobs('postgres', {
  create: async () => {
    const store = postgresStore({ connectionString: db.url, schema: db.schema(), poolSize: 4 });
    await store.migrate();
    return store;
  },
});
