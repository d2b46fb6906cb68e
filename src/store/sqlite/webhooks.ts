import type Database from 'better-sqlite3';
import type { Job, TerminalStatus } from '../../core/job.ts';
import {
  type ClaimedWebhookDelivery,
  type ClaimWebhookDeliveriesRequest,
  listLimit,
  MAX_WEBHOOK_LOG,
  type RecordWebhookDeliveriesRequest,
  STALE_ENDPOINT_MS,
  type StoredWebhookDelivery,
  type WebhookAttempt,
  type WebhookAttemptResult,
  type WebhookDeliveryFilter,
} from '../webhook-deliveries.ts';

/** The store's statement cache. */
type Prepare = (sql: string) => Database.Statement;

/**
 * How far back of its last sweep a url's next sweep looks, and how far back of a new url's first
 * sighting its start mark is. A job's `finished_at` is read from the clock *before* its write
 * transaction waits for the lock (up to the busy timeout, 5 s by default), so a job may become
 * visible up to that long after the time it carries: a sweep that looked only from its last run
 * would miss it. A minute covers the default timeout twelve times over, and a clock stepped back
 * by less than that; a job whose finish waited longer for the lock, or a clock stepped back
 * further, could be missed by the sweep (the event path still records it as it is heard).
 */
export const SWEEP_OVERLAP_MS = 60_000;

interface DeliveryRow {
  seq: number;
  job_id: string;
  url: string;
  id: string;
  event: TerminalStatus;
  state: StoredWebhookDelivery['state'];
  attempts: number;
  next_at: number | null;
  claim_token: string | null;
  last_status: number | null;
  last_error: string | null;
  log: string;
  created_at: number;
  updated_at: number;
}

const DELIVERY_COLUMNS = `(job_id, url, id, event, state, next_at, created_at, updated_at)`;

/**
 * Records deliveries inside a write transaction. Under the write lock no finish can commit while
 * this runs, so `now` bounds what the sweep has seen (less the overlap, see SWEEP_OVERLAP_MS).
 */
export function recordDeliveries(prepare: Prepare, request: RecordWebhookDeliveriesRequest): number {
  if (request.urls.length === 0 || request.statuses.length === 0) return 0;
  const now = Date.now();
  const urls = JSON.stringify([...new Set(request.urls)]);
  const statuses = JSON.stringify(request.statuses);
  // null: every task; else only theirs (the e-mail sender's opted-in tasks).
  const tasks = request.tasks ? JSON.stringify(request.tasks) : null;
  prepare(
    `INSERT INTO underway_webhook_endpoints (url, since, swept_at)
       SELECT value, ?, ? FROM json_each(?) WHERE true ON CONFLICT (url) DO NOTHING`,
  ).run(now - SWEEP_OVERLAP_MS, now, urls);
  // Not swept for a day: nobody sends to it; it starts afresh, like a new url.
  prepare(
    `UPDATE underway_webhook_endpoints SET since = ?, swept_at = ?
       WHERE url IN (SELECT value FROM json_each(?)) AND swept_at < ?`,
  ).run(now - SWEEP_OVERLAP_MS, now, urls, now - STALE_ENDPOINT_MS);
  if (request.jobIds) {
    if (request.jobIds.length === 0) return 0;
    return prepare(
      `INSERT INTO underway_webhook_deliveries ${DELIVERY_COLUMNS}
         SELECT j.id, e.url, j.id || '.' || j.status, j.status, 'pending', ?, ?, ?
         FROM underway_jobs j JOIN underway_webhook_endpoints e ON j.finished_at >= e.since
         WHERE j.id IN (SELECT value FROM json_each(?)) AND e.url IN (SELECT value FROM json_each(?))
           AND j.status IN (SELECT value FROM json_each(?))
           AND (? IS NULL OR j.task IN (SELECT value FROM json_each(?)))
         ON CONFLICT (job_id, url) DO NOTHING`,
    ).run(now, now, now, JSON.stringify(request.jobIds), urls, statuses, tasks, tasks).changes;
  }
  const endpoints = prepare(
    `SELECT url, max(since, swept_at - ?) AS "from" FROM underway_webhook_endpoints
       WHERE url IN (SELECT value FROM json_each(?))`,
  ).all(SWEEP_OVERLAP_MS, urls) as { url: string; from: number }[];
  // INDEXED BY: without statistics the planner walked the status index, every succeeded job ever
  // kept, on each sweep; the window of finished_at is what bounds a sweep's work.
  const sweep = prepare(
    `INSERT INTO underway_webhook_deliveries ${DELIVERY_COLUMNS}
       SELECT j.id, ?, j.id || '.' || j.status, j.status, 'pending', ?, ?, ?
       FROM underway_jobs j INDEXED BY underway_jobs_finished
       WHERE j.finished_at >= ? AND j.status IN (SELECT value FROM json_each(?))
         AND (? IS NULL OR j.task IN (SELECT value FROM json_each(?)))
       ON CONFLICT (job_id, url) DO NOTHING`,
  );
  let added = 0;
  for (const { url, from } of endpoints) added += sweep.run(url, now, now, now, from, statuses, tasks, tasks).changes;
  prepare(`UPDATE underway_webhook_endpoints SET swept_at = ? WHERE url IN (SELECT value FROM json_each(?))`).run(
    now,
    urls,
  );
  return added;
}

