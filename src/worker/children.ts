import {
  type ChildJob,
  type ChildOutcome,
  type ChildState,
  checkChildName,
  defaultChildName,
  WaitingForChildren,
  waitVerdict,
} from '../core/children.ts';
import { ChildJobError } from '../core/errors.ts';
import type { TaskContext } from '../core/task.ts';
import type { Execution } from './runner.ts';

/**
 * `ctx.spawn` and `ctx.wait` where the task runs (the worker, or a sandbox child, whose report
 * asks the worker over IPC); the worker's side is child-jobs.ts (docs/children.md).
 *
 *   task code     ctx.spawn(task, params)  ── name: child-<n> in call order, or the one given
 *                   ▼
 *   worker        params checked and sealed, the child added (or the parent's child of that name found)
 *
 *   task code     ctx.wait(children)
 *                   ▼
 *   worker        their states; if one is unfinished (and none failed), the attempt will end waiting
 *                   ▼
 *   task code     results | ChildJobError | WaitingForChildren (the run stops; it runs again later)
 */
export function taskChildren(execution: Execution): Pick<TaskContext, 'spawn' | 'wait'> {
  const { report } = execution;
  let unnamed = 0;
  return {
    async spawn(task, params, options = {}) {
      // Counted before the first await: the n-th call is child-n, however the spawns interleave.
      const name = options.name === undefined ? defaultChildName(unnamed++) : checkChildName(options.name);
      const taskName = typeof task === 'string' ? task : (task as { name?: unknown } | null)?.name;
      if (typeof taskName !== 'string') throw new TypeError('ctx.spawn: give a task, or its name.');
      execution.signal.throwIfAborted();
      const { name: _, ...rest } = options;
      // biome-ignore lint/suspicious/noExplicitAny: typed by TaskContext['spawn'], which this implements.
      return (await report.spawn({ task: taskName, params, name, options: rest })) as any;
    },
    // biome-ignore lint/suspicious/noExplicitAny: the overloads of TaskContext['wait'] type the answer.
    async wait(children: readonly ChildJob[], options?: { settle?: boolean }): Promise<any> {
      if (!Array.isArray(children)) throw new TypeError('ctx.wait: give an array of the children ctx.spawn returned.');
      const settle = options?.settle === true;
      if (children.length === 0) return [];
      execution.signal.throwIfAborted();
      const states = await report.wait({ ids: children.map((child) => child.id), settle });
      const verdict = waitVerdict(states, settle);
      if (verdict.kind === 'fail') throw childError(verdict.child);
      if (verdict.kind === 'sleep') throw new WaitingForChildren(verdict.unfinished, states.length);
      return settle ? states.map((state, i) => outcomeOf(children[i] as ChildJob, state)) : states.map((s) => s.result);
    },
  } as Pick<TaskContext, 'spawn' | 'wait'>;
}

function childError(state: ChildState): ChildJobError {
  const status = state.status === 'cancelled' ? 'cancelled' : 'failed';
  const error = state.error ?? { message: `It ${status}.`, code: status === 'cancelled' ? 'CANCELLED' : 'TASK_ERROR' };
  return new ChildJobError(
    { id: state.id, name: state.name, task: state.task, status },
    { message: error.message, code: error.code },
  );
}

function outcomeOf(child: ChildJob, state: ChildState): ChildOutcome {
  if (state.status === 'succeeded') return { child, status: 'succeeded', result: state.result };
  const status = state.status === 'cancelled' ? 'cancelled' : 'failed';
  return { child, status, error: state.error ?? { message: `It ${status}.`, code: 'TASK_ERROR' } };
}
