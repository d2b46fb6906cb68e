import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts';
import { isJobStatus, type Job, type JobStatus } from '../core/job.ts';
import { MAX_LIST_LIMIT } from '../store/store.ts';
import type { Queue } from './queue.ts';

/** What a bulk operation does to each job it finds. */
export type BulkAction = 'cancel' | 'retry' | 'delete';

export const BULK_ACTIONS: readonly BulkAction[] = ['cancel', 'retry', 'delete'];

/** The statuses each action applies to: the default filter, and all a filter may name. */
export const BULK_STATUSES: Readonly<Record<BulkAction, readonly JobStatus[]>> = {
  cancel: ['queued', 'running'],
  retry: ['failed', 'cancelled'],
  delete: ['succeeded', 'failed', 'cancelled'],
};

/** Jobs acted on per call unless `limit` says otherwise, and at most. */
export const DEFAULT_BULK_LIMIT = 100;
export const MAX_BULK_LIMIT = 1_000;

/** Jobs one call reads at most (pages of 200) before it returns a cursor, however few matched. */
export const MAX_BULK_SCAN = 5_000;

/**
 * How much older than `createdAfter` a job must be for the scan to stop there. Jobs are read in
 * the order they were added, and their `createdAt` follows that order only give or take a
 * transaction's length (PostgreSQL's `now()` is its transaction's start): a job just before
 * `createdAfter` does not yet mean every later one in the scan is older too.
 */
export const CREATED_AFTER_SLACK_MS = 15 * 60_000;

export interface BulkFilter {
  task?: string | undefined;
  /** One status or several; default all the action applies to (`BULK_STATUSES`). Another is a ValidationError. */
  status?: JobStatus | readonly JobStatus[] | undefined;
  /** Only jobs created before this moment (an ISO date or a Date). */
  createdBefore?: string | Date | undefined;
  /** Only jobs created after this moment. */
  createdAfter?: string | Date | undefined;
  owner?: string | undefined;
}

export interface BulkRequest {
  action: BulkAction;
  filter?: BulkFilter | undefined;
  /** Jobs acted on (done or skipped) in this call, at most: 1 to 1,000, default 100. */
  limit?: number | undefined;
  /** A previous call's `nextCursor`: carries on exactly where it stopped. */
  cursor?: string | null | undefined;
  /** Only count the jobs that would be acted on (`matched`); change nothing. */
  dryRun?: boolean | undefined;
  /**
   * Asked for each job about to be acted on, in order, before any job of its page is: a throw
   * refuses it (the HTTP API takes a rate-limit token per retry here). The call then ends before
   * that job, with what it did and a `nextCursor` to carry on from it; when it refuses the very
   * first job of the call, the error is thrown. Not asked in a dry run.
   */
  admit?: ((job: Job) => void) | undefined;
}

export interface BulkSkip {
  id: string;
  /** Why, in words: the job changed meanwhile (it ended, it is gone, its task is unknown). */
  reason: string;
}

export interface BulkResult {
  action: BulkAction;
  dryRun: boolean;
  /** Jobs found matching in this call: `done` plus `skipped`, or in a dry run those that would be acted on. */
  matched: number;
  /** Ids of the jobs acted on, newest first (for retry, the failed or cancelled jobs retried). */
  done: string[];
  /** Jobs that matched when read but changed before they were acted on. */
  skipped: BulkSkip[];
  /** Non-null when more jobs may match: call again with it to carry on. */
  nextCursor: string | null;
}

/** A request checked and normalised: what `bulk` runs. */
export interface BulkPlan {
  action: BulkAction;
  statuses: readonly JobStatus[];
  task: string | undefined;
  owner: string | undefined;
  /** Epoch milliseconds, or null. */
  before: number | null;
  after: number | null;
  limit: number;
}

/**
 * Checks a bulk request before anything is read: an unknown action, a status the action does not
 * apply to, a date that is not one, a limit out of range are ValidationErrors, naming the field.
 */
