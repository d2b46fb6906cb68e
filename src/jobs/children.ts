import { childrenProgress, unfinishedOf } from '../core/children.ts';
import { ConflictError, toError } from '../core/errors.ts';
import { isTerminal, type Job } from '../core/job.ts';
import { statusEvent } from '../store/status-event.ts';
import { MAX_LIST_LIMIT, type Store } from '../store/store.ts';

/**
 * What the Jobs layer does around child jobs (docs/children.md), after the store wrote the
 * transition. The wake-up of a parent is not here: the store makes it in the child's own
 * transaction. What is here is what may be lost with a process without harm, and is made good by
 * the next child's end: the events that tell workers and viewers of it, and the parent's bar.
 */

/** Every child of a job, oldest first, read a page at a time. */
export async function childrenOf(store: Store, parentId: string): Promise<Job[]> {
  const all: Job[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list({ parent: parentId, limit: MAX_LIST_LIMIT, cursor });
    all.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  return all.reverse();
}

/**
 * A child ended (or its parent went to sleep): the parent's bar, while it is queued, becomes the
 * sum of its children's, and when the end woke it (its `runAt` moved to now), workers are told at
 * once rather than at their next poll.
 */
export async function childEnded(store: Store, parentId: string): Promise<void> {
  if (!store.childSummary || !store.saveWaitingProgress) return;
  const summary = await store.childSummary(parentId);
  const parent = await store.get(parentId);
  if (parent?.status !== 'queued' || summary.total === 0) return;
  const progress = childrenProgress(summary, Date.now());
  if (await store.saveWaitingProgress(parentId, progress)) {
    store.events.send({ type: 'progress', jobId: parentId, task: parent.task, owner: parent.owner, progress });
  }
  if (Date.parse(parent.runAt) <= Date.now()) store.events.send(statusEvent(parent));
}

/**
 * Cancels a job's unfinished children (and theirs, through `cancel`): queued ones end at once,
 * running ones are asked to stop. One store call each, so none waits on a lock another holds.
 */
export async function cancelChildren(
  store: Store,
  parentId: string,
  cancel: (id: string) => Promise<unknown>,
): Promise<void> {
  if (!store.childSummary) return;
  if (unfinishedOf(await store.childSummary(parentId)) === 0) return;
  for (const child of await childrenOf(store, parentId)) {
    if (isTerminal(child.status) || (child.status === 'running' && child.cancelRequested)) continue;
    await cancel(child.id).catch((error: unknown) => {
      // A ConflictError: it ended in between, nothing to do.
      if (!(error instanceof ConflictError)) warn('could not cancel a child job', child.id, error);
    });
  }
}

export function warn(what: string, id: string, error: unknown): void {
  process.emitWarning(`underway: ${what} (${id}): ${toError(error).message}`);
}
