import type { JobProgress } from '../core/job.ts';
import type { Redactor } from '../core/secrets.ts';
import { checkStepName, duplicateStepError, encodeStepResult, type RecordedStep } from '../core/steps.ts';
import type { TaskContext } from '../core/task.ts';
import type { Execution } from './runner.ts';

/**
 * Resumable steps, in two halves (docs/steps.md):
 * - `taskStep`: `ctx.step` where the task runs (the worker, or a sandbox child): the rules of a
 *   name, the JSON of a result, asking for a recorded result and recording a new one through the
 *   execution's report (over IPC in a child);
 * - `AttemptSteps`: the worker's side of one attempt: the job's recorded steps, read once as the
 *   attempt starts, the answers to `recallStep`, and the bar held where earlier attempts left it
 *   while the task goes again through the steps they recorded.
 *
 *   task code            ctx.step(name, fn)
 *                          │ name checked, not used before in this attempt
 *                          ▼
 *   worker               recallStep(name) ── recorded ──▶ the recorded result (fn not run)
 *                          │ not recorded
 *                          ▼
 *   task code            fn() ──▶ JSON, at most 256 KiB
 *                          ▼
 *   worker               recordStep(name, result): the store, fenced by the lease, with the progress
 */

/** `ctx.step` of one attempt; each attempt has its own, so a name may be used once per attempt. */
export function taskStep(execution: Execution): TaskContext['step'] {
  const { report } = execution;
  const used = new Set<string>();
  return async function step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
    checkStepName(name);
    if (used.has(name)) throw duplicateStepError(name);
    used.add(name);
    if (typeof fn !== 'function') throw new TypeError(`ctx.step: the step "${name}" needs a function to run.`);
    // A step is a point to stop at: a cancelled attempt starts no more work.
    execution.signal.throwIfAborted();
    const recalled = await report.recallStep(name);
    if (recalled) return recalled.result as T;
    const json = encodeStepResult(name, await fn());
    // What JSON makes of the result, on this attempt as on any later one that recalls it: code
    // after a step sees the same value whether the step ran or was recorded before.
    const result = JSON.parse(json) as T;
    await report.recordStep(name, result);
    return result;
  };
}

/**
 * The recorded steps of one attempt's job, as read when it started. While the task goes again
 * through them (each answered without running), its reports of a bar below where they left it
 * are held back, so that the bar does not run from 0 again over work already done; the first
 * step that must run, or a report that reaches that bar, ends it.
 */
export class AttemptSteps {
  readonly recorded: readonly RecordedStep[];
  readonly #byName: Map<string, RecordedStep>;
  /** The progress recorded with the last step, while the task has not yet gone past it. */
  #floor: JobProgress | null;

  readonly #redactor: Redactor;

  constructor(recorded: readonly RecordedStep[], redactor: Redactor) {
    this.recorded = recorded;
    this.#redactor = redactor;
    this.#byName = new Map(recorded.map((step) => [step.name, step]));
    this.#floor = this.last?.progress ?? null;
  }

  /** The step recorded last, by whichever attempt: where this one resumes. */
  get last(): RecordedStep | null {
    return this.recorded.at(-1) ?? null;
  }

  /** The recorded result of a step, or null when it must run (the task is then past the recorded ones). */
  recall(name: string): { result: unknown } | null {
    const step = this.#byName.get(name);
    if (step) return { result: step.result };
    this.#floor = null;
    return null;
  }

  /** Whether a progress report is held back: below the resumed bar, on the same scale, while replaying. */
  holdsBack(current: number, total: number | null): boolean {
    const floor = this.#floor;
    if (floor === null) return false;
    if (total === floor.total && current < floor.current) return true;
    this.#floor = null;
    return false;
  }

  /**
   * Checks a result a runner asks to record (a sandbox child is not trusted): the name, the cap,
   * and no secret param in it: a step's result is stored as it is, where a secret param is sealed.
   */
  check(name: string, result: unknown): void {
    const json = encodeStepResult(checkStepName(name), result);
    if (this.#redactor.active && this.#redactor.text(json) !== json) {
      throw new TypeError(
        `ctx.step: the step "${name}" returned the value of a secret param; step results are stored unsealed, so it was not recorded.`,
      );
    }
  }
}
