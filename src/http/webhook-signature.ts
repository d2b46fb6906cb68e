import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): a delivery carries
 * `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature: v1,<base64 of
 * HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`; several space-separated signatures are allowed
 * (a receiver rotating keys accepts any one that matches).
 *
 * The secret is either `whsec_<base64>`, the key being the decoded bytes (what the
 * `standardwebhooks` packages take as they are), or any other string of at least 32 characters,
 * the key being its UTF-8 bytes (give those to a Standard Webhooks library as a raw key:
 * `new Webhook(Buffer.from(secret), { format: 'raw' })` in JavaScript, or pass
 * `'whsec_' + base64(utf8(secret))`, the same key written the standard way).
 */

const PREFIX = 'whsec_';
/** Shortest decoded `whsec_` key: 192 bits, as the keys Standard Webhooks tools generate (24 bytes). */
const MIN_KEY_BYTES = 24;
/** Shortest plain secret, in characters. */
const MIN_PLAIN_LENGTH = 32;
/** Receivers' default: a delivery signed longer ago (or further ahead) than this is refused. */
const DEFAULT_TOLERANCE_SECONDS = 300;

/** The HMAC key of a secret; a TypeError saying what is wrong when it is too weak or malformed. */
export function webhookKey(secret: string): Buffer {
  if (secret.startsWith(PREFIX)) {
    const encoded = secret.slice(PREFIX.length);
    const key = Buffer.from(encoded, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || key.length < MIN_KEY_BYTES) {
      throw new TypeError(
        `webhooks.secret: a whsec_ secret is whsec_ and the base64 of at least ${MIN_KEY_BYTES} random bytes.`,
      );
    }
    return key;
  }
  if (secret.length < MIN_PLAIN_LENGTH) {
    throw new TypeError(
      `webhooks.secret is needed to sign deliveries: whsec_<base64 key>, or at least ${MIN_PLAIN_LENGTH} random characters.`,
    );
  }
  return Buffer.from(secret, 'utf8');
}

/**
 * The `webhook-signature` value for one delivery: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
 *
 * @example
 * signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'job1.succeeded', 1767225600, body);
 */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', webhookKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers of one delivery, signed now (`now` in ms, for tests). */
export function webhookHeaders(secret: string, id: string, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, id, timestamp, body),
  };
}

/** Request headers in any of the usual shapes: a Fetch `Headers`, or node's `req.headers`. */
export type WebhookRequestHeaders = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyWebhookOptions {
  /** Seconds a timestamp may be off from now. Default 300. */
  toleranceSeconds?: number;
  /** "Now" in ms, for tests. */
  now?: number;
}

/**
 * Checks a delivery as a receiver should: one of its `v1` signatures matches the raw body, id and
 * timestamp, and the timestamp is within the tolerance of now (so a captured delivery cannot be
 * replayed later). Dedupe on `webhook-id`: a delivery may come more than once.
 *
 * @example
 * app.post('/hooks/underway', express.text({ type: '*\/*' }), (req, res) => {
 *   if (!verifyWebhook(process.env.HOOK_SECRET, req.headers, req.body)) return res.sendStatus(401);
 *   const { type, data } = JSON.parse(req.body); // type: "job.succeeded", data.job: the job
 *   res.sendStatus(204);
 * });
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookRequestHeaders,
  body: string,
  options: VerifyWebhookOptions = {},
): boolean {
  const id = header(headers, 'webhook-id');
  const timestampText = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestampText || !signatures || !/^\d{1,12}$/.test(timestampText)) return false;
  const timestamp = Number(timestampText);
  const now = options.now ?? Date.now();
  if (Math.abs(now / 1000 - timestamp) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return false;
  const expected = Buffer.from(signWebhook(secret, id, timestamp, body));
  return signatures
    .split(' ')
    .map((given) => Buffer.from(given))
    .some((given) => given.length === expected.length && timingSafeEqual(given, expected));
}

function header(headers: WebhookRequestHeaders, name: string): string | null {
  if (headers instanceof Headers) return headers.get(name);
  const key = name in headers ? name : Object.keys(headers).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : headers[key];
  if (typeof value === 'string') return value;
  return value?.[0] ?? null;
}
