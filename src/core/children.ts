import type { IsoDate, Job, JobError, JobProgress, JobStatus } from './job.ts';
import { makeProgress } from './progress.ts';

/**
 * Child jobs (`ctx.spawn`, `ctx.wait`; docs/children.md): a task starts jobs of its own and waits
 * for their results without holding a worker slot while they run.
 *
 * Glossary
 * - child: a job started by another job's attempt, its parent: an ordinary job of its task, with
 *   `parentId` set and the parent's owner.
 * - name: a child's identity within its parent (`child-0`, `child-1`… in the order an attempt
 *   spawns them, or a name the task gives). Spawning a name the parent has already returns that
 *   child: a parent that runs again gets its children back, never a second set.
 *
 * A parent that waits for unfinished children ends its attempt (not counted as one) and sleeps:
 *
 *   running ──ctx.wait, a child unfinished──▶ queued, runAt = WAITING_FOR_CHILDREN_AT (no claim takes it)
 *      ▲                                         │ its last child ends, or one fails: runAt = now,
 *      │                                         │ in the store, in that child's own transaction
 *      └──────── claimed again: the task runs ◀──┘ from the start; spawns return the same children,
 *                                                  now ended, and the wait returns their results
 */

/**
 * The `runAt` of a parent asleep until its children end: the end of time, so that claims (which
 * take jobs due now) pass it by. The store moves it to now when the last child ends.
 */
export const WAITING_FOR_CHILDREN_AT: IsoDate = '9999-12-31T00:00:00.000Z';
/** The same moment in milliseconds since the epoch (how SQLite keeps times). */
export const WAITING_FOR_CHILDREN_MS = Date.parse(WAITING_FOR_CHILDREN_AT);

/** Whether a job is asleep until its children end. */
export function isWaitingForChildren(job: Pick<Job, 'status' | 'runAt'>): boolean {
  return job.status === 'queued' && job.runAt === WAITING_FOR_CHILDREN_AT;
}

/** Typing only: the result a child's task returns. */
declare const resultType: unique symbol;

/** A child job as `ctx.spawn` returns it: what `ctx.wait` waits for. */
export interface ChildJob<Result = unknown> {
  readonly id: string;
  /** Its name among its parent's children. */
  readonly name: string;
  readonly task: string;
  /** True when this spawn started it; false when the parent had it already (an earlier run). */
  readonly created: boolean;
  readonly [resultType]?: Result;
}

/** How a child ended, as `ctx.wait(children, { settle: true })` gives it. */
export type ChildOutcome<Result = unknown> =
  | { readonly child: ChildJob<Result>; readonly status: 'succeeded'; readonly result: Result }
  | { readonly child: ChildJob<Result>; readonly status: 'failed' | 'cancelled'; readonly error: JobError };

/** Options of `ctx.spawn`; `undefined` means the default. */
export interface SpawnOptions {
  /**
   * Its identity within the parent (letters, digits and . _ : -, at most 128). Default `child-<n>`,
   * n counting this attempt's spawns from 0: the same code spawning in the same order gets the
   * same children back. Name them when the order may change between runs.
   */
  name?: string | undefined;
  /** Default the child task's, else 0. */
  priority?: number | undefined;
  /** Default the child task's (3). */
  maxAttempts?: number | undefined;
  /** Default the child task's. */
  timeoutSeconds?: number | undefined;
  /** Default what the child task's `concurrencyKey` makes of its params. */
  concurrencyKey?: string | undefined;
  /** Start no earlier than this many seconds from now. */
  delaySeconds?: number | undefined;
}

/** What the worker tells the task of one child, for `ctx.wait`. */
export interface ChildState {
  id: string;
  name: string;
  task: string;
  status: JobStatus;
  result: unknown;
  error: JobError | null;
}

/** How a parent's children stand, counted in the store (the waiting reason, the parent's bar). */
export interface ChildSummary {
  total: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /**
   * The children's bars added up, each child counting 1 at most: an ended child 1, a running one
   * the fraction its own bar shows, one without a total 0.
   */
  done: number;
}

/** Unfinished children of a summary. */
export function unfinishedOf(summary: ChildSummary): number {
  return summary.queued + summary.running;
}

/**
 * A waiting parent's bar: the sum of its children's bars, each child counting as one. Summing their
 * raw numbers would add up units that differ (bytes here, files there) and children not started
 * yet, which have no total, would make the bar go back as they start.
 */
export function childrenProgress(summary: ChildSummary, atMs: number): JobProgress {
  const ended = summary.total - unfinishedOf(summary);
  const done = Math.round(summary.done * 1000) / 1000;
  return makeProgress(done, summary.total, `${ended} of ${summary.total} child jobs ended`, null, atMs);
}

/**
 * What `ctx.wait` does with the children's states, in one place for the task's side and the
 * worker's: `fail` as soon as an awaited child failed or was cancelled (unless settling), `sleep`
 * while one is unfinished, else `done`.
 */
export function waitVerdict(
  states: readonly ChildState[],
  settle: boolean,
): { kind: 'done' } | { kind: 'fail'; child: ChildState } | { kind: 'sleep'; unfinished: number } {
  if (!settle) {
    const failed = states.find((state) => state.status === 'failed' || state.status === 'cancelled');
    if (failed) return { kind: 'fail', child: failed };
  }
  const unfinished = states.filter((state) => state.status === 'queued' || state.status === 'running').length;
  return unfinished > 0 ? { kind: 'sleep', unfinished } : { kind: 'done' };
}

const CHILD_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** Throws a TypeError naming what is wrong with a child's name. */
export function checkChildName(name: unknown): string {
  if (typeof name !== 'string' || !CHILD_NAME.test(name)) {
    throw new TypeError(
      `ctx.spawn: a child's name is 1 to 128 letters, digits and . _ : -, starting with a letter or digit, not ${JSON.stringify(String(name).slice(0, 40))}.`,
    );
  }
  return name;
}

/** The name of an attempt's n-th unnamed spawn (from 0). */
export function defaultChildName(n: number): string {
  return `child-${n}`;
}

/**
 * What `ctx.wait` throws when a child is unfinished: the attempt ends here, and the job runs
 * again from the start once every child has ended. Let it through: the attempt ends waiting
 * whatever the task does after it.
 */
export class WaitingForChildren extends Error {
  constructor(unfinished: number, total: number) {
    super(
      `Waiting for ${unfinished} of ${total} child jobs: this run stops here and the job runs again once they have ended.`,
    );
    this.name = 'WaitingForChildren';
  }
}