/**
 * Takes due deliveries inside a write transaction: what one claimer takes, no other can until the
 * lease ends. `jobsOf` reads their jobs (the store's, with artifacts) in the same transaction.
 */
export function claimDeliveries(
  prepare: Prepare,
  request: ClaimWebhookDeliveriesRequest,
  jobsOf: (ids: string[]) => Map<string, Job>,
): ClaimedWebhookDelivery[] {
  if (request.limit <= 0 || request.urls.length === 0) return [];
  const now = Date.now();
  const rows = prepare(
    `UPDATE underway_webhook_deliveries
       SET next_at = ?, claim_token = lower(hex(randomblob(12))), updated_at = ?
       WHERE seq IN (
         SELECT seq FROM underway_webhook_deliveries
         WHERE state = 'pending' AND next_at <= ? AND url IN (SELECT value FROM json_each(?))
         ORDER BY next_at, seq LIMIT ?)
       RETURNING *`,
  ).all(now + request.leaseMs, now, now, JSON.stringify(request.urls), request.limit) as DeliveryRow[];
  rows.sort((a, b) => a.seq - b.seq);
  const jobs = jobsOf([...new Set(rows.map((row) => row.job_id))]);
  return rows.map((row) => ({
    delivery: toDelivery(row),
    token: row.claim_token as string,
    job: jobs.get(row.job_id) ?? null,
  }));
}

/** A claim and the try it made, as `settleWebhookDelivery` takes them (batched by the store). */
export interface Settlement {
  claim: ClaimedWebhookDelivery;
  result: WebhookAttemptResult;
}

/** Records tries, each fenced by its claim's token, inside one write transaction. */
export function settleDeliveries(prepare: Prepare, batch: readonly Settlement[]): boolean[] {
  const now = Date.now();
  const settle = prepare(
    `UPDATE underway_webhook_deliveries SET state = ?, attempts = attempts + 1, next_at = ?, claim_token = NULL,
         last_status = ?, last_error = ?, updated_at = ?,
         log = json_insert(CASE WHEN json_array_length(log) >= ? THEN json_remove(log, '$[0]') ELSE log END,
           '$[#]', json(?))
       WHERE job_id = ? AND url = ? AND claim_token = ?`,
  );
  return batch.map(({ claim, result: { next, attempt } }) => {
    const nextAt = next.state === 'pending' ? now + Math.max(0, next.retryInMs) : null;
    const { jobId, url } = claim.delivery;
    const entry = JSON.stringify(attempt);
    return (
      settle.run(
        next.state,
        nextAt,
        attempt.status,
        attempt.error,
        now,
        MAX_WEBHOOK_LOG,
        entry,
        jobId,
        url,
        claim.token,
      ).changes === 1
    );
  });
}

/** Deliveries newest first: one job's, or the latest of all. */
export function listDeliveries(prepare: Prepare, filter: WebhookDeliveryFilter): StoredWebhookDelivery[] {
  const limit = listLimit(filter);
  const rows =
    filter.jobId === undefined
      ? prepare('SELECT * FROM underway_webhook_deliveries ORDER BY seq DESC LIMIT ?').all(limit)
      : prepare('SELECT * FROM underway_webhook_deliveries WHERE job_id = ? ORDER BY seq DESC LIMIT ?').all(
          filter.jobId,
          limit,
        );
  return (rows as DeliveryRow[]).map(toDelivery);
}

/** Deletes the deliveries recorded before `before` (ms), inside a write transaction. */
export function pruneDeliveries(prepare: Prepare, before: number): number {
  return prepare('DELETE FROM underway_webhook_deliveries WHERE created_at < ?').run(before).changes;
}

function toDelivery(row: DeliveryRow): StoredWebhookDelivery {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: row.id,
    jobId: row.job_id,
    url: row.url,
    event: row.event,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.state === 'pending' && row.next_at !== null ? iso(row.next_at) : null,
    lastStatus: row.last_status,
    lastError: row.last_error,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    log: JSON.parse(row.log) as WebhookAttempt[],
  };
}
