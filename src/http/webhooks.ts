import { toError } from '../core/errors.ts';
import type { IsoDate, Job, TerminalStatus } from '../core/job.ts';
import type { StoredWebhookDelivery } from '../store/webhook-deliveries.ts';
import type { JobJson } from './job-json.ts';
import type { OutboxSender } from './outbox.ts';
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

/**
 * The outbox's webhook sender (outbox.ts sends, retries and logs): a signed POST of the job to
 * each of `urls` (Standard Webhooks). Throws a TypeError on a weak secret or a URL that is not
 * http(s), when the app is made.
 */
export function webhookSender(options: WebhookOptions, render: (job: Job) => JobJson): OutboxSender {
  webhookKey(options.secret);
  for (const url of options.urls) {
    // mailto: is the e-mail sender's (email.ts); fetch could not send to it anyway.
    if (!/^https?:$/.test(new URL(url).protocol)) throw new TypeError(`A webhook URL must be http(s): ${url}`);
  }
  return {
    name: 'webhook',
    part: 'webhooks',
    urls: [...new Set(options.urls)],
    statuses: [...new Set<TerminalStatus>(options.events ?? ['succeeded', 'failed', 'cancelled'])],
    maxAttempts: Math.max(1, options.maxAttempts ?? 6),
    retryDelaysMs: options.retryDelaysMs?.length ? options.retryDelaysMs : DEFAULT_RETRY_DELAYS_MS,
    timeoutMs: options.timeoutMs ?? 10_000,
    async send(delivery, job, signal) {
      try {
        const status = await post(options.secret, delivery, render(job), job.finishedAt, signal);
        return { status, error: status >= 200 && status < 300 ? null : `HTTP ${status}` };
      } catch (thrown) {
        return { status: null, error: describeFailure(thrown) };
      }
    },
  };
}

/** Posts one delivery; resolves with the HTTP status. */
async function post(
  secret: string,
  delivery: StoredWebhookDelivery,
  job: JobJson,
  finishedAt: IsoDate | null,
  signal: AbortSignal,
): Promise<number> {
  const payload: WebhookPayload = {
    id: delivery.id,
    type: `job.${delivery.event}`,
    timestamp: finishedAt ?? delivery.createdAt,
    data: { job },
  };
  const body = JSON.stringify(payload);
  const response = await fetch(delivery.url, {
    method: 'POST',
    body,
    redirect: 'manual',
    signal,
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': 'underway-webhooks/2',
      ...webhookHeaders(secret, delivery.id, body),
    },
  });
  await response.body?.cancel();
  return response.status;
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
