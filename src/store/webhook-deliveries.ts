import type { IsoDate, Job, TerminalStatus } from '../core/job.ts';

/**
 * Webhook deliveries as the stores keep them (the Store's optional `*WebhookDeliveries` members):
 * one row per (job, url), derived from jobs that ended, so that a delivery outlives the process
 * that would send it. The url is a webhook's, or `mailto:` for the e-mail to the job's owner. What
 * to send, when to retry and when to give up are decided by the sender (http/outbox.ts); a store
 * only records, hands out due deliveries one claimer at a time, and writes down what each attempt did.
 *
 *   (job ended) ──record──▶ pending ──claim──▶ (being sent; hidden for the lease)
 *                              ▲                      │ settle
 *                              └──── retry in N ms ───┤
 *                                                     ├──▶ delivered
 *                                                     └──▶ failed (given up)
 */

/** Due (or being sent), done, or given up. */
export type WebhookDeliveryState = 'pending' | 'delivered' | 'failed';

/**
 * One try: when, the receiver's answer (an HTTP status; for e-mail the SMTP reply code; null when
 * no answer came), the error in words, how long it took.
 */
export interface WebhookAttempt {
  at: IsoDate;
  status: number | null;
  error: string | null;
  ms: number;
  /** Where it went when the url does not say: the address an owner's e-mail (`mailto:`) was sent to. */
  to?: string | undefined;
}

/** A delivery of one job's end to one URL. */
export interface StoredWebhookDelivery {
  /** The message id (`webhook-id`): `<jobId>.<status>`, the same on every try and for every URL. */
  id: string;
  jobId: string;
  url: string;
  /** The status announced (`job.<event>`). */
  event: TerminalStatus;
  state: WebhookDeliveryState;
  /** Tries whose outcome was recorded (a try cut short by a crash is not counted, and is made again). */
  attempts: number;
  /** While pending: when it is due (a claim moves it past its lease). Null once settled. */
  nextAttemptAt: IsoDate | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: IsoDate;
  updatedAt: IsoDate;
  /** The latest tries, oldest first (at most MAX_WEBHOOK_LOG). */
  log: WebhookAttempt[];
}

/** Tries kept in a delivery's log; older ones are dropped (attempts still counts them). */
export const MAX_WEBHOOK_LOG = 20;

/** What `recordWebhookDeliveries` looks for: ended jobs with these statuses, for these urls. */
export interface RecordWebhookDeliveriesRequest {
  /** The URLs this process sends to: each is registered (its start mark set) the first time it is seen. */
  urls: readonly string[];
  /** The endings announced. */
  statuses: readonly TerminalStatus[];
  /** Only jobs of these tasks (the tasks whose owners are e-mailed); default every task. */
  tasks?: readonly string[] | undefined;
  /**
   * Jobs just heard to end: a hint that lets a store look at these alone. Without it, the store
   * looks at every job that ended since its last look (the sweep).
   */
  jobIds?: readonly string[] | undefined;
}

/** What `claimWebhookDeliveries` takes: due deliveries to these urls, at most `limit`. */
export interface ClaimWebhookDeliveriesRequest {
  urls: readonly string[];
  limit: number;
  /** How long a claimed delivery stays hidden from other claimers: longer than one try can take. */
  leaseMs: number;
}

/** A delivery handed to one claimer, with its job, to send and then settle. */
export interface ClaimedWebhookDelivery {
  delivery: StoredWebhookDelivery;
  /** Fences `settleWebhookDelivery`: only the latest claim may record its try. */
  token: string;
  /** The job as it is now (read with the claim, one query for all), or null when it was removed. */
  job: Job | null;
}

/** What one try did, and what follows: done, given up, or due again after `retryInMs`. */
export interface WebhookAttemptResult {
  attempt: WebhookAttempt;
  next: { state: 'delivered' } | { state: 'failed' } | { state: 'pending'; retryInMs: number };
}

/** Which deliveries `listWebhookDeliveries` returns. */
export interface WebhookDeliveryFilter {
  /** One job's deliveries; without it, the latest of all jobs. */
  jobId?: string | undefined;
  /** At most 200. Default 100. */
  limit?: number | undefined;
}

/** Most deliveries one list returns. */
export const MAX_WEBHOOK_LIST = 200;
/** Deliveries one list returns unless asked otherwise. */
export const DEFAULT_WEBHOOK_LIST = 100;

/**
 * A URL whose endpoint row no process has swept for this long starts afresh when it is seen again
 * (from "now", as a new URL does): a URL taken out of the config and put back a month later does
 * not send a month of old jobs.
 */
export const STALE_ENDPOINT_MS = 86_400_000;

/** A filter's limit, whole and within 1…MAX_WEBHOOK_LIST. */
export function listLimit(filter: WebhookDeliveryFilter): number {
  return Math.min(Math.max(1, Math.floor(filter.limit ?? DEFAULT_WEBHOOK_LIST)), MAX_WEBHOOK_LIST);
}
