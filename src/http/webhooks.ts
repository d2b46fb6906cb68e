import { toError } from '../core/errors.ts';
import type { IsoDate, Job, TerminalStatus } from '../core/job.ts';
import { Jobs } from '../jobs/jobs.ts';
import type { Logger } from '../logger.ts';
import type { JobEvent, Store } from '../store/store.ts';
import type {
  ClaimedWebhookDelivery,
  StoredWebhookDelivery,
  WebhookAttempt,
  WebhookAttemptResult,
  WebhookDeliveryFilter,
} from '../store/webhook-deliveries.ts';
import type { JobJson } from './job-json.ts';
import { readDeliveries, type WebhookDelivery } from './webhook-log.ts';
import { webhookHeaders, webhookKey } from './webhook-signature.ts';

export type { WebhookDelivery } from './webhook-log.ts';

export type { VerifyWebhookOptions, WebhookRequestHeaders } from './webhook-signature.ts';
export { signWebhook, verifyWebhook } from './webhook-signature.ts';

export interface WebhookOptions {
  /** Where to POST. Each gets every selected event. */
  urls: readonly string[];
  /**
   * The signing secret (Standard Webhooks): `whsec_<base64 of at least 24 random bytes>`, the key
   * being those bytes, or a plain string of at least 32 characters, the key being its UTF-8 bytes.
   */
  secret: string;
  /** Which endings to announce. Default all three. */
  events?: readonly TerminalStatus[] | undefined;
  /** Tries per delivery, the first included. Default 6. */
  maxAttempts?: number | undefined;
  /** Waits before the 2nd, 3rd… try; the last repeats. Default 1 s, 5 s, 30 s, 2 min, 10 min. */
  retryDelaysMs?: readonly number[] | undefined;
  /** Per try. Default 10 s. */
  timeoutMs?: number | undefined;
  /**
   * How often this process sweeps for ended jobs it was not told of and for deliveries that are
   * due (status events and its own retry timers wake it at once). Default 5 000 ms.
   */
  pollMs?: number | undefined;
}

/** What a receiver gets, as JSON (the Standard Webhooks payload shape). */
export interface WebhookPayload {
  /** The message id, also in `webhook-id`: the same on every try. Dedupe on it. */
  id: string;
  type: `job.${TerminalStatus}`;
  /** When the job ended. */
  timestamp: IsoDate;
  data: { job: JobJson };
}

const DEFAULT_RETRY_DELAYS_MS = [1_000, 5_000, 30_000, 120_000, 600_000];
/** Requests in flight per process. */
const MAX_IN_FLIGHT = 8;
/** A claimed delivery stays hidden from other processes for the request's timeout plus this. */
const LEASE_MARGIN_MS = 5_000;
/** Status events heard within this long are recorded together. */
const EVENT_BATCH_MS = 10;
/**
 * Deliveries are deleted this long after they were recorded (checked hourly), pending ones too: a
 * delivery a month old (to a URL no longer configured, say) is not worth sending any more.
 */
const KEEP_DELIVERIES_MS = 30 * 86_400_000;
const HOUR_MS = 3_600_000;

/**
 * Sends signed webhooks (Standard Webhooks) when jobs end: durable, from any process that has them
 * configured, at least once.
 *
 * Nothing is hung on the transitions. A job's final status is written by its own transaction
 * (finish, reap, cancel) in whatever process made it; every process with webhooks configured
 * derives the deliveries from the ended jobs: it records them (store.recordWebhookDeliveries, one
 * row per (job, url), the unique key making a second recorder a no-op) when it hears the job's
 * status event from any process, and sweeps every `pollMs` for jobs it was not told of (an event
 * lost in a crash right after the commit). So an ended job is announced even if every process
 * died right after its transition, once one with webhooks runs again; and the finish path does
 * nothing more, webhooks or not.
 *
 * Sending: due deliveries are claimed (hidden from other processes for the request's timeout
 * plus 5 s), posted, and their outcome recorded, fenced by the claim; a failure is due again after
 * `retryDelaysMs`, until `maxAttempts`. A process that dies mid-request leaves its claim to expire
 * and another sends it again, with the same `webhook-id`. A delivery never touches the job.
 *
 *   heard a status event ─┐
 *   every pollMs (sweep) ─┴─▶ record ─▶ claim (up to 8 in flight) ─▶ POST ─▶ settle ─▶ retry timer
 */
