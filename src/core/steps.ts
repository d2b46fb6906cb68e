import type { IsoDate, JobProgress } from './job.ts';

/**
 * Resumable steps (`ctx.step`, docs/steps.md): a step's result is recorded durably when it
 * returns, and a later attempt of the same job gets the recorded result back instead of running
 * the step again. The rules here are checked where the task calls (before anything crosses to a
 * worker) and again by the worker, which trusts no sandbox child.
 */

/** Longest step name, in characters. */
export const MAX_STEP_NAME_LENGTH = 200;

/**
 * Largest recorded result, in bytes of JSON (UTF-8). A step's result is read back by every later
 * attempt and kept with the job: it is meant for ids, counts and small summaries; a file belongs
 * in an artifact.
 */
export const MAX_STEP_RESULT_BYTES = 256 * 1024;

/** What a step records under an attempt's lease (the store adds the attempt and the time). */
export interface NewStep {
  name: string;
  /** A JSON value (undefined is not one: `encodeStepResult` turns it into null). */
  result: unknown;
  /** The job's progress when the step returned: where a later attempt's bar starts. */
  progress: JobProgress | null;
}

/** A step as recorded. */
export interface RecordedStep extends NewStep {
  /** The attempt that ran it. */
  attempt: number;
  recordedAt: IsoDate;
}

/** Throws a TypeError naming what is wrong with a step's name. */
export function checkStepName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_STEP_NAME_LENGTH) {
    const shown = typeof name === 'string' ? JSON.stringify(name.slice(0, 40)) : String(name);
    throw new TypeError(
      `ctx.step: a step's name must be a string of 1 to ${MAX_STEP_NAME_LENGTH} characters, not ${shown}${typeof name === 'string' && name.length > 40 ? '…' : ''}.`,
    );
  }
  return name;
}

/** The error of a name used twice in one attempt: the second would get the first one's record on a later attempt. */
export function duplicateStepError(name: string): TypeError {
  return new TypeError(
    `ctx.step: the step "${name}" was already used in this attempt. Each step needs a name of its own (in a loop, e.g. \`'file-' + i\`).`,
  );
}

/**
 * The JSON a step's result is recorded as: undefined (and what JSON drops, a function) as null;
 * a value JSON cannot hold (a BigInt, a cycle) is a TypeError, one past MAX_STEP_RESULT_BYTES a
 * RangeError, each naming the step.
 */
export function encodeStepResult(name: string, value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TypeError(`ctx.step: the step "${name}" returned a value that is not JSON: ${reason}`);
  }
  if (json === undefined) return 'null';
  // A UTF-8 character takes at most 3 bytes per UTF-16 unit: most results need no measuring.
  if (json.length * 3 > MAX_STEP_RESULT_BYTES) {
    const bytes = new TextEncoder().encode(json).length;
    if (bytes > MAX_STEP_RESULT_BYTES) {
      throw new RangeError(
        `ctx.step: the step "${name}" returned ${bytes} bytes of JSON; at most ${MAX_STEP_RESULT_BYTES} are recorded. Save large data as an artifact and return its name.`,
      );
    }
  }
  return json;
}

/** How a job's latest attempt resumed: after which step, with how many recorded by earlier runs. */
export interface StepResume {
  attempt: number;
  afterStep: string;
  recorded: number;
}

/** What the API and the job page show of a job's steps. */
export interface StepSummary {
  /** Steps recorded, by every attempt. */
  recorded: number;
  /** How the job's latest attempt resumed, or null when it found nothing recorded. */
  resumed: StepResume | null;
}

/**
 * Summarises a job's steps (as `listSteps` gives them, in the order recorded). The latest attempt
 * resumed after the steps recorded before it started: told by time, not by attempt number,
 * because a run handed back at shutdown does not count as an attempt and the next keeps its number.
 */
export function summarizeSteps(
  steps: readonly RecordedStep[],
  job: { attempt: number; startedAt: IsoDate | null },
): StepSummary {
  const started = job.startedAt === null ? Number.NEGATIVE_INFINITY : Date.parse(job.startedAt);
  const earlier = steps.filter((step) => Date.parse(step.recordedAt) < started);
  const last = earlier.at(-1);
  return {
    recorded: steps.length,
    resumed: last ? { attempt: job.attempt, afterStep: last.name, recorded: earlier.length } : null,
  };
}

/** The log line of an attempt that found steps recorded by earlier attempts. */
export function resumedLine(steps: readonly RecordedStep[]): string {
  const last = steps.at(-1);
  if (!last) return '';
  const count = steps.length === 1 ? "1 of the job's steps was" : `${steps.length} of the job's steps were`;
  return `resumed: ${count} recorded by earlier attempts; continuing after step ${last.name}`;
}
