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
 * `authenticate`, and (opted in with `localAdmin`) a single local admin for requests from this machine.
 */
export interface AuthOptions {
  authenticate?: Authenticate | undefined;
  /** Standalone bearer tokens (`Authorization: Bearer <token>`). */
  tokens?: readonly TokenEntry[] | undefined;
  /**
   * Treat requests from this machine as the user `local` with the admin role: a loopback peer
   * address, no `X-Forwarded-For`/`Forwarded`/`X-Real-IP` header, no `Authorization`, and a
   * `Host` of `localhost`, `127.0.0.1`, `[::1]` or one of `allowedHosts`. Default off; `underway
   * serve` turns it on when no auth is configured and it listens on a loopback address. Never
   * behind a reverse proxy on the same machine: it forwards every visitor from a loopback peer,
   * and a proxy that sets no forwarded header and keeps the upstream's `Host` makes every
   * visitor the admin (docs/http.md, "Who is local").
   */
  localAdmin?: boolean | undefined;
  /** Host names besides the loopback ones that local-admin requests may be addressed to (e.g. `devbox.local`). */
  allowedHosts?: readonly string[] | undefined;
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
  readonly #hosts: Set<string>;
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
    this.localAdmin = options.localAdmin ?? false;
    this.#hosts = new Set([...LOOPBACK_HOSTS, ...(options.allowedHosts ?? []).map((name) => name.toLowerCase())]);
  }

  /** One line for the startup log: how callers are recognised. */
  describe(): string {
    const ways: string[] = [];
    if (this.#tokens.size > 0) ways.push(`${this.#tokens.size} bearer token(s)`);
    if (this.#options.authenticate) ways.push("the host app's authenticate()");
    if (this.localAdmin) {
      ways.push(`a single local admin for requests from this machine to ${[...this.#hosts].join(', ')}`);
    }
    return ways.length > 0 ? ways.join(' + ') : 'nobody (no auth configured)';
  }

  async resolve(
    request: Request,
    remoteAddress: string | undefined,
    host: HostRequest = {},
  ): Promise<Omit<Caller, 'shareJobId'>> {
    const header = request.headers.get('authorization');
    const hasBearer = header !== null && /^bearer\s+/i.test(header);
    let user: User | null = null;
    // Exempt from the CSRF check only when the credentials cannot have come from a browser on its
    // own: one of our tokens, or the host's authenticate with no cookie along. A cookie session
    // plus `Authorization: Bearer junk` is still a cookie session.
    let bearer = false;
    if (hasBearer && this.#tokens.size > 0) {
      user = this.#tokens.get(digest(header.replace(/^bearer\s+/i, '').trim())) ?? null;
      bearer = user !== null;
    }
    if (!user && this.#options.authenticate) {
      user = await this.#options.authenticate(request, host);
      bearer = user !== null && hasBearer && !request.headers.has('cookie');
    }
    if (!user && !header && this.localAdmin && this.#isLocal(request, remoteAddress)) user = LOCAL_ADMIN;
    return { user, admin: (user?.roles ?? []).includes(this.#adminRole), bearer };
  }

  /**
   * The local admin's requests: from this machine, not through a proxy, and addressed to a
   * loopback name (or a configured allowed host). A page on `rebind.attacker.example` whose
   * name resolves to 127.0.0.1 reaches the server from a loopback peer with its own name in
   * `Host` (DNS rebinding): that is no local request.
   */
  #isLocal(request: Request, remoteAddress: string | undefined): boolean {
    if (!isLocalRequest(request, remoteAddress)) return false;
    const name = hostName(request.headers.get('host'));
    return name !== null && this.#hosts.has(name);
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

/** The names a local request may be addressed to, as `Host` carries them (without the port). */
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/** `Host: Example.org:3000` → `example.org`; `[::1]:3000` → `[::1]`; null when absent or not a host. */
export function hostName(header: string | null): string | null {
  if (!header) return null;
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/i.exec(header.trim());
  return match?.[1] ? match[1].toLowerCase() : null;
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
