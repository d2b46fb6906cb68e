import type pg from 'pg';
import type { TerminalStatus } from '../../core/job.ts';
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
import { type JobRow, jobColumns, toJob } from './rows.ts';
import type { Tables } from './tables.ts';

/** The webhook tables of one schema (migration 5). */
export function webhookTables(t: Tables) {
  return { endpoints: `${t.quotedSchema}.webhook_endpoints`, deliveries: `${t.quotedSchema}.webhook_deliveries` };
}

interface DeliveryRow {
  seq: string;
  job_id: string;
  url: string;
  id: string;
  event: TerminalStatus;
  state: StoredWebhookDelivery['state'];
  attempts: number;
  next_at: Date | null;
  claim_token: string | null;
  last_status: number | null;
  last_error: string | null;
  log: WebhookAttempt[];
  created_at: Date;
  updated_at: Date;
}

/**
 * Records deliveries of jobs that ended since each url's last sweep, exactly: an endpoint keeps
 * the snapshot of its last sweep (`seen`), and the sweep takes the ended jobs whose last status
 * change (`changed_xid`, set in the changing transaction) that snapshot could not see, then
 * stores its own statement's snapshot. No clock is involved, so a job whose finish committed late
 * (a lock wait, a slow WAL flush) is found all the same; the listener's catch-up works the same way.
 * The endpoint rows are locked in url order for the statement, so two sweeps take turns; one that
 * waited reads the other's snapshot and may store an older one of its own, which only means the
 * next sweep looks again at jobs already recorded (the unique key skips them).
 *
 * A new url's first `seen` is the snapshot of its registration: jobs that ended before are not
 * announced. `jobIds` (the jobs just heard of) is not needed: the sweep walks the changed_xid
 * index from the snapshot's xmin, a few rows when no transaction has been open for long.
 */
export async function recordDeliveries(
  pool: pg.Pool,
  t: Tables,
  request: RecordWebhookDeliveriesRequest,
): Promise<number> {
  if (request.urls.length === 0 || request.statuses.length === 0) return 0;
  const w = webhookTables(t);
  const urls = [...new Set(request.urls)];
  // Async commit: a sweep lost in a server crash loses its rows and its snapshot together, and the
  // next sweep does it again.
  const { rows } = await pool.query<{ n: number; endpoints: number }>(
    `WITH e AS (
       SELECT url, seen, swept_at >= now() - $3 * interval '1 millisecond' AS fresh FROM ${w.endpoints}
       WHERE url = ANY($1::text[]) ORDER BY url FOR UPDATE),
     ins AS (
       INSERT INTO ${w.deliveries} (job_id, url, id, event, state, next_at)
       SELECT j.id, e.url, j.id || '.' || j.status, j.status, 'pending', now()
       FROM e JOIN ${t.jobs} j
         ON j.changed_xid >= pg_snapshot_xmin(e.seen) AND NOT pg_visible_in_snapshot(j.changed_xid, e.seen)
       WHERE e.fresh AND j.status = ANY($2::text[]) AND ($4::text[] IS NULL OR j.task = ANY($4::text[]))
       ON CONFLICT (job_id, url) DO NOTHING
       RETURNING 1),
     moved AS (
       UPDATE ${w.endpoints} x SET seen = pg_current_snapshot(), swept_at = now()
       FROM e, (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit WHERE x.url = e.url)
     SELECT (SELECT count(*)::int FROM ins) AS n, (SELECT count(*)::int FROM e) AS endpoints`,
    // $4 null: every task; else only theirs (the e-mail sender's opted-in tasks).
    [urls, request.statuses, STALE_ENDPOINT_MS, request.tasks ?? null],
  );
  const [row] = rows;
  // A url seen for the first time: its start mark is the snapshot of now (one statement, once).
  if ((row?.endpoints ?? 0) < urls.length) {
    await pool.query(
      `INSERT INTO ${w.endpoints} (url, seen) SELECT unnest($1::text[]), pg_current_snapshot() ON CONFLICT (url) DO NOTHING`,
      [urls],
    );
  }
  return rows[0]?.n ?? 0;
}

/**
 * Claims and settles commit without waiting for the WAL flush (as the job claim does): one lost in
 * a server crash leaves its delivery due again, to be sent again with the same id, which
 * at-least-once allows; waiting for the flush put a second flush beside each job's finish.
 */