export class WebhookDispatcher {
  readonly #store: Store;
  readonly #options: Required<Omit<WebhookOptions, 'events'>> & { events: Set<TerminalStatus> };
  readonly #render: (job: Job) => JobJson;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Jobs heard to end, not yet recorded. */
  readonly #heard = new Set<string>();
  #eventTimer: NodeJS.Timeout | null = null;
  #poll: NodeJS.Timeout | null = null;
  #unsubscribe: (() => void) | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #sweepDue = true;
  #lastPrune = 0;
  #idleWaiters: (() => void)[] = [];
  #closed = false;

  constructor(store: Store, options: WebhookOptions, render: (job: Job) => JobJson, log: Logger) {
    webhookKey(options.secret);
    for (const url of options.urls) new URL(url);
    this.#store = store;
    this.#options = {
      urls: [...new Set(options.urls)],
      secret: options.secret,
      events: new Set(options.events ?? ['succeeded', 'failed', 'cancelled']),
      maxAttempts: Math.max(1, options.maxAttempts ?? 6),
      retryDelaysMs: options.retryDelaysMs?.length ? options.retryDelaysMs : DEFAULT_RETRY_DELAYS_MS,
      timeoutMs: options.timeoutMs ?? 10_000,
      pollMs: Math.max(10, options.pollMs ?? 5_000),
    };
    this.#render = render;
    this.#log = log.child({ part: 'webhooks' });
  }

  /** Listens for endings, sweeps once, and every `pollMs` after. */
  start(): this {
    if (this.#closed || this.#poll) return this;
    if (!canKeepDeliveries(this.#store)) {
      this.#log.error(
        { store: this.#store.kind },
        'this store keeps no webhook deliveries (it lacks recordWebhookDeliveries…): webhooks are off',
      );
      return this;
    }
    this.#unsubscribe = Jobs.of(this.#store).subscribe((event) => this.#hear(event));
    this.#poll = setInterval(() => {
      this.#sweepDue = true;
      this.#kick();
    }, this.#options.pollMs);
    this.#poll.unref();
    this.#kick();
    return this;
  }

  /** Deliveries newest first, from the store (every process's): one job's, or the latest of all. */
  async deliveries(filter: WebhookDeliveryFilter = {}): Promise<WebhookDelivery[]> {
    return readDeliveries(this.#store, filter, true);
  }

  /**
   * Resolves when this process has nothing to do for now: no ending heard and not yet recorded,
   * no request in flight, no retry waiting on its timer.
   */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isIdle(): boolean {
    const waiting = this.#heard.size > 0 || this.#eventTimer !== null || this.#timers.size > 0;
    return this.#closed || (!this.#running && this.#inFlight.size === 0 && !waiting);
  }

  #checkIdle(): void {
    if (this.#isIdle()) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #hear(event: JobEvent): void {
    if (event.type !== 'status' || !this.#options.events.has(event.status as TerminalStatus)) return;
    this.#heard.add(event.jobId);
    this.#eventTimer ??= setTimeout(() => {
      this.#eventTimer = null;
      this.#kick();
    }, EVENT_BATCH_MS);
  }

  /** Runs a cycle now, or once more after the one running. */
  #kick(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#cycle().finally(() => {
      this.#running = null;
      if (this.#again) {
        this.#again = false;
        this.#kick();
      }
      this.#checkIdle();
    });
  }

  async #cycle(): Promise<void> {
    const heard = [...this.#heard];
    this.#heard.clear();
    const sweep = this.#sweepDue;
    this.#sweepDue = false;
    const urls = this.#options.urls;
    const store = this.#store as Required<Store>;
    try {
      if (sweep || heard.length > 0) {
        const statuses = [...this.#options.events];
        const added = await store.recordWebhookDeliveries({ urls, statuses, jobIds: sweep ? undefined : heard });
        if (added > 0) this.#log.debug({ added, sweep }, 'webhook deliveries recorded');
      }
      if (sweep && Date.now() - this.#lastPrune > HOUR_MS) {
        this.#lastPrune = Date.now();
        await store.pruneWebhookDeliveries(new Date(Date.now() - KEEP_DELIVERIES_MS).toISOString());
      }
      const free = MAX_IN_FLIGHT - this.#inFlight.size;
      if (free <= 0 || this.#closed) return;
      const leaseMs = this.#options.timeoutMs + LEASE_MARGIN_MS;
      const claims = await store.claimWebhookDeliveries({ urls, limit: free, leaseMs });
      for (const claim of claims) this.#track(this.#send(claim));
      if (claims.length === free) this.#again = true;
    } catch (error) {
      // The store is away: the next poll sweeps, which finds what was heard meanwhile too.
      this.#sweepDue = true;
      this.#log.warn({ err: toError(error) }, 'webhook deliveries: the store failed; trying again at the next poll');
    }
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => {
      this.#inFlight.delete(work);
      this.#kick(); // a slot is free: more may be due
    });
  }

  async #send(claim: ClaimedWebhookDelivery): Promise<void> {
    const { delivery, job } = claim;
    const started = Date.now();
    let status: number | null = null;
    let error: string | null = null;
    if (!job) {
      error = 'The job was removed before it was announced.';
    } else {
      try {
        status = await this.#post(delivery, job);
        if (status < 200 || status >= 300) error = `HTTP ${status}`;
      } catch (thrown) {
        error = describeFailure(thrown);
      }
    }
    const attempt: WebhookAttempt = { at: new Date(started).toISOString(), status, error, ms: Date.now() - started };
    const next = this.#next(delivery.attempts + 1, error, job === null);
    await this.#settle(claim, { attempt, next });
  }

  /** Posts one delivery; resolves with the HTTP status. */
  async #post(delivery: StoredWebhookDelivery, job: Job): Promise<number> {
    const payload: WebhookPayload = {
      id: delivery.id,
      type: `job.${delivery.event}`,
      timestamp: job.finishedAt ?? delivery.createdAt,
      data: { job: this.#render(job) },
    };
    const body = JSON.stringify(payload);
    const response = await fetch(delivery.url, {
      method: 'POST',
      body,
      redirect: 'manual',
      signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#options.timeoutMs)]),
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'underway-webhooks/2',
        ...webhookHeaders(this.#options.secret, delivery.id, body),
      },
    });
    await response.body?.cancel();
    return response.status;
  }

  /** What follows a try: delivered, given up, or due again after the configured delay. */
  #next(tries: number, error: string | null, gone: boolean): WebhookAttemptResult['next'] {
    if (error === null) return { state: 'delivered' };
    // Cut short by this process stopping: not the receiver's fault, due again at once elsewhere.
    if (this.#closed && !gone) return { state: 'pending', retryInMs: 0 };
    if (gone || tries >= this.#options.maxAttempts) return { state: 'failed' };
    const delays = this.#options.retryDelaysMs;
    return { state: 'pending', retryInMs: delays[Math.min(tries - 1, delays.length - 1)] ?? 1_000 };
  }

  async #settle(claim: ClaimedWebhookDelivery, result: WebhookAttemptResult): Promise<void> {
    const { delivery } = claim;
    const { attempt, next } = result;
    const fields = { delivery: delivery.id, url: delivery.url, attempt: delivery.attempts + 1, ...attempt };
    try {
      const recorded = await (this.#store as Required<Store>).settleWebhookDelivery(claim, result);
      if (!recorded) this.#log.warn(fields, 'webhook delivery: its claim expired and another took it over');
    } catch (error) {
      this.#log.warn(
        { ...fields, err: toError(error) },
        'webhook delivery: could not record the try; it is made again',
      );
      return;
    }
    if (next.state === 'delivered') this.#log.info(fields, 'webhook delivered');
    else if (next.state === 'failed') this.#log.error(fields, 'webhook delivery failed; giving up');
    else {
      this.#log.warn({ ...fields, retryInMs: next.retryInMs }, 'webhook delivery failed; will retry');
      this.#retryIn(next.retryInMs);
    }
  }

  /** Wakes this process when its retry is due (others find it at their next poll). */
  #retryIn(ms: number): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#kick();
      this.#checkIdle();
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  /**
   * Stops listening and polling, aborts requests in flight and records them as due again at once
   * (for another process, or this one's next start). Does not close the store.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    if (this.#poll) clearInterval(this.#poll);
    if (this.#eventTimer) clearTimeout(this.#eventTimer);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#abort.abort();
    await this.#running;
    await Promise.allSettled([...this.#inFlight]);
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}

/** Whether a store has the optional members that keep deliveries. */
export function canKeepDeliveries(store: Store): boolean {
  return (
    typeof store.recordWebhookDeliveries === 'function' &&
    typeof store.claimWebhookDeliveries === 'function' &&
    typeof store.settleWebhookDelivery === 'function' &&
    typeof store.pruneWebhookDeliveries === 'function'
  );
}

/** fetch's "fetch failed" says nothing: add the cause's code (ECONNREFUSED, ECONNRESET…). */
function describeFailure(thrown: unknown): string {
  const error = toError(thrown);
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : null;
  if (error.name === 'TimeoutError') return 'timed out';
  if (error.name === 'AbortError') return 'aborted: the sending process stopped';
  return code ? `${error.message} (${code})` : error.message;
}
