import type Database from 'better-sqlite3';
import { servedContentType } from '../../core/content-type.ts';
import type { ArtifactInfo, Job, JobStatus } from '../../core/job.ts';
import { toAttemptRecords } from '../attempt-records.ts';

/** A row of underway_jobs as SQLite returns it. */
export interface JobRow {
  seq: number;
  id: string;
  task: string;
  status: JobStatus;
  params: string;
  result: string | null;
  error: string | null;
  progress: string | null;
  attempt: number;
  max_attempts: number;
  cancel_requested: number;
  owner: string | null;
  dedupe_key: string | null;
  timeout_seconds: number | null;
  priority: number;
  queue: string | null;
  concurrency_key: string | null;
  retry_of: string | null;
  /** The parent and the name within it of a child job (migration 9 on SQLite, 10 on PostgreSQL). */
  parent_id: string | null;
  child_name: string | null;
  created_at: number;
  run_at: number;
  started_at: number | null;
  finished_at: number | null;
  worker_id: string | null;
  lease_token: string | null;
  lease_expires_at: number | null;
  /** JSON: the attempts that ended without ending the job (migration 11); null when none did. */
  attempts: string | null;
}

/**
 * The columns of a job row, as the hot statements (claim, finish, enqueue's read-back) name them
 * in their SELECT or RETURNING list and read them: as arrays (`Statement.raw`), each made into a
 * JobRow by one object literal. better-sqlite3 builds a row object property by property: a
 * row of 31 columns took ~6 µs as an object against ~2.5 as an array (docs/performance.md, run M).
 */
export const JOB_COLUMNS = [
  'seq',
  'id',
  'task',
  'status',
  'params',
  'result',
  'error',
  'progress',
  'attempt',
  'max_attempts',
  'cancel_requested',
  'owner',
  'dedupe_key',
  'timeout_seconds',
  'priority',
  'queue',
  'concurrency_key',
  'retry_of',
  'parent_id',
  'child_name',
  'created_at',
  'run_at',
  'started_at',
  'finished_at',
  'worker_id',
  'lease_token',
  'lease_expires_at',
  'attempts',
] as const satisfies readonly (keyof JobRow)[];

/** JOB_COLUMNS as a SELECT or RETURNING list. */
export const JOB_COLUMN_LIST = JOB_COLUMNS.join(', ');

const AT = Object.fromEntries(JOB_COLUMNS.map((name, index) => [name, index])) as Record<keyof JobRow, number>;

/** A JobRow from the values of a row read as an array, JOB_COLUMNS first (anything after them is the caller's). */
export function jobRowOf(v: readonly unknown[]): JobRow {
  return {
    seq: v[AT.seq] as number,
    id: v[AT.id] as string,
    task: v[AT.task] as string,
    status: v[AT.status] as JobStatus,
    params: v[AT.params] as string,
    result: v[AT.result] as string | null,
    error: v[AT.error] as string | null,
    progress: v[AT.progress] as string | null,
    attempt: v[AT.attempt] as number,
    max_attempts: v[AT.max_attempts] as number,
    cancel_requested: v[AT.cancel_requested] as number,
    owner: v[AT.owner] as string | null,
    dedupe_key: v[AT.dedupe_key] as string | null,
    timeout_seconds: v[AT.timeout_seconds] as number | null,
    priority: v[AT.priority] as number,
    queue: v[AT.queue] as string | null,
    concurrency_key: v[AT.concurrency_key] as string | null,
    retry_of: v[AT.retry_of] as string | null,
    parent_id: v[AT.parent_id] as string | null,
    child_name: v[AT.child_name] as string | null,
    created_at: v[AT.created_at] as number,
    run_at: v[AT.run_at] as number,
    started_at: v[AT.started_at] as number | null,
    finished_at: v[AT.finished_at] as number | null,
    worker_id: v[AT.worker_id] as string | null,
    lease_token: v[AT.lease_token] as string | null,
    lease_expires_at: v[AT.lease_expires_at] as number | null,
    attempts: v[AT.attempts] as string | null,
  };
}

/** The rows of a statement whose columns are JOB_COLUMN_LIST, read as arrays. */
export function readJobRows(statement: Database.Statement, ...args: unknown[]): JobRow[] {
  return (statement.raw(true).all(...args) as unknown[][]).map(jobRowOf);
}

/** The first row of a statement whose columns are JOB_COLUMN_LIST, read as an array; undefined when none. */
export function readJobRow(statement: Database.Statement, ...args: unknown[]): JobRow | undefined {
  const v = statement.raw(true).get(...args) as unknown[] | undefined;
  return v === undefined ? undefined : jobRowOf(v);
}

export interface ArtifactRow {
  job_id: string;
  name: string;
  content_type: string;
  size: number;
  created_at: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));
const json = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

export function toArtifactInfo(row: ArtifactRow): ArtifactInfo {
  return {
    name: row.name,
    size: row.size,
    contentType: servedContentType(row.content_type),
    createdAt: iso(row.created_at),
  };
}

export function toJob(row: JobRow, artifacts: ArtifactInfo[]): Job {
  return {
    id: row.id,
    task: row.task,
    status: row.status,
    progress: json(row.progress) as Job['progress'],
    params: json(row.params),
    result: json(row.result),
    error: json(row.error) as Job['error'],
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    cancelRequested: row.cancel_requested === 1,
    owner: row.owner,
    dedupeKey: row.dedupe_key,
    timeoutSeconds: row.timeout_seconds,
    priority: row.priority,
    queue: row.queue ?? row.task,
    concurrencyKey: row.concurrency_key,
    retryOf: row.retry_of,
    parentId: row.parent_id ?? null,
    childName: row.child_name ?? null,
    artifacts,
    createdAt: iso(row.created_at),
    runAt: iso(row.run_at),
    startedAt: isoOrNull(row.started_at),
    finishedAt: isoOrNull(row.finished_at),
    workerId: row.worker_id,
    attempts: toAttemptRecords(json(row.attempts ?? null)),
  };
}

/** JSON for a column; `undefined` (a task that returned nothing) is stored as null. */
export function toJsonColumn(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}
