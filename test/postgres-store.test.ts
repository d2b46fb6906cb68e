import { afterAll } from 'vitest';
import type { PostgresStore } from '../src/store/postgres/index.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { describeStore } from './store-conformance.ts';

const db = await createTestDatabase();
afterAll(() => db.drop());

const open = async (schema = db.schema(), extra: Parameters<typeof postgresStore>[0] = {}): Promise<PostgresStore> => {
  const store = postgresStore({ connectionString: db.url, schema, poolSize: 4, ...extra });
  await store.migrate();
  return store;
};

describeStore('postgres', { create: () => open() });
