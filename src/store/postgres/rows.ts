import { servedContentType } from '../../core/content-type.ts';
import type { ArtifactInfo, Job, JobError, JobProgress, JobStatus } from '../../core/job.ts';
import { toAttemptRecords } from '../attempt-records.ts';
import type { Tables } from './tables.ts';

/** A row of jobs as pg returns it (jsonb parsed, timestamptz as Date, bigint as string), with its artifacts. */
export interface JobRow {
  id: string;
  seq: string;
  task: string;
  status: JobStatus;
  params: unknown;
  result: unknown;
  error: JobError | null;
  progress: JobProgress | null;
  attempt: number;
  max_attempts: number;
  cancel_requested: boolean;
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
  created_at: Date;
  run_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  lease_token: string | null;
  /** The worker of the latest attempt (kept after it ends). */
  worker_id: string | null;
  /** The attempts that ended without ending the job (migration 12); null when none did. */
  attempts: unknown;
  /** From the artifacts subquery: json, timestamps as text. */
  artifacts: { name: string; size: number; contentType: string; createdAt: string }[];
}

/**
 * The job's own columns a Job is made of, `j` being the jobs table's alias. Not `j.*`: that would
 * also carry the progress samples (up to ~6 KB a job), the lease's expiry, the children's counters
 * and the change xid to every claim, finish and list, for pg to parse and nobody to read.
 */
export const JOB_ROW = `j.id, j.seq, j.task, j.status, j.params, j.result, j.error, j.progress, j.attempt,
  j.max_attempts, j.cancel_requested, j.owner, j.dedupe_key, j.timeout_seconds, j.priority, j.queue,
  j.concurrency_key, j.retry_of, j.parent_id, j.child_name, j.created_at, j.run_at, j.started_at,
  j.finished_at, j.lease_token, j.worker_id, j.attempts`;

/**
 * The columns every job-returning query selects (or returns), `j` being the jobs table's alias:
 * the row plus its complete artifacts, so that one round trip gives a whole Job.
 */
export function jobColumns(t: Tables): string {
  return `${JOB_ROW}, (SELECT coalesce(json_agg(json_build_object('name', a.name, 'size', a.size, 'contentType',
      a.content_type, 'createdAt', a.created_at) ORDER BY a.created_at, a.name), '[]'::json)
    FROM ${t.artifacts} a WHERE a.job_id = j.id AND a.complete) AS artifacts`;
}

const iso = (date: Date): string => date.toISOString();
const isoOrNull = (date: Date | null): string | null => (date === null ? null : iso(date));

export function toArtifactInfo(row: {
  name: string;
  size: number | string;
  contentType: string;
  createdAt: string | Date;
}): ArtifactInfo {
  return {
    name: row.name,
    size: Number(row.size),
    contentType: servedContentType(row.contentType),
    createdAt: iso(new Date(row.createdAt)),
  };
}

export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    task: row.task,
    status: row.status,
    progress: row.progress ?? null,
    params: row.params,
    result: row.result ?? null,
    error: row.error ?? null,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    cancelRequested: row.cancel_requested,
    owner: row.owner,
    dedupeKey: row.dedupe_key,
    timeoutSeconds: row.timeout_seconds,
    priority: row.priority,
    queue: row.queue ?? row.task,
    concurrencyKey: row.concurrency_key,
    retryOf: row.retry_of,
    parentId: row.parent_id ?? null,
    childName: row.child_name ?? null,
    artifacts: (row.artifacts ?? []).map(toArtifactInfo),
    createdAt: iso(row.created_at),
    runAt: iso(row.run_at),
    startedAt: isoOrNull(row.started_at),
    finishedAt: isoOrNull(row.finished_at),
    workerId: row.worker_id ?? null,
    attempts: toAttemptRecords(row.attempts),
  };
}

/** A JSON `\u0000` escape not itself escaped: jsonb refuses it ("unsupported Unicode escape sequence"). */
const NUL_ESCAPE = /(?<!\\)((?:\\\\)*)\\u0000/g;

/**
 * JSON text for a jsonb parameter; `undefined` (a task that returned nothing) becomes SQL NULL,
 * and NUL characters become U+FFFD so that a result holding one does not make `finish` fail.
 */
export function jsonParam(value: unknown): string | null {
  if (value === undefined) return null;
  const json = JSON.stringify(value);
  return json.includes('\\u0000') ? json.replace(NUL_ESCAPE, '$1\\ufffd') : json;
}
