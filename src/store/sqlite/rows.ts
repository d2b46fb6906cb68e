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
