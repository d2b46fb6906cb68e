export { inProcessRunner, taskContext } from './in-process-runner.ts';
export type { AbortCause, Execution, ExecutionReport, JobRunner, RunResult } from './runner.ts';
export { AttemptAbort } from './runner.ts';
export type { WorkerOptions } from './worker.ts';
export { createWorker, Worker } from './worker.ts';
