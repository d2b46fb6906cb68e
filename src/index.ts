/**
 * underway: long-running background jobs for TypeScript web apps, with live progress.
 * The core entry point: define tasks, start jobs, run workers. Stores and the HTTP layer have
 * their own entry points (`underway/sqlite`, `underway/postgres`, `underway/http`).
 */

export type { Backoff } from './core/backoff.ts';
export type { ChildJob, ChildOutcome, SpawnOptions } from './core/children.ts';
export { WaitingForChildren } from './core/children.ts';
export {
  ChildJobError,
  ConflictError,
  NotFoundError,
  PermanentJobError,
  StoreError,
  TooLargeError,
  UnderwayError,
  ValidationError,
} from './core/errors.ts';
export type { ArtifactInfo, Job, JobError, JobProgress, JobStatus, Lease, Outcome } from './core/job.ts';
export { isTerminal, JOB_STATUSES, MAX_PRIORITY, MIN_PRIORITY } from './core/job.ts';
export { TaskRegistry } from './core/registry.ts';
export type { SecretKeySource } from './core/secrets.ts';
export { hideSecrets, SecretError, secret } from './core/secrets.ts';
export type {
  AnyTask,
  ArtifactSource,
  ChildOutcomes,
  ChildResults,
  ExecOptions,
  ExecResult,
  Retention,
  SandboxOptions,
  SpawnableTask,
  Task,
  TaskContext,
  TaskJob,
  TaskNotify,
  TaskOptions,
  TaskParams,
  TaskParamsInput,
  TaskResult,
  TaskSchedule,
  TaskTransactionClient,
} from './core/task.ts';
export { defineTask, isTask } from './core/task.ts';
export type { BulkAction, BulkFilter, BulkRequest, BulkResult, BulkSkip } from './queue/bulk.ts';
export { BULK_ACTIONS, bulk } from './queue/bulk.ts';
export type { QueueLimits } from './queue/limits.ts';
export type { PauseSubject, Queue, QueueView, Started, StartOptions } from './queue/queue.ts';
export { createQueue } from './queue/queue.ts';
export type { JobWaiting, WaitingReason } from './queue/waiting.ts';
export type { ScheduleInput, ScheduleView } from './schedule/schedules.ts';
export { Schedules } from './schedule/schedules.ts';
export type {
  JobEvent,
  JobFilter,
  JobPage,
  JobStats,
  NewStep,
  Pause,
  QueueLimit,
  QueueUsage,
  RecordedStep,
  RunTimes,
  Schedule,
  StatsBucket,
  StatsRequest,
  Store,
  WorkerInfo,
  WorkerRecord,
} from './store/store.ts';
export { inProcessRunner } from './worker/in-process-runner.ts';
export type { JobRunner } from './worker/runner.ts';
export type { SandboxRunner, SandboxRunnerOptions } from './worker/sandbox/index.ts';
export { sandboxRunner } from './worker/sandbox/index.ts';
export type { WorkerOptions } from './worker/worker.ts';
export { createWorker, Worker } from './worker/worker.ts';
