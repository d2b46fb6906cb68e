export { inProcessRunner, taskContext } from './in-process-runner.ts';
export type { AbortCause, Execution, ExecutionReport, JobRunner, RunResult } from './runner.ts';
export { AttemptAbort } from './runner.ts';
export type { SandboxRunner, SandboxRunnerOptions } from './sandbox/index.ts';
export { DEFAULT_ENV_ALLOW, sandboxRunner } from './sandbox/index.ts';
export type { QueueLimits, WorkerOptions } from './worker.ts';
export { createWorker, Worker } from './worker.ts';
