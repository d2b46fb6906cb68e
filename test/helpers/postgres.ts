import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Where the tests' PostgreSQL is; override with UNDERWAY_TEST_PG (a connection string to an admin database). */
const ADMIN_URL = process.env.UNDERWAY_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const HOW_TO_START = 'pg_ctlcluster --skip-systemctl-redirect 15 main start';

export interface TestDatabase {
  /** Connection string of this file's own database. */
  url: string;
  /** A new schema name, unique in this database: one per store under test. */
  schema(): string;
  /** Runs one query on a short-lived admin connection to this database. */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Drops the database, closing whatever connections are left. */
  drop(): Promise<void>;
}

/**
 * Creates a fresh database for one test file (`underway_test_<random>`, from the `postgres`
 * database). When the server cannot be reached, fails at once, saying how to start it.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `underway_test_${randomBytes(5).toString('hex')}`;
  await withClient(ADMIN_URL, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  let n = 0;
  return {
    url: url.toString(),
    schema: () => `s${++n}_${randomBytes(3).toString('hex')}`,
    query: (sql, params) => withClient(url.toString(), async (client) => (await client.query(sql, params)).rows),
    drop: () =>
      withClient(ADMIN_URL, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

async function withClient<T>(connectionString: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `The PostgreSQL tests need a server at ${new URL(connectionString).host} (trust auth, user postgres), and it cannot be reached: ${message}. Start it with: ${HOW_TO_START}`,
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
