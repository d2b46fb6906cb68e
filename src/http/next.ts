import type { Underway } from './app.ts';

/** One handler per HTTP method, as a Next.js App Router `route.ts` exports them. */
export interface NextRouteHandlers {
  GET: (request: Request) => Promise<Response>;
  HEAD: (request: Request) => Promise<Response>;
  POST: (request: Request) => Promise<Response>;
  PUT: (request: Request) => Promise<Response>;
  PATCH: (request: Request) => Promise<Response>;
  DELETE: (request: Request) => Promise<Response>;
  OPTIONS: (request: Request) => Promise<Response>;
}

/**
 * Route handlers for a Next.js App Router catch-all at the mount path,
 * `app/underway/[[...path]]/route.ts`. `getUnderway` is called per request and should return
 * one instance per server process (keep it on `globalThis`: Next may load a route module more
 * than once). `authenticate` gets Next's request (`NextRequest`, with `cookies`).
 *
 * @example
 * // app/underway/[[...path]]/route.ts
 * import { nextRouteHandlers } from 'underway/next';
 * import { getUnderway } from '../../../lib/underway';
 * export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = nextRouteHandlers(getUnderway);
 * export const dynamic = 'force-dynamic';
 * export const runtime = 'nodejs';
 */
export function nextRouteHandlers(getUnderway: () => Underway | Promise<Underway>): NextRouteHandlers {
  const handle = async (request: Request) => (await getUnderway()).fetch(asAddressed(request), { host: {} });
  return { GET: handle, HEAD: handle, POST: handle, PUT: handle, PATCH: handle, DELETE: handle, OPTIONS: handle };
}

/**
 * The request with the URL the browser used. Next hands route handlers `http://localhost:PORT/…`
 * whatever the `Host` was (`next start -H 127.0.0.1` included), so a same-origin form post from
 * `http://127.0.0.1:PORT` would fail the CSRF origin check.
 */
function asAddressed(request: Request): Request {
  const host = request.headers.get('x-forwarded-host') ?? request.headers.get('host');
  if (!host) return request;
  const url = new URL(request.url);
  const protocol = request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim() || url.protocol.replace(/:$/, '');
  let addressed: URL;
  try {
    addressed = new URL(`${url.pathname}${url.search}`, `${protocol}://${host}`);
  } catch {
    return request; // a Host header that is no host: leave the URL as Next made it
  }
  if (addressed.origin === url.origin) return request;
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  return new Request(addressed, {
    method: request.method,
    headers: request.headers,
    body: hasBody ? request.body : null,
    signal: request.signal,
    ...(hasBody ? { duplex: 'half' } : {}),
  } as RequestInit);
}

/**
 * True while `next build` runs (it loads route modules to analyse them): nothing long-lived, no
 * worker, no store connection, should start then.
 *
 * @example
 * // instrumentation.ts
 * export async function register() {
 *   if (process.env.NEXT_RUNTIME !== 'nodejs' || isNextBuild()) return;
 *   const { startWorker } = await import('./lib/underway');
 *   startWorker();
 * }
 */
export function isNextBuild(): boolean {
  return process.env.NEXT_PHASE === 'phase-production-build';
}