export async function claimDeliveries(
  pool: pg.Pool,
  t: Tables,
  request: ClaimWebhookDeliveriesRequest,
): Promise<ClaimedWebhookDelivery[]> {
  if (request.limit <= 0 || request.urls.length === 0) return [];
  const w = webhookTables(t);
  const { rows } = await pool.query<DeliveryRow>(
    `UPDATE ${w.deliveries} d
     SET next_at = now() + $3 * interval '1 millisecond', claim_token = replace(gen_random_uuid()::text, '-', ''),
         updated_at = now()
     FROM (SELECT job_id, url FROM ${w.deliveries}
           WHERE state = 'pending' AND next_at <= now() AND url = ANY($1::text[])
           ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED) due,
       (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
     WHERE d.job_id = due.job_id AND d.url = due.url
     RETURNING d.*`,
    [request.urls, request.limit, request.leaseMs],
  );
  if (rows.length === 0) return [];
  rows.sort((a, b) => Number(BigInt(a.seq) - BigInt(b.seq)));
  const ids = [...new Set(rows.map((row) => row.job_id))];
  const jobs = await pool.query<JobRow>(`SELECT ${jobColumns(t)} FROM ${t.jobs} j WHERE j.id = ANY($1::text[])`, [ids]);
  const byId = new Map(jobs.rows.map((row) => [row.id, toJob(row)]));
  return rows.map((row) => ({
    delivery: toDelivery(row),
    token: row.claim_token as string,
    job: byId.get(row.job_id) ?? null,
  }));
}

/** A claim and the try it made, as `settleWebhookDelivery` takes them (batched by the store). */
export interface Settlement {
  claim: ClaimedWebhookDelivery;
  result: WebhookAttemptResult;
}

/** Records many tries in one statement, each fenced by its claim's token. */
export async function settleDeliveries(pool: pg.Pool, t: Tables, batch: readonly Settlement[]): Promise<boolean[]> {
  const w = webhookTables(t);
  const column = <T>(pick: (s: Settlement) => T) => batch.map(pick);
  const { rows } = await pool.query<{ job_id: string; url: string; token: string }>(
    `UPDATE ${w.deliveries} d SET state = s.state, attempts = d.attempts + 1,
       next_at = CASE WHEN s.retry_ms IS NULL THEN NULL ELSE now() + s.retry_ms * interval '1 millisecond' END,
       claim_token = NULL, last_status = s.status, last_error = s.error, updated_at = now(),
       log = (CASE WHEN jsonb_array_length(d.log) >= $9 THEN d.log - 0 ELSE d.log END) || jsonb_build_array(s.entry)
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::integer[], $7::text[], $8::jsonb[])
         AS s(job_id, url, token, state, retry_ms, status, error, entry),
       (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
     WHERE d.job_id = s.job_id AND d.url = s.url AND d.claim_token = s.token
     RETURNING s.job_id, s.url, s.token`,
    [
      column((s) => s.claim.delivery.jobId),
      column((s) => s.claim.delivery.url),
      column((s) => s.claim.token),
      column((s) => s.result.next.state),
      column((s) => (s.result.next.state === 'pending' ? Math.max(0, s.result.next.retryInMs) : null)),
      column((s) => s.result.attempt.status),
      column((s) => s.result.attempt.error),
      column((s) => JSON.stringify(s.result.attempt)),
      MAX_WEBHOOK_LOG,
    ],
  );
  const done = new Set(rows.map((row) => `${row.job_id} ${row.url} ${row.token}`));
  return batch.map((s) => done.has(`${s.claim.delivery.jobId} ${s.claim.delivery.url} ${s.claim.token}`));
}

/** Deliveries newest first: one job's, or the latest of all. */
export async function listDeliveries(
  pool: pg.Pool,
  t: Tables,
  filter: WebhookDeliveryFilter,
): Promise<StoredWebhookDelivery[]> {
  const w = webhookTables(t);
  const limit = listLimit(filter);
  const { rows } =
    filter.jobId === undefined
      ? await pool.query<DeliveryRow>(`SELECT * FROM ${w.deliveries} ORDER BY seq DESC LIMIT $1`, [limit])
      : await pool.query<DeliveryRow>(`SELECT * FROM ${w.deliveries} WHERE job_id = $1 ORDER BY seq DESC LIMIT $2`, [
          filter.jobId,
          limit,
        ]);
  return rows.map(toDelivery);
}

/** Deletes the deliveries recorded before `before`. */
export async function pruneDeliveries(pool: pg.Pool, t: Tables, before: string): Promise<number> {
  const w = webhookTables(t);
  const { rowCount } = await pool.query(`DELETE FROM ${w.deliveries} WHERE created_at < $1::timestamptz`, [before]);
  return rowCount ?? 0;
}

function toDelivery(row: DeliveryRow): StoredWebhookDelivery {
  return {
    id: row.id,
    jobId: row.job_id,
    url: row.url,
    event: row.event,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.state === 'pending' && row.next_at ? row.next_at.toISOString() : null,
    lastStatus: row.last_status,
    lastError: row.last_error,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    log: row.log,
  };
}
