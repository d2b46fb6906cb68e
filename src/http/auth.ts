import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { Job } from '../core/job.ts';

/** A signed-in person or program, as the host app (or a configured token) says. */
export interface User {
  id: string;
  roles: readonly string[];
}

/**
 * The host framework's own request, beside the Fetch `Request`: where a host's login middleware
 * left the user (Express `req.user`, Fastify `request.user`, Hono `c.get('user')`).
 */
export interface HostRequest {
  /** The Node request as the host passed it: Express's `req` (with `req.user`, `req.session`), a `node:http` request. */
  node?: IncomingMessage;
  /** Fastify's own request, with the `underway/fastify` plugin. */
  fastify?: unknown;
  /** Hono's context, with `underway.hono` in a Hono app. */
  hono?: Context;
}

/**
 * The host app's say on who is calling, from its own session cookie, header or JWT, or from the
 * user its own middleware found (`host`).
 *
 * @example
 * // Express, after passport or express-session:
 * authenticate: (_request, { node }) => {
 *   const user = (node as express.Request | undefined)?.user;
 *   return user ? { id: user.id, roles: user.isAdmin ? ['admin'] : [] } : null;
 * },
 */
export type Authenticate = (request: Request, host: HostRequest) => User | null | Promise<User | null>;

/** A standalone bearer token and the user it stands for. */
export interface TokenEntry {
  token: string;
  id: string;
  roles?: readonly string[];
}

/**
 * Who may call the API. Three ways, tried in order: a configured bearer token, the host app's
 * `authenticate`, and (standalone, nothing configured) a single local admin for loopback requests.
 */
export interface AuthOptions {
  authenticate?: Authenticate | undefined;
  /** Standalone bearer tokens (`Authorization: Bearer <token>`). */
  tokens?: readonly TokenEntry[] | undefined;
  /**
   * Treat requests from this machine (loopback address, no `X-Forwarded-For`/`Forwarded` header, so
   * not through a local proxy) as the user `local` with the admin role. Default: on only when
   * neither `authenticate` nor `tokens` is given.
   */
  localAdmin?: boolean | undefined;
  /** The role that sees and steers every job. Default `admin`. */
  adminRole?: string | undefined;
  /** Whether this user may start jobs of this task. Default: every signed-in user may start any task. */
  canStart?: ((user: User, task: string) => boolean) | undefined;
}

/** The user `localAdmin` stands for. */
export const LOCAL_ADMIN: User = Object.freeze({ id: 'local', roles: Object.freeze(['admin']) });

/** Who is calling, as every route sees it. */
export interface Caller {
  user: User | null;
  admin: boolean;
  /** Set when a valid share link came with the request: read-only access to this one job. */
  shareJobId: string | null;
  /** The request carried `Authorization` (so no browser added it on its own: no CSRF check needed). */
  bearer: boolean;
}

/** Resolves callers with the configured means; one per app. */
export class Authenticator {
  readonly #options: AuthOptions;
  readonly #tokens = new Map<string, User>();
  readonly #adminRole: string;
  readonly localAdmin: boolean;

  constructor(options: AuthOptions = {}) {
    this.#options = options;
    this.#adminRole = options.adminRole ?? 'admin';
    for (const entry of options.tokens ?? []) {
      if (!entry.token || entry.token.length < 16) {
        throw new TypeError(`The bearer token for user "${entry.id}" is too short: use at least 16 random characters.`);
      }
      // Looked up by digest, so the comparison does not leak a token's prefix through timing.
      this.#tokens.set(digest(entry.token), { id: entry.id, roles: entry.roles ?? [] });
    }
    this.localAdmin = options.localAdmin ?? (!options.authenticate && this.#tokens.size === 0);
  }

  /** One line for the startup log: how callers are recognised. */
  describe(): string {
    const ways: string[] = [];
    if (this.#tokens.size > 0) ways.push(`${this.#tokens.size} bearer token(s)`);
    if (this.#options.authenticate) ways.push("the host app's authenticate()");
    if (this.localAdmin) ways.push('a single local admin for loopback requests only (no tokens configured)');
    return ways.length > 0 ? ways.join(' + ') : 'nobody (no auth configured)';
  }

  async resolve(
    request: Request,
    remoteAddress: string | undefined,
    host: HostRequest = {},
  ): Promise<Omit<Caller, 'shareJobId'>> {
    const header = request.headers.get('authorization');
    const bearer = header !== null && /^bearer\s+/i.test(header);
    let user: User | null = null;
    if (bearer && this.#tokens.size > 0)
      user = this.#tokens.get(digest(header.replace(/^bearer\s+/i, '').trim())) ?? null;
    if (!user && this.#options.authenticate) user = await this.#options.authenticate(request, host);
    if (!user && !header && this.localAdmin && isLocalRequest(request, remoteAddress)) user = LOCAL_ADMIN;
    return { user, admin: (user?.roles ?? []).includes(this.#adminRole), bearer };
  }

  mayStart(user: User, task: string): boolean {
    return this.#options.canStart ? this.#options.canStart(user, task) : true;
  }
}

/** The owner and admins see a job; a share link shows its one job. */
export function canSee(caller: Caller, job: Pick<Job, 'id' | 'owner'>): boolean {
  return canChange(caller, job) || caller.shareJobId === job.id;
}

/** Only the owner and admins may cancel, retry or delete (a share link is read-only). */
export function canChange(caller: Caller, job: Pick<Job, 'owner'>): boolean {
  if (caller.admin) return true;
  return caller.user !== null && job.owner !== null && job.owner === caller.user.id;
}

/** Whether `error.detail` (a stack, stderr) may be shown: to the owner and admins, not to share links. */
export function seesDetail(caller: Caller, job: Pick<Job, 'owner'>): boolean {
  return canChange(caller, job);
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * A request from this machine that did not pass through a proxy. A reverse proxy on the same
 * host makes every visitor look local, hence the forwarded-header check.
 */
export function isLocalRequest(request: Request, remoteAddress: string | undefined): boolean {
  if (!remoteAddress) return false;
  if (request.headers.has('x-forwarded-for') || request.headers.has('forwarded') || request.headers.has('x-real-ip')) {
    return false;
  }
  return remoteAddress === '::1' || remoteAddress.startsWith('127.') || remoteAddress.startsWith('::ffff:127.');
}
