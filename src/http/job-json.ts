import type { ArtifactInfo, IsoDate, Job, JobError, JobProgress, JobStatus } from '../core/job.ts';
import type { TaskRegistry } from '../core/registry.ts';
import type { JobWaiting } from '../queue/waiting.ts';
import { redactParams } from './task-schemas.ts';

/** A job as the API shows it (http-api.md, "Job object"), plus a few additive fields. */
export interface JobJson {
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
  createdAt: IsoDate;
  runAt: IsoDate;
  startedAt: IsoDate | null;
  finishedAt: IsoDate | null;
  urls: { self: string; page: string; events: string; logs: string };
  /** Additive: the files the job produced, each with its download URL. */
  artifacts: (ArtifactInfo & { url: string })[];
  /** Additive: the job this one retries. */
  retryOf: string | null;
  timeoutSeconds: number | null;
  /** Additive: claimed before due jobs of lower priority. */
  priority: number;
  /** Additive: the queue it waits in, and the key it counts under for the queue's per-key limit. */
  queue: string;
  concurrencyKey: string | null;
  /**
   * Additive, on reads (`GET /jobs/:id`, `GET /jobs`): why a queued job has not started
   * ("waiting: queue full (2 of 2 running)"), null once it has.
   */
  waiting?: JobWaiting | null;
}

/** Where things live, to build `urls`. */
export interface UrlPaths {
  basePath: string;
  pagesPath: string;
}

export interface JobJsonOptions {
  paths: UrlPaths;
  tasks: TaskRegistry;
  /** Include `error.detail` (stack, stderr tail): for the owner and admins only. */
  detail: boolean;
  /** The caller came with a share link: links carry it on, so the page can follow them. */
  shareToken?: string | null;
  /** Why it waits, read for this answer (`Queue.waiting`); left out of the JSON when not given. */
  waiting?: JobWaiting | null | undefined;
}

export function jobUrls(id: string, paths: UrlPaths, shareToken?: string | null) {
  const base = `${paths.basePath}/jobs/${encodeURIComponent(id)}`;
  const q = shareToken ? `?share=${encodeURIComponent(shareToken)}` : '';
  return {
    self: `${base}${q}`,
    page: `${paths.pagesPath}/jobs/${encodeURIComponent(id)}${q}`,
    events: `${base}/events${q}`,
    logs: `${base}/logs${q}`,
    artifact: (name: string) => `${base}/artifacts/${encodeURIComponent(name)}${q}`,
  };
}

/** Shapes a stored job for the API: secret params redacted, error detail only for those allowed. */
export function toJobJson(job: Job, options: JobJsonOptions): JobJson {
  const { artifact, ...urls } = jobUrls(job.id, options.paths, options.shareToken);
  return {
    id: job.id,
    task: job.task,
    status: job.status,
    progress: job.progress,
    params: redactParams(job.params, options.tasks.get(job.task)),
    result: job.result ?? null,
    error: publicError(job.error, options.detail),
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    cancelRequested: job.cancelRequested,
    owner: job.owner,
    createdAt: job.createdAt,
    runAt: job.runAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    urls,
    artifacts: job.artifacts.map((info) => ({ ...info, url: artifact(info.name) })),
    retryOf: job.retryOf,
    timeoutSeconds: job.timeoutSeconds,
    priority: job.priority,
    queue: job.queue,
    concurrencyKey: job.concurrencyKey,
    ...(options.waiting !== undefined && { waiting: options.waiting }),
  };
}

export function publicError(error: JobError | null | undefined, detail: boolean): JobError | null {
  if (!error) return null;
  return { message: error.message, code: error.code, detail: detail ? (error.detail ?? null) : null };
}
