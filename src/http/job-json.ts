import type { ChildSummary } from '../core/children.ts';
import type { ArtifactInfo, AttemptRecord, IsoDate, Job, JobError, JobProgress, JobStatus } from '../core/job.ts';
import type { TaskRegistry } from '../core/registry.ts';
import type { StepSummary } from '../core/steps.ts';
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
  /** Additive: the job whose `ctx.spawn` started this one, and this one's name among its children. */
  parentId: string | null;
  childName: string | null;
  /** Additive: the worker running its current attempt, or that ran its latest one (null on a share link). */
  workerId: string | null;
  /**
   * Additive: the attempts that ended without ending the job, oldest first (the last 50): retried,
   * stalled, released by a stopping worker, asleep for its children. The current or final attempt
   * is the job itself (`attempt`, `startedAt`, `finishedAt`, `error`).
   */
  attempts: AttemptRecord[];
  /**
   * Additive, on `GET /jobs/:id` and the job page: how its child jobs stand, with where to list
   * them (`GET /jobs?parent=<id>`); null when it has none.
   */
  children?: JobChildrenJson | null;
  /**
   * Additive, on reads (`GET /jobs/:id`, `GET /jobs`): why a queued job has not started
   * ("waiting: queue full (2 of 2 running)"), null once it has.
   */
  waiting?: JobWaiting | null;
  /**
   * Additive, on `GET /jobs/:id` and the job page: the steps recorded (`ctx.step`), and after which
   * one the latest attempt resumed (null when it found none recorded before it).
   */
  steps?: StepSummary;
}

/** How a job's children stand (see `JobJson.children`). */
export interface JobChildrenJson extends ChildSummary {
  /** `GET /jobs?parent=<id>`: the children themselves, newest first. */
  url: string;
}

/** A job's children for its JSON: their counts and where to list them, or null without any. */
export function childrenJson(id: string, summary: ChildSummary, paths: UrlPaths): JobChildrenJson | null {
  if (summary.total === 0) return null;
  return { ...summary, url: `${paths.basePath}/jobs?parent=${encodeURIComponent(id)}` };
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
  /** Its steps, read for this answer; left out of the JSON when not given. */
  steps?: StepSummary | undefined;
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
    parentId: job.parentId,
    childName: job.childName,
    // Worker ids name hosts: for those who see error details (owner, admins), not share links.
    workerId: options.detail ? job.workerId : null,
    attempts: options.detail ? job.attempts : job.attempts.map((a) => ({ ...a, workerId: null })),
    ...(options.waiting !== undefined && { waiting: options.waiting }),
    ...(options.steps !== undefined && { steps: options.steps }),
  };
}

export function publicError(error: JobError | null | undefined, detail: boolean): JobError | null {
  if (!error) return null;
  return { message: error.message, code: error.code, detail: detail ? (error.detail ?? null) : null };
}
