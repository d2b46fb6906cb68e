/**
 * The shapes the browser sees, as the HTTP API v1 sends them (http-api.md). Type-only imports of
 * the server's own definitions: erased from the bundle, and the browser cannot drift from the API.
 */
import type { JobError, JobProgress, JobStatus } from '../core/job.ts';
import type { JobJson } from '../http/job-json.ts';

export type { JobError, JobProgress, JobStatus };

/** A job, as `GET /api/jobs/:id` answers and the `snapshot` event carries. */
export type JobSnapshot = JobJson;

/** One line a job printed, as the `log` event carries it. */
export interface LogEntry {
  id: string;
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
  seq: number;
  at: string;
  /** The attempt that printed it; null when the server did not say. */
  attempt?: number | null;
}

/** What `watch` yields: the job as it is now, after each event; `log` also carries the line. */
export type WatchUpdate =
  | { type: 'snapshot' | 'progress' | 'status'; job: JobSnapshot }
  | { type: 'log'; job: JobSnapshot; log: LogEntry };

export function isFinished(status: JobStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}
