import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import Database from 'better-sqlite3';
import { Hono } from 'hono';
import pg from 'pg';
import type { BenchServer, HttpChildInput } from './types.ts';

/** One insert and a row count, whatever the store. */
interface FloorTable {
  insert(id: string, task: string, params: string): Promise<void>;
  rows(): Promise<number>;
  close(): Promise<void>;
  settings: string;
}

/**
 * The floor under underway's `POST /api/jobs`: a bare Hono app on @hono/node-server (what
 * underway's own server runs on) whose handler parses the JSON body and inserts one row into
 * the same kind of store with the same durability, and answers 201 with the id. No auth, no
 * validation, no job model: what any HTTP start must at least cost.
 */
export async function startFloorServer(input: HttpChildInput): Promise<BenchServer> {
  const table = input.store === 'pg' ? await pgTable(input.pgUrl as string) : sqliteTable(input.dir as string);
  const app = new Hono();
  app.post('/api/jobs', async (c) => {
    const body = await c.req.json<{ task: string; params?: unknown }>();
    const id = randomUUID();
    await table.insert(id, body.task, JSON.stringify(body.params ?? {}));
    return c.json({ id }, 201);
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    settings: `Hono on @hono/node-server, c.req.json() + one INSERT; ${table.settings}`,
    rows: () => table.rows(),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await table.close();
    },
  };
}

/** A WAL file with synchronous=NORMAL, as underway's SQLite store opens its own (src/store/sqlite/open.ts). */
function sqliteTable(dir: string): FloorTable {
  const db = new Database(join(dir, 'floor.db'), { timeout: 5_000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE jobs (id TEXT PRIMARY KEY, task TEXT NOT NULL, params TEXT NOT NULL, created_at INTEGER NOT NULL)',
  );
  const insert = db.prepare('INSERT INTO jobs (id, task, params, created_at) VALUES (?, ?, ?, ?)');
  return {
    settings: 'better-sqlite3, WAL, synchronous=NORMAL',
    insert: async (id, task, params) => {
      insert.run(id, task, params, Date.now());
    },
    rows: async () => (db.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n,
    close: async () => {
      db.close();
    },
  };
}

/** A pg Pool of 10 (underway's default pool size), every commit waiting for the WAL flush. */
async function pgTable(url: string): Promise<FloorTable> {
  const pool = new pg.Pool({ connectionString: url, max: 10, options: '-c synchronous_commit=on' });
  await pool.query(
    'CREATE TABLE jobs (id text PRIMARY KEY, task text NOT NULL, params jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())',
  );
  return {
    settings: 'pg Pool max 10, synchronous_commit on',
    insert: async (id, task, params) => {
      await pool.query('INSERT INTO jobs (id, task, params) VALUES ($1, $2, $3)', [id, task, params]);
    },
    rows: async () => Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM jobs')).rows[0]?.n ?? 0),
    close: () => pool.end(),
  };
}
