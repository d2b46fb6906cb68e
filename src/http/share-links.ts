import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface ShareLinkOptions {
  /**
   * The HMAC key links are signed with (at least 32 characters). Every server of one deployment
   * needs the same one. Without it, a random key per process is used: links then die with the
   * process, which is fine for a demo and wrong for production.
   */
  secret?: string | undefined;
  /** Lifetime of a link when the request names none. Default 24 h. */
  defaultTtlSeconds?: number | undefined;
  /** Longest lifetime a link may be given. Default 30 days. */
  maxTtlSeconds?: number | undefined;
}

const DAY = 86_400;

/**
 * Signed, expiring, read-only links to one job: `<jobId>.<expires, unix s>.<HMAC-SHA256>`, passed
 * as `?share=` (an EventSource cannot send headers). Nothing is stored: a link is valid while its
 * signature checks and it has not expired, so it cannot be revoked early except by rotating the
 * secret (or deleting the job).
 */
export class ShareLinks {
  readonly #key: Buffer;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
  /** True when no secret was configured and this process made one up. */
  readonly ephemeral: boolean;

  constructor(options: ShareLinkOptions = {}) {
    if (options.secret !== undefined && options.secret.length < 32) {
      throw new TypeError('shareLinks.secret is too short: use at least 32 random characters.');
    }
    this.ephemeral = options.secret === undefined;
    this.#key = options.secret === undefined ? randomBytes(32) : Buffer.from(options.secret, 'utf8');
    this.defaultTtlSeconds = options.defaultTtlSeconds ?? DAY;
    this.maxTtlSeconds = options.maxTtlSeconds ?? 30 * DAY;
  }

  create(jobId: string, ttlSeconds = this.defaultTtlSeconds, now = Date.now()): { token: string; expiresAt: Date } {
    const expires = Math.floor(now / 1000) + Math.max(1, Math.floor(ttlSeconds));
    return { token: `${jobId}.${expires}.${this.#sign(jobId, expires)}`, expiresAt: new Date(expires * 1000) };
  }

  /** The job the token opens, or null when it is forged, malformed or expired. */
  verify(token: string, now = Date.now()): string | null {
    const match = /^([A-Za-z0-9_-]{1,64})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!match) return null;
    const [, jobId = '', expiresText = '', signature = ''] = match;
    const expires = Number(expiresText);
    const expected = Buffer.from(this.#sign(jobId, expires));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
    return expires * 1000 > now ? jobId : null;
  }

  #sign(jobId: string, expires: number): string {
    return createHmac('sha256', this.#key).update(`underway.share.v1.${jobId}.${expires}`).digest('base64url');
  }
}
