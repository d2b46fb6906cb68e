import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { Caller } from './auth.ts';
import { HttpError } from './errors.ts';

export interface CsrfOptions {
  /** Default true. Turn off only when the host app has its own CSRF protection in front. */
  enabled?: boolean | undefined;
  /** Default `underway_csrf`. */
  cookieName?: string | undefined;
  /** Default `X-CSRF-Token`. */
  headerName?: string | undefined;
  /**
   * Origins (`https://app.example.com`) allowed besides the request's own. Needed behind a proxy
   * that changes the Host the server sees.
   */
  trustedOrigins?: readonly string[] | undefined;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * CSRF protection for requests a browser could send on its own (a session cookie, or the
 * loopback local admin), in two layers:
 *
 * 1. Origin check: when the request says where it comes from (`Origin`, else `Referer`), that
 *    must be the API's own origin or a trusted one. Cross-site form posts and fetches fail here.
 * 2. Double-submit token: the `X-CSRF-Token` header must equal the `underway_csrf` cookie. A
 *    cross-site page can neither read the cookie nor set a custom header without a CORS
 *    preflight, so it cannot forge the pair. `GET {basePath}/csrf` sets the cookie and returns
 *    the token.
 *
 * Requests with an `Authorization` header skip both: a browser never adds one by itself, so such
 * a request was written by a program that holds the credential.
 */
export class CsrfGuard {
  readonly enabled: boolean;
  readonly cookieName: string;
  readonly headerName: string;
  readonly #trusted: Set<string>;

  constructor(options: CsrfOptions = {}) {
    this.enabled = options.enabled ?? true;
    this.cookieName = options.cookieName ?? 'underway_csrf';
    this.headerName = options.headerName ?? 'X-CSRF-Token';
    this.#trusted = new Set((options.trustedOrigins ?? []).map((origin) => new URL(origin).origin));
  }

  /**
   * Throws a 403 when an unsafe request fails the checks. `token` is what the request says the
   * token is: the header by default; the dashboard's forms send it as a hidden field instead.
   */
  check(c: Context, caller: Caller, token: string | undefined = c.req.header(this.headerName)): void {
    if (!this.enabled || !UNSAFE.has(c.req.method) || caller.bearer) return;
    const claimed = c.req.header('origin') ?? originOf(c.req.header('referer'));
    if (claimed !== undefined && claimed !== new URL(c.req.url).origin && !this.#trusted.has(claimed)) {
      throw new HttpError(403, 'CSRF_FAILED', `Requests from ${claimed} are not accepted here.`);
    }
    const cookie = getCookie(c, this.cookieName);
    if (!cookie || !token || !same(cookie, token)) {
      throw new HttpError(
        403,
        'CSRF_FAILED',
        `This request needs the ${this.headerName} header matching the ${this.cookieName} cookie (GET the csrf endpoint for one), or a bearer token.`,
      );
    }
  }

  /** The token for this browser, set as a cookie when it has none yet. */
  issue(c: Context): string {
    const existing = getCookie(c, this.cookieName);
    if (existing && /^[A-Za-z0-9_-]{32,128}$/.test(existing)) return existing;
    const token = randomBytes(32).toString('base64url');
    setCookie(c, this.cookieName, token, {
      path: '/',
      sameSite: 'Strict',
      secure: new URL(c.req.url).protocol === 'https:',
      // Not HttpOnly: the dashboard's script reads it to send it back in the header.
      httpOnly: false,
    });
    return token;
  }
}

function originOf(referer: string | undefined): string | undefined {
  if (!referer) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return 'null';
  }
}

function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
