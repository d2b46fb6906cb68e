import type { Pool } from 'pg';
import { StoreError } from '../../core/errors.ts';
import { migrations } from './migrations.ts';
import type { Tables } from './tables.ts';

/** First key of the two-key advisory lock taken while migrating: "undw". */
const LOCK_CLASS = 0x756e6477;

/**
 * Brings the schema up to date in one transaction, under a transaction-level advisory lock keyed
 * by the schema name: several processes starting at once take turns (even `CREATE SCHEMA IF NOT
 * EXISTS` races without it), and the ones that come second find nothing left to do.
 */
export async function migrateSchema(pool: Pool, t: Tables): Promise<void> {
  const steps = migrations(t);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLASS, t.schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${t.quotedSchema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${t.migrations} (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${t.migrations}`,
    );
    const version = rows[0]?.version ?? 0;
    if (version > steps.length) {
      throw new StoreError(
        'SCHEMA_TOO_NEW',
        `Schema ${t.schema} was written by a newer underway (schema ${version}, this one knows ${steps.length}). Upgrade underway.`,
      );
    }
    for (let step = version; step < steps.length; step++) {
      await client.query(steps[step] as string);
      await client.query(`INSERT INTO ${t.migrations} (version) VALUES ($1)`, [step + 1]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
