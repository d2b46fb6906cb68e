import { type ChildJob, type ChildState, checkChildName, type SpawnOptions } from '../core/children.ts';
import type { Job, Lease } from '../core/job.ts';
import type { Jobs } from '../jobs/jobs.ts';
import type { Queue } from '../queue/queue.ts';
import type { SpawnRequest } from './runner.ts';

/** Up to this many children a wait reads one by one; more, all the parent's children in pages. */
const READ_ONE_BY_ONE = 50;

/**
 * The worker's side of `ctx.spawn` and `ctx.wait` (the task's side is children.ts): a child's
 * params are checked and sealed by the queue, as any start's are, and it is added through the Jobs
 * layer fenced by the parent's lease. Everything from the task is checked again here: a sandbox
 * child's requests cross IPC from code the worker does not trust.
 */
export class ChildJobs {
  readonly #jobs: Jobs;
  readonly #queue: Queue;

  constructor(jobs: Jobs, queue: Queue) {
    this.#jobs = jobs;
    this.#queue = queue;
  }

  /**
   * Starts the child (or finds the parent's child of that name); null when the parent's lease is
   * lost. A child of that name of another task is an error: the parent's code spawned in another
   * order than on its earlier run, and would take one child's result for another's.
   */
  async spawn(parent: Job, lease: Lease, request: SpawnRequest): Promise<ChildJob | null> {
    const name = checkChildName(request.name);
    const { input } = this.#queue.prepare(request.task, request.params as never, {
      ...startOptions(request.options),
      owner: parent.owner,
    });
    const spawned = await this.#jobs.spawn(lease, { ...input, childName: name });
    if (!spawned) return null;
    const { job, created } = spawned;
    if (job.task !== input.task) {
      throw new TypeError(
        `ctx.spawn: this job's child "${name}" is a job of ${job.task}, not ${input.task}. Its children are told apart by name (child-0, child-1… in the order spawned): spawn in the same order on every run, or name them.`,
      );
    }
    return { id: job.id, name, task: job.task, created };
  }

  /**
   * The states of these children of `parent`, in order (an id that is not one of its children is
   * an error), and how many of all its children had failed or been cancelled just before: a wait
   * that sleeps tells the store, so that a child failing after this read wakes the job at once.
   * Counted first: one failing between the two reads then counts as unseen (a run more), never
   * as seen when the states did not show it.
   */
  async read(parent: Job, ids: readonly string[]): Promise<{ states: ChildState[]; failuresSeen: number }> {
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
      throw new TypeError('ctx.wait: give the children ctx.spawn returned.');
    }
    const summary = await this.#jobs.childSummary(parent.id);
    const found =
      ids.length <= READ_ONE_BY_ONE
        ? await Promise.all(ids.map((id) => this.#jobs.get(id)))
        : await this.#jobs.children(parent.id);
    const byId = new Map(found.flatMap((job) => (job?.parentId === parent.id ? [[job.id, job] as const] : [])));
    const states = ids.map((id) => {
      const child = byId.get(id);
      if (!child) throw new TypeError(`ctx.wait: job ${id} is not a child of this job.`);
      return {
        id,
        name: child.childName ?? '',
        task: child.task,
        status: child.status,
        result: child.result,
        error: child.error,
      };
    });
    return { states, failuresSeen: summary.failed + summary.cancelled };
  }
}

/** The start options a spawn may set, and only those: whatever else a request carries is dropped. */
function startOptions(options: Omit<SpawnOptions, 'name'>) {
  const given = typeof options === 'object' && options !== null ? options : {};
  return {
    priority: given.priority,
    maxAttempts: given.maxAttempts,
    timeoutSeconds: given.timeoutSeconds,
    concurrencyKey: given.concurrencyKey,
    delaySeconds: given.delaySeconds,
  };
}
