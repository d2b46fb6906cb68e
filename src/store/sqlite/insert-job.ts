import type Database from 'better-sqlite3';
import { newJobId } from '../../core/ids.ts';
import type { EnqueueInput } from '../store.ts';
import { JOB_COLUMN_LIST, type JobRow, readJobRow } from './rows.ts';

/** The store's statement cache. */
type Prepare = (sql: string) => Database.Statement;

/** What a child job adds to a job's row (ctx.spawn): its parent, its name there, and the parent's owner. */
export interface ChildOf {
  parentId: string;
  childName: string;
  owner: string | null;
}

/**
 * Inserts one queued job and returns its row: the one statement of `enqueue` and of a child's
 * spawn (one prepared statement for both), inside the caller's write transaction. A run time in
 * the past is now: a job is never due before it was added.
 */
export function insertJob(prepare: Prepare, input: EnqueueInput, now: number, child?: ChildOf): JobRow {
  // Not `RETURNING *`: on this table (13 indexes) an INSERT … RETURNING ran at ~20,000 rows/s,
  // the INSERT alone at ~130,000, and the INSERT then a read of the row by its rowid at ~70,000
  // (docs/performance.md, run J). The row is read back as the database holds it, defaults included.
  const { lastInsertRowid } = prepare(
    `INSERT INTO underway_jobs (id, task, status, params, max_attempts, owner, dedupe_key, timeout_seconds,
         retry_of, created_at, run_at, priority, queue, concurrency_key, parent_id, child_name)
       VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    input.id ?? newJobId(),
    input.task,
    JSON.stringify(input.params ?? {}),
    input.maxAttempts,
    child ? child.owner : (input.owner ?? null),
    input.dedupeKey ?? null,
    input.timeoutSeconds ?? null,
    input.retryOf ?? null,
    now,
    input.runAt ? Math.max(Date.parse(input.runAt), now) : now,
    input.priority ?? 0,
    input.queue ?? input.task,
    input.concurrencyKey ?? null,
    child?.parentId ?? null,
    child?.childName ?? null,
  );
  return readJobRow(prepare(`SELECT ${JOB_COLUMN_LIST} FROM underway_jobs WHERE seq = ?`), lastInsertRowid) as JobRow;
}
