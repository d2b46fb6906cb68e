import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';

/** An admin connection to the bench's PostgreSQL; override with UNDERWAY_BENCH_PG (like UNDERWAY_TEST_PG for tests). */
export const ADMIN_URL =
  process.env.UNDERWAY_BENCH_PG ?? process.env.UNDERWAY_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** Where BullMQ's Redis is; override with UNDERWAY_BENCH_REDIS. */
export const REDIS_URL = process.env.UNDERWAY_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
/** Every Redis key the bench makes starts with this, so cleanup touches nothing else. */
export const REDIS_PREFIX = 'underway-bench';

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh database for one measurement (`underway_bench_<random>`); `drop` removes it, closing what is left connected. */
export async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `underway_bench_${randomBytes(5).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

/** Drops databases a crashed earlier bench run left behind (only ours, by name). */
export async function dropLeftoverDatabases(): Promise<number> {
  return admin(async (client) => {
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'underway\\_bench\\_%'",
    );
    for (const row of rows) await client.query(`DROP DATABASE IF EXISTS ${row.datname} WITH (FORCE)`);
    return rows.length;
  });
}

/** A Redis key prefix of its own for one measurement; `drop` deletes every key under it. */
export function redisNamespace(): { prefix: string; drop(): Promise<number> } {
  const prefix = `${REDIS_PREFIX}:${randomBytes(4).toString('hex')}`;
  return { prefix, drop: () => deleteRedisKeys(`${prefix}:*`) };
}

/** Deletes the keys matching `pattern` (SCAN, 1,000 at a time); returns how many. */
export async function deleteRedisKeys(pattern = `${REDIS_PREFIX}:*`): Promise<number> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/** Whether PostgreSQL and Redis answer, so a run can say what it skips and why. */
export async function probe(): Promise<{ postgres: string | null; redis: string | null }> {
  const postgres = await admin(async (client) => {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version ?? 'unknown';
  }).catch(() => null);
  const redis = await (async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    try {
      await client.connect();
      const info = await client.info('server');
      return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    } catch {
      return null;
    } finally {
      client.disconnect();
    }
  })();
  return { postgres, redis };
}
