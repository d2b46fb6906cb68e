import { toError } from '../core/errors.ts';
import type { Job, TerminalStatus } from '../core/job.ts';
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
import { readDeliveries, type WebhookDelivery } from './webhook-log.ts';

/** What one try of a delivery did. */
export interface TryResult {
  /** The receiver's answer: an HTTP status, an SMTP reply code; null when none came. */
  status: number | null;
  /** What went wrong, in words; null when the try succeeded. */
  error: string | null;
  /** Trying again cannot help (an SMTP 5xx refusal, no address to send to): give up now. */
  permanent?: boolean | undefined;
  /** Where it went, when the delivery's url does not say (the owner's e-mail address): kept in the try's log. */
  to?: string | undefined;
}

/**
 * One kind of target the outbox sends to: the webhook URLs (signed POSTs, webhooks.ts) or the
 * owners' e-mail (SMTP, email.ts). Its deliveries are the rows with its `urls`; claims are made
 * per sender, so each try goes to the sender whose row it is.
 */
export interface OutboxSender {
  /** Names its log lines: "webhook delivered", "e-mail delivery failed; will retry". */
  readonly name: string;
  /** The `part` of its log lines. */
  readonly part: string;
  /** Its deliveries' urls. */
  readonly urls: readonly string[];
  /** The endings it announces. */
  readonly statuses: readonly TerminalStatus[];
  /** Only jobs of these tasks; undefined: every task. */
  readonly tasks?: readonly string[] | undefined;
  /** Tries per delivery, the first included. */
  readonly maxAttempts: number;
  /** Waits before the 2nd, 3rd… try; the last repeats. */
  readonly retryDelaysMs: readonly number[];
  /** The longest a try may take: it is cut short then, and a claim hides its delivery this long plus 5 s. */
  readonly timeoutMs: number;
  /**
   * A try that cannot be taken back once begun (an SMTP exchange, short) is left to end when the
   * process stops, rather than aborted and made again elsewhere: that would send it twice.
   */
  readonly finishOnClose?: boolean | undefined;
  /** Makes one try. A rejection counts as a failed try, retried. */
  send(delivery: StoredWebhookDelivery, job: Job, signal: AbortSignal): Promise<TryResult>;
  /** Lets go of what it holds (pooled connections), once no try is in flight. */
  close?(): Promise<void> | void;
}

/** Tries in flight per process, all senders together. */
const MAX_IN_FLIGHT = 8;
/** A claimed delivery stays hidden from other processes for the try's timeout plus this. */
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
 * Sends the outbox when jobs end (webhooks, e-mail): durable, from any process that has a sender
 * configured, at least once.
 *
 * Nothing is hung on the transitions. A job's final status is written by its own transaction
 * (finish, reap, cancel) in whatever process made it; every process with senders configured
 * derives the deliveries from the ended jobs: it records them (store.recordWebhookDeliveries, one
 * row per (job, url), the unique key making a second recorder a no-op) when it hears the job's
 * status event from any process, and sweeps every `pollMs` for jobs it was not told of (an event
 * lost in a crash right after the commit). So an ended job is announced even if every process
 * died right after its transition, once one with the sender runs again; and the finish path does
 * nothing more, webhooks or not.
 *
 * Sending: due deliveries are claimed (hidden from other processes for the try's timeout plus
 * 5 s), sent by their sender, and their outcome recorded, fenced by the claim; a failure is due
 * again after the sender's `retryDelaysMs`, until its `maxAttempts` or a permanent refusal. A
 * process that dies mid-try leaves its claim to expire and another makes it again, with the same
 * id. A delivery never touches the job.
 *
 *   heard a status event ─┐
 *   every pollMs (sweep) ─┴─▶ record ─▶ claim (up to 8 in flight) ─▶ send ─▶ settle ─▶ retry timer
 */
export class OutboxDispatcher {
  readonly #store: Store;
  readonly #senders: readonly OutboxSender[];
  readonly #statuses: Set<TerminalStatus>;
  readonly #pollMs: number;
  readonly #log: Logger;
  /** Each sender's logger (its `part`). */
  readonly #logs: Map<OutboxSender, Logger>;
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

  constructor(store: Store, senders: readonly OutboxSender[], pollMs: number, log: Logger) {
    this.#store = store;
    this.#senders = senders;
    this.#statuses = new Set(senders.flatMap((sender) => sender.statuses));
    this.#pollMs = Math.max(10, pollMs);
    this.#log = log;
    this.#logs = new Map(senders.map((sender) => [sender, log.child({ part: sender.part })]));
  }

