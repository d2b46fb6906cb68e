import { postgresStore } from '../../src/store/postgres/index.ts';
import type { TestDatabase } from './postgres.ts';

export interface MigratedSchemas {
  /** The next schema migrated ahead (waiting for it if need be); past `count`, a fresh one its store migrates. */
  next(): Promise<string>;
  /** Resolves once no migration is under way (await it before dropping the database). */
  settled(): Promise<void>;
}

/**
 * Migrates `count` fresh schemas of the database one after another in the background, so that a
 * suite whose PostgreSQL tests each open a store on a fresh schema does not wait ~100 ms per test
 * for the migrations: created before a suite's SQLite half runs, its PostgreSQL half finds them
 * ready. A failure (the database too) is no unhandled rejection: `next()` rejects with it, in the
 * test that takes that schema.
 */
export function migratedSchemas(database: Promise<TestDatabase>, count: number): MigratedSchemas {
  const ready: Promise<string>[] = [];
  let chain: Promise<unknown> = database;
  for (let i = 0; i < count; i++) {
    const migrated = chain.then(async () => {
      const db = await database;
      const schema = db.schema();
      const store = postgresStore({ connectionString: db.url, schema, poolSize: 1 });
      try {
        await store.migrate();
      } finally {
        await store.close();
      }
      return schema;
    });
    chain = migrated.catch(() => {});
    ready.push(migrated);
  }
  if (count === 0) chain = database.catch(() => {});
  let taken = 0;
  return {
    next: () => ready[taken++] ?? database.then((db) => db.schema()),
    settled: () => chain.then(() => {}),
  };
}
