import { format } from 'node:util';
import { checkContentType } from '../core/content-type.ts';
import { serializeError } from '../core/errors.ts';
import { checkProgressArgs } from '../core/progress.ts';
import type { TaskContext } from '../core/task.ts';
import { taskChildren } from './children.ts';
import { exec } from './exec.ts';
import type { Execution, JobRunner, RunResult } from './runner.ts';
import { taskStep } from './steps.ts';
import { transactionMethod } from './task-transaction.ts';

/**
 * Runs task code in the worker's own process. Fast and simple, but a task that never yields or
 * ignores its signal cannot be stopped, and a leak or crash takes the worker with it: for tests
 * and trivial tasks. Everything else runs sandboxed.
 */
export function inProcessRunner(): JobRunner {
  return {
    async run(execution: Execution): Promise<RunResult> {
      try {
        const result = await execution.task.run(execution.params, taskContext(execution));
        return { ok: true, result };
      } catch (error) {
        return { ok: false, error: serializeError(error) };
      }
    },
    async close() {},
  };
}

/** The `ctx` task code sees, wired to the execution's report. Shared by every runner. */
export function taskContext(execution: Execution): TaskContext {
  const { job, report } = execution;
  return {
    job: Object.freeze({
      id: job.id,
      task: job.task,
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      owner: job.owner,
    }),
    // Read when the task asks: most tasks never do, and an AbortSignal per attempt is not free.
    get signal() {
      return execution.signal;
    },
    progress(current, total, message) {
      const checked = checkProgressArgs(current, total);
      report.progress(checked.current, checked.total, message);
    },
    message(text) {
      report.message(String(text));
    },
    log(...args) {
      for (const line of format(...args).split('\n')) report.log('stdout', line);
    },
    throwIfCancelled() {
      execution.signal.throwIfAborted();
    },
    async artifact(name, source, options) {
      // Checked where the task gives it, before any byte moves (in a sandbox, before IPC): a bad
      // type is the task's error to see, not a broken download later.
      const type = options?.contentType;
      return report.artifact(name, source, type === undefined || type === null ? undefined : checkContentType(type));
    },
    exec(command, args, options) {
      return exec(command, args, options, {
        signal: execution.signal,
        log: (stream, line) => report.log(stream, line),
      });
    },
    step: taskStep(execution),
    transaction: transactionMethod(execution),
    ...taskChildren(execution),
  };
}
