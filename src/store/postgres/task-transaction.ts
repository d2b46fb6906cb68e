/**
 * Completing a job inside the task's own transaction (`ctx.transaction`), River's `JobCompleteTx`:
 * the task's writes and the job's success commit together, fenced by the attempt's lease. Used
 * by the store in the worker's process, and by a sandbox child, which has no store object and
 * opens this module from the store's `transactionTarget()` on a connection of its own.
 */
import pg from 'pg';
import type { Lease } from '../../core/job.ts';
import type {
  CompletedInTransaction,
  CompleteInTransactionOptions,
  TaskTransactions,
  TransactionClient,
  TransactionTarget,
} from '../store.ts';
import { describeTarget, storeError } from './errors.ts';
import { type JobQueries, jobQueries } from './queries.ts';
import { type JobRow, jsonParam, toJob } from './rows.ts';
import { tablesFor } from './tables.ts';

/**
 * Runs `fn` between BEGIN and COMMIT on a connection of `pool`, then writes the job's success in
 * the same transaction, fenced by the lease. No row updated means the lease is lost (the job was
 * reaped, run elsewhere, or already ended): ROLLBACK, so the task's writes are undone too, and
 * null. A throw in `fn` (or `beforeCommit`) rolls back and reaches the caller as it is; a failure
 * of our own statements is a StoreError. A COMMIT whose answer is lost may have committed: the
 * caller finds out from the job (fenced writes make either case safe).
 */
export async function completeInTransaction<T>(
  pool: pg.Pool,
  sql: JobQueries,
  where: string,
  lease: Lease,
  fn: (client: TransactionClient) => Promise<T>,
  options: CompleteInTransactionOptions = {},
): Promise<CompletedInTransaction<T> | null> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw storeError(error, where);
  }
  const ours = <R>(run: () => Promise<R>) => run().catch((error: unknown) => Promise.reject(storeError(error, where)));
  let broken: Error | undefined;
  try {
    await ours(() => client.query('BEGIN'));
    const value = await fn(client);
    const result = options.beforeCommit ? await options.beforeCommit(value) : value;
    const { rows } = await ours(() =>
      client.query<JobRow>(sql.completeInTransaction, [lease.jobId, lease.token, jsonParam(result)]),
    );
    const row = rows[0];
    if (!row) {
      await ours(() => client.query('ROLLBACK'));
      return null;
    }
    await ours(() => client.query('COMMIT'));
    return { job: toJob(row), value };
  } catch (error) {
    // A connection that cannot even roll back is not given back to the pool.
    await client.query('ROLLBACK').catch((rollback: Error) => {
      broken = rollback;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** What a child needs to reach the store's database: plain JSON, sent over IPC. */
interface RemoteOptions {
  schema: string;
  connectionString: string | null;
  /** The worker's PG* settings, for what the connection string leaves out (the child's environment has none). */
  env: Record<string, string>;
}

/** The target a store gives for its children: this module, and how to reach its database and schema. */
export function taskTransactionTarget(connectionString: string | undefined, schema: string): TransactionTarget {
  const env = Object.fromEntries(
    Object.entries(process.env).filter((entry): entry is [string, string] => /^PG[A-Z]+$/.test(entry[0]) && !!entry[1]),
  );
  // pg's default user is the process's USER, read when pg loads: the child may have another.
  env.PGUSER ??= String(pg.defaults.user ?? '');
  const options: RemoteOptions = { schema, connectionString: connectionString ?? null, env };
  return { module: import.meta.url, options };
}

/**
 * Opens task transactions in a process without the store (a sandbox child): one connection, made
 * on first use and closed after 10 s idle, without `underway.origin`, so every process sharing
 * the store hears the job's end from the NOTIFY of its commit, the worker's own included.
 */
export function openTaskTransactions(raw: unknown): TaskTransactions {
  const options = raw as RemoteOptions;
  if (typeof options?.schema !== 'string' || typeof options.env !== 'object') {
    throw new TypeError('openTaskTransactions: these options do not come from a PostgreSQL store.');
  }
  const { env } = options;
  const connectionString = options.connectionString ?? undefined;
  // Fallbacks under the connection string, as pg would have read them from the worker's environment.
  const pool = new pg.Pool({
    connectionString,
    host: env.PGHOST,
    port: env.PGPORT ? Number(env.PGPORT) : undefined,
    user: env.PGUSER || undefined,
    password: env.PGPASSWORD,
    database: env.PGDATABASE,
    ssl: sslFromMode(env.PGSSLMODE),
    max: 1,
    idleTimeoutMillis: 10_000,
    allowExitOnIdle: true,
    application_name: 'underway task transaction',
  });
  pool.on('error', (error) =>
    process.emitWarning(`underway: a task transaction's PostgreSQL connection failed: ${error.message}`),
  );
  const sql = jobQueries(tablesFor(options.schema));
  const where = describeTarget(connectionString);
  return {
    completeInTransaction: (lease, fn, opts) => completeInTransaction(pool, sql, where, lease, fn, opts),
    close: () => pool.end(),
  };
}

/** PGSSLMODE as pg reads it (connection-parameters.js), since the child's environment has no PG* variables. */
function sslFromMode(mode: string | undefined): pg.PoolConfig['ssl'] {
  if (mode === 'disable') return false;
  if (mode === 'no-verify') return { rejectUnauthorized: false };
  if (mode === 'prefer' || mode === 'require' || mode === 'verify-ca' || mode === 'verify-full') return true;
  return undefined;
}