export function planBulk(request: Pick<BulkRequest, 'action' | 'filter' | 'limit'>): BulkPlan {
  const { action } = request;
  if (!BULK_ACTIONS.includes(action)) {
    throw new ValidationError(`Unknown bulk action ${JSON.stringify(action)}: use ${BULK_ACTIONS.join(', ')}.`, [
      'action',
    ]);
  }
  const filter = request.filter ?? {};
  const applies = BULK_STATUSES[action];
  let statuses = applies;
  if (filter.status !== undefined) {
    const given: readonly unknown[] = typeof filter.status === 'string' ? [filter.status] : filter.status;
    if (!Array.isArray(given) || given.length === 0) {
      throw new ValidationError('filter.status must be a status or a list of at least one.', ['filter.status']);
    }
    const unknown = given.filter((status) => !isJobStatus(status));
    if (unknown.length > 0) {
      throw new ValidationError(
        `Unknown status ${unknown.map((s) => JSON.stringify(s)).join(', ')}.`,
        unknown.map((s) => `filter.status: ${String(s)}`),
      );
    }
    const wrong = (given as JobStatus[]).filter((status) => !applies.includes(status));
    if (wrong.length > 0) {
      throw new ValidationError(
        `${capitalised(action)} applies to ${listed(applies)} jobs, not ${listed(wrong)}.`,
        wrong.map((s) => `filter.status: ${s}`),
      );
    }
    statuses = [...new Set(given as JobStatus[])];
  }
  if (filter.task !== undefined && (typeof filter.task !== 'string' || filter.task === '')) {
    throw new ValidationError('filter.task must be a task name.', ['filter.task']);
  }
  if (filter.owner !== undefined && (typeof filter.owner !== 'string' || filter.owner === '')) {
    throw new ValidationError('filter.owner must be a user id.', ['filter.owner']);
  }
  const before = moment('createdBefore', filter.createdBefore);
  const after = moment('createdAfter', filter.createdAfter);
  if (before !== null && after !== null && after >= before) {
    throw new ValidationError('filter.createdAfter must be earlier than filter.createdBefore.', [
      'filter.createdAfter',
    ]);
  }
  const limit = request.limit ?? DEFAULT_BULK_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_BULK_LIMIT) {
    throw new ValidationError(`limit must be a whole number from 1 to ${MAX_BULK_LIMIT}.`, ['limit']);
  }
  return { action, statuses, task: filter.task, owner: filter.owner, before, after, limit };
}

/**
 * Cancels, retries or deletes the jobs matching a filter, newest first, in bounded batches: at
 * most `limit` jobs acted on and `MAX_BULK_SCAN` read per call, with a `nextCursor` to carry on
 * from exactly where the call stopped (jobs added meanwhile are newer, so never reached by it).
 *
 * Each job goes through the queue as a single cancel, retry or remove would (a retry re-seals its
 * secrets for the new job); a job that changed between the read and the act (it ended, it was
 * removed) is `skipped` with the reason, and the rest carry on. Retrying is not idempotent: each
 * call retries the failed jobs it reaches, those retried before included.
 *
 * @example
 * let cursor: string | null = null;
 * do {
 *   const result = await bulk(queue, { action: 'cancel', filter: { task: 'export' }, cursor });
 *   cursor = result.nextCursor;
 * } while (cursor);
 */
