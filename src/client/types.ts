/**
 * The shapes the browser sees, as the HTTP API v1 sends them (http-api.md). Written out here
 * because the browser bundle imports nothing from the server's code.
 */

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobProgress {
  current: number;
  /** null: the total is unknown, the bar is indeterminate. */
  total: number | null;
  percent: number | null;
  message: string | null;
  etaSeconds: number | null;
  updatedAt: string;
}

export interface JobError {
  message: string;
  code: string;
  detail?: string | null;
}

/** A job, as `GET /api/jobs/:id` answers and the `snapshot` event carries. */
export interface JobSnapshot {
  id: string;
  task: string;
  status: JobStatus;
  progress: JobProgress | null;
  params: unknown;
  result: unknown;
  error: JobError | null;
  attempt: number;
  maxAttempts: number;
  cancelRequested: boolean;
  owner: string | null;
  createdAt: string;
  runAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  urls: { self: string; page: string; events: string; logs: string };
  artifacts: { name: string; size: number; contentType: string; createdAt: string; url: string }[];
}

/** One line a job printed, as the `log` event carries it. */
export interface LogEntry {
  id: string;
  stream: 'stdout' | 'stderr' | 'system';
  line: string;
  seq: number;
  at: string;
}

/** What `watch` yields: the job as it is now, after each event; `log` also carries the line. */
export type WatchUpdate =
  | { type: 'snapshot' | 'progress' | 'status'; job: JobSnapshot }
  | { type: 'log'; job: JobSnapshot; log: LogEntry };

export function isFinished(status: JobStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}
