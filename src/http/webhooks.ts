import { createHmac, timingSafeEqual } from 'node:crypto';
import { toError } from '../core/errors.ts';
import type { Job, TerminalStatus } from '../core/job.ts';
import type { Logger } from '../logger.ts';
import type { JobJson } from './job-json.ts';

export interface WebhookOptions {
  /** Where to POST. Each gets every selected event. */
  urls: readonly string[];
  /** HMAC-SHA256 key for the `Underway-Signature` header (at least 32 characters). */
  secret: string;
  /** Which endings to announce. Default all three. */
  events?: readonly TerminalStatus[] | undefined;
  /** Tries per delivery, the first included. Default 6. */
  maxAttempts?: number | undefined;
  /** Waits before the 2nd, 3rd… try; the last repeats. Default 1 s, 5 s, 30 s, 2 min, 10 min. */
  retryDelaysMs?: readonly number[] | undefined;
  /** Per try. Default 10 s. */
  timeoutMs?: number | undefined;
}

/** What a receiver gets, as JSON. `id` is the same on every retry: dedupe on it. */
export interface WebhookPayload {
  id: string;
  type: `job.${TerminalStatus}`;
  createdAt: string;
  job: JobJson;
}

/** One delivery as the log keeps it. */
export interface WebhookDelivery {
  id: string;
  url: string;
  type: WebhookPayload['type'];
  jobId: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: { at: string; status: number | null; error: string | null; ms: number }[];
}

const KEEP_DELIVERIES = 500;

/**
 * Sends signed webhooks when jobs end, with retries and a delivery log.
 *
 * Who sends: the process that made the job's final transition (see observeTransitions), so each
 * delivery starts exactly once however many servers run; a crash before it succeeds loses the
 * remaining retries (at-most-once past that point). The log is kept in memory (last 500) and in
 * the pino logs; a store table would make it durable and is left for later.
 *
 * A delivery never touches the job: failures are logged and retried, nothing more.
 */
export class WebhookDispatcher {
  readonly #options: Required<Omit<WebhookOptions, 'events'>> & { events: Set<TerminalStatus> };
  readonly #render: (job: Job) => JobJson;
  readonly #log: Logger;
  readonly #deliveries: WebhookDelivery[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #pending = 0;
  #idleWaiters: (() => void)[] = [];
  #closed = false;

  constructor(options: WebhookOptions, render: (job: Job) => JobJson, log: Logger) {
    if (options.urls.length > 0 && (!options.secret || options.secret.length < 32)) {
      throw new TypeError('webhooks.secret is needed (at least 32 random characters) to sign deliveries.');
    }
    for (const url of options.urls) new URL(url);
    this.#options = {
      urls: options.urls,
      secret: options.secret,
      events: new Set(options.events ?? ['succeeded', 'failed', 'cancelled']),
      maxAttempts: Math.max(1, options.maxAttempts ?? 6),
      retryDelaysMs: options.retryDelaysMs?.length ? options.retryDelaysMs : [1_000, 5_000, 30_000, 120_000, 600_000],
      timeoutMs: options.timeoutMs ?? 10_000,
    };
    this.#render = render;
    this.#log = log.child({ part: 'webhooks' });
  }

  /** Resolves when no delivery is pending (each delivered or given up). */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #settled(delivery: WebhookDelivery, state: 'delivered' | 'failed'): void {
    delivery.state = state;
    this.#pending--;
    if (this.#pending === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  /** The latest deliveries, newest first. */
  deliveries(): WebhookDelivery[] {
    return this.#deliveries.slice().reverse();
  }

  /** Announces a job that ended; returns at once. */
  notify(job: Job): void {
    if (this.#closed || !this.#options.events.has(job.status as TerminalStatus)) return;
    const type = `job.${job.status as TerminalStatus}` as const;
    const payload: WebhookPayload = {
      id: `${job.id}.${job.status}`,
      type,
      createdAt: new Date().toISOString(),
      job: this.#render(job),
    };
    const body = JSON.stringify(payload);
    for (const url of this.#options.urls) {
      const delivery: WebhookDelivery = { id: payload.id, url, type, jobId: job.id, state: 'pending', attempts: [] };
      this.#deliveries.push(delivery);
      if (this.#deliveries.length > KEEP_DELIVERIES) this.#deliveries.shift();
      this.#pending++;
      this.#track(this.#attempt(delivery, body));
    }
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work));
  }

  async #attempt(delivery: WebhookDelivery, body: string): Promise<void> {
    const started = Date.now();
    const timestamp = Math.floor(started / 1000);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const response = await fetch(delivery.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#options.timeoutMs)]),
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'underway-webhooks/1',
          'Underway-Event': delivery.type,
          'Underway-Delivery': delivery.id,
          'Underway-Signature': signWebhook(this.#options.secret, timestamp, body),
        },
      });
      status = response.status;
      await response.body?.cancel();
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (thrown) {
      error = toError(thrown).message;
    }
    delivery.attempts.push({ at: new Date(started).toISOString(), status, error, ms: Date.now() - started });
    const tries = delivery.attempts.length;
    const fields = { delivery: delivery.id, url: delivery.url, attempt: tries, status, error };
    if (error === null) {
      this.#settled(delivery, 'delivered');
      this.#log.info(fields, 'webhook delivered');
      return;
    }
    if (tries >= this.#options.maxAttempts || this.#closed) {
      this.#settled(delivery, 'failed');
      this.#log.error(fields, 'webhook delivery failed; giving up');
      return;
    }
    const delays = this.#options.retryDelaysMs;
    const wait = delays[Math.min(tries - 1, delays.length - 1)] ?? 1_000;
    this.#log.warn({ ...fields, retryInMs: wait }, 'webhook delivery failed; will retry');
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#track(this.#attempt(delivery, body));
    }, wait);
    timer.unref();
    this.#timers.add(timer);
  }

  /** Stops retrying and aborts requests in flight (their deliveries are logged as failed). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#abort.abort();
    await Promise.allSettled([...this.#inFlight]);
    // Retries that were waiting will not run: release anyone waiting for idle.
    this.#pending = 0;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}

/**
 * The `Underway-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The
 * timestamp is signed too, so a captured delivery cannot be replayed later.
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/**
 * Checks a delivery as a receiver should: the signature matches the raw body and the timestamp is
 * within `toleranceSeconds` (default 300) of now.
 *
 * @example
 * const ok = verifyWebhook(secret, req.headers['underway-signature'], rawBody);
 */
export function verifyWebhook(
  secret: string,
  header: string | null | undefined,
  body: string,
  toleranceSeconds = 300,
  now = Date.now(),
): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const timestamp = Number(match[1]);
  if (Math.abs(now / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(header ?? '');
  return expected.length === given.length && timingSafeEqual(expected, given);
}