export async function bulk(queue: Pick<Queue, 'jobs' | 'retry'>, request: BulkRequest): Promise<BulkResult> {
  const plan = planBulk(request);
  const dryRun = request.dryRun ?? false;
  const admit = dryRun ? undefined : request.admit;
  const result: BulkResult = { action: plan.action, dryRun, matched: 0, done: [], skipped: [], nextCursor: null };
  const timed = plan.before !== null || plan.after !== null;
  let cursor = request.cursor ?? null;
  let remaining = plan.limit;
  let scanned = 0;
  // Without a time filter every job the store returns matches: a page of `remaining` is enough.
  let size = timed ? MAX_LIST_LIMIT : Math.min(MAX_LIST_LIMIT, remaining);
  // After a refusal: this many of the next page's matches were admitted already, and it is the last.
  let admitted = 0;
  let last = false;

  for (;;) {
    const page = await queue.jobs.list({
      status: plan.statuses,
      task: plan.task,
      owner: plan.owner,
      limit: size,
      cursor,
    });
    scanned += page.jobs.length;
    const matches: Job[] = [];
    let pastAfter = false;
    for (const job of page.jobs) {
      const created = Date.parse(job.createdAt);
      if (plan.after !== null && created <= plan.after) {
        if (created < plan.after - CREATED_AFTER_SLACK_MS) {
          pastAfter = true;
          break;
        }
        continue;
      }
      if (plan.before !== null && created >= plan.before) continue;
      matches.push(job);
    }
    if (matches.length > remaining) {
      // More than this call may take: read again a page that ends at the last job it may take, so
      // that the page's own cursor is where the next call carries on.
      size = page.jobs.indexOf(matches[remaining - 1] as Job) + 1;
      continue;
    }

    let refusedAt = -1;
    let refusal: unknown;
    if (admit) {
      for (let i = admitted; i < matches.length; i++) {
        try {
          admit(matches[i] as Job);
        } catch (error) {
          refusedAt = i;
          refusal = error;
          break;
        }
      }
    }
    if (refusedAt === 0) {
      // Nothing of this page is acted on: the call ends where it stood before reading it.
      if (result.matched === 0) throw refusal;
      result.nextCursor = cursor;
      return result;
    }
    if (refusedAt > 0) {
      // Act on the admitted ones only: read again a page ending at the last of them.
      remaining = refusedAt;
      admitted = refusedAt;
      last = true;
      size = page.jobs.indexOf(matches[refusedAt - 1] as Job) + 1;
      continue;
    }

    result.matched += matches.length;
    if (!dryRun) {
      for (const job of matches) {
        try {
          await act(queue, plan.action, job);
          result.done.push(job.id);
        } catch (error) {
          if (!changedMeanwhile(error)) throw error;
          result.skipped.push({ id: job.id, reason: error.message });
        }
      }
    }
    remaining -= matches.length;
    cursor = page.nextCursor;
    if (pastAfter || cursor === null) return result;
    if (last || remaining === 0 || scanned >= MAX_BULK_SCAN) {
      result.nextCursor = cursor;
      return result;
    }
    size = timed ? MAX_LIST_LIMIT : Math.min(MAX_LIST_LIMIT, remaining);
  }
}

async function act(queue: Pick<Queue, 'jobs' | 'retry'>, action: BulkAction, job: Job): Promise<void> {
  switch (action) {
    case 'cancel':
      await queue.jobs.cancel(job.id);
      return;
    case 'retry':
      // The job as read: failed or cancelled, which never changes again.
      await queue.retry(job);
      return;
    case 'delete':
      await queue.jobs.remove(job.id);
      return;
  }
}

/**
 * What a single cancel, retry or remove refuses for this one job: it ended or started meanwhile
 * (ConflictError), it is gone (NotFoundError), its task is no longer known (ValidationError). A
 * store failure is no such thing, and ends the call.
 */
function changedMeanwhile(error: unknown): error is Error {
  return error instanceof ConflictError || error instanceof NotFoundError || error instanceof ValidationError;
}

function moment(name: string, value: string | Date | undefined): number | null {
  if (value === undefined) return null;
  const at = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at)) {
    throw new ValidationError(`filter.${name} ${JSON.stringify(value)} is not a date: give an ISO 8601 time.`, [
      `filter.${name}`,
    ]);
  }
  return at;
}

const capitalised = (text: string) => `${text.charAt(0).toUpperCase()}${text.slice(1)}`;

/** "queued and running", "succeeded, failed and cancelled". */
function listed(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