  /** Listens for endings, sweeps once, and every `pollMs` after. */
  start(): this {
    if (this.#closed || this.#poll) return this;
    if (!canKeepDeliveries(this.#store)) {
      this.#log.error(
        { store: this.#store.kind, part: 'webhooks' },
        'this store keeps no webhook deliveries (it lacks recordWebhookDeliveries…): webhooks and e-mail are off',
      );
      return this;
    }
    this.#unsubscribe = Jobs.of(this.#store).subscribe((event) => this.#hear(event));
    this.#poll = setInterval(() => {
      this.#sweepDue = true;
      this.#kick();
    }, this.#pollMs);
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
   * no try in flight, no retry waiting on its timer.
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
    if (event.type !== 'status' || !this.#statuses.has(event.status as TerminalStatus)) return;
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
    const store = this.#store as Required<Store>;
    try {
      if (sweep || heard.length > 0) {
        for (const { urls, statuses, tasks, part } of this.#senders) {
          const jobIds = sweep ? undefined : heard;
          const added = await store.recordWebhookDeliveries({ urls, statuses, tasks, jobIds });
          if (added > 0) this.#log.debug({ added, sweep, part }, 'deliveries recorded');
        }
      }
      if (sweep && Date.now() - this.#lastPrune > HOUR_MS) {
        this.#lastPrune = Date.now();
        await store.pruneWebhookDeliveries(new Date(Date.now() - KEEP_DELIVERIES_MS).toISOString());
      }
      for (const sender of this.#senders) {
        const free = MAX_IN_FLIGHT - this.#inFlight.size;
        if (free <= 0 || this.#closed) return;
        const leaseMs = sender.timeoutMs + LEASE_MARGIN_MS;
        const claims = await store.claimWebhookDeliveries({ urls: sender.urls, limit: free, leaseMs });
        for (const claim of claims) this.#track(this.#send(sender, claim));
        if (claims.length === free) this.#again = true;
      }
    } catch (error) {
      // The store is away: the next poll sweeps, which finds what was heard meanwhile too.
      this.#sweepDue = true;
      this.#log.warn({ err: toError(error) }, 'outbox deliveries: the store failed; trying again at the next poll');
    }
  }

  #track(work: Promise<void>): void {
    this.#inFlight.add(work);
    void work.finally(() => {
      this.#inFlight.delete(work);
      this.#kick(); // a slot is free: more may be due
    });
  }

  async #send(sender: OutboxSender, claim: ClaimedWebhookDelivery): Promise<void> {
    const { delivery, job } = claim;
    const started = Date.now();
    let result: TryResult;
    if (!job) {
      result = { status: null, error: 'The job was removed before it was announced.', permanent: true };
    } else {
      const timeout = AbortSignal.timeout(sender.timeoutMs);
      const signal = sender.finishOnClose ? timeout : AbortSignal.any([this.#abort.signal, timeout]);
      result = await sender.send(delivery, job, signal).catch((thrown: unknown) => ({
        status: null,
        error: toError(thrown).message,
      }));
    }
    const attempt: WebhookAttempt = {
      at: new Date(started).toISOString(),
      status: result.status,
      error: result.error,
      ms: Date.now() - started,
      ...(result.to === undefined ? {} : { to: result.to }),
    };
    const next = this.#next(sender, delivery.attempts + 1, result);
    await this.#settle(sender, claim, { attempt, next });
  }

  /** What follows a try: delivered, given up, or due again after the sender's delay. */
  #next(sender: OutboxSender, tries: number, result: TryResult): WebhookAttemptResult['next'] {
    if (result.error === null) return { state: 'delivered' };
    // Cut short by this process stopping: not the receiver's fault, due again at once elsewhere.
    if (this.#closed && !result.permanent) return { state: 'pending', retryInMs: 0 };
    if (result.permanent || tries >= sender.maxAttempts) return { state: 'failed' };
    const delays = sender.retryDelaysMs;
    return { state: 'pending', retryInMs: delays[Math.min(tries - 1, delays.length - 1)] ?? 1_000 };
  }

  async #settle(sender: OutboxSender, claim: ClaimedWebhookDelivery, result: WebhookAttemptResult): Promise<void> {
    const { delivery } = claim;
    const { attempt, next } = result;
    const log = this.#logs.get(sender) ?? this.#log;
    const fields = { delivery: delivery.id, url: delivery.url, attempt: delivery.attempts + 1, ...attempt };
    try {
      const recorded = await (this.#store as Required<Store>).settleWebhookDelivery(claim, result);
      if (!recorded) log.warn(fields, `${sender.name} delivery: its claim expired and another took it over`);
    } catch (error) {
      log.warn(
        { ...fields, err: toError(error) },
        `${sender.name} delivery: could not record the try; it is made again`,
      );
      return;
    }
    if (next.state === 'delivered') log.info(fields, `${sender.name} delivered`);
    else if (next.state === 'failed') log.error(fields, `${sender.name} delivery failed; giving up`);
    else {
      log.warn({ ...fields, retryInMs: next.retryInMs }, `${sender.name} delivery failed; will retry`);
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
   * Stops listening and polling, aborts the tries in flight that may be (webhook requests) and
   * records them as due again at once (for another process, or this one's next start); waits for
   * the others (an SMTP exchange) to end. Does not close the store.
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
    await Promise.allSettled(this.#senders.map(async (sender) => sender.close?.()));
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
