import type { Context, MiddlewareHandler } from 'hono';
import { type AppEnv, type Deps, hostOf } from '../context.ts';

/** What every page needs to draw its frame: where things live and the CSRF token for its forms. */
export interface PageFrame {
  title: string;
  pagesPath: string;
  basePath: string;
  /** The double-submit token, also set as the cookie; empty on a share-link view. */
  csrf: string;
  /** The signed-in user's id, for the header; null on a share-link view. */
  user: string | null;
  /** Whether the caller is an admin: the header then links the Overview. */
  admin?: boolean;
}

/** The list page: `/`, or the pages path itself (`/underway`). */
export function homePath(pagesPath: string): string {
  return pagesPath || '/';
}

/** Where the dashboard's own assets are served, under `pagesPath`. */
export const ASSET_FILES = { script: 'underway-client.js', css: 'underway.css' } as const;

/**
 * Resolves the caller for page routes the way the API does (the host app's authenticate, bearer
 * tokens, the local admin, a `?share=` link), so the same rules decide what a page shows.
 * An invalid share link counts as none: the page then says who may see it.
 */
export function resolvePageCaller(deps: Deps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const remote = c.env?.incoming?.socket?.remoteAddress;
    const base = await deps.auth.resolve(c.req.raw, remote, hostOf(c));
    const token = c.req.query('share') ?? null;
    const shareJobId = token ? deps.shareLinks.verify(token) : null;
    c.set('caller', { ...base, shareJobId });
    c.set('shareToken', shareJobId ? token : null);
    await next();
  };
}

/** The frame for this request; issues the CSRF cookie when a signed-in browser has none yet. */
export function frameOf(c: Context<AppEnv>, deps: Deps, title: string): PageFrame {
  const user = c.get('caller').user;
  return {
    title,
    pagesPath: deps.paths.pagesPath,
    basePath: deps.paths.basePath,
    csrf: user ? deps.csrf.issue(c) : '',
    user: user?.id ?? null,
    admin: c.get('caller').admin,
  };
}

/**
 * Security headers for every page. The CSP allows only this origin's script and styles (no inline
 * script, no inline style attributes), so even a rendering bug cannot run a task's text as code.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

/** Only a path on this site (`/x`, not `//evil.example` or `https://…`) may be a redirect target. */
export function safeLocalPath(value: string | undefined): string | null {
  if (!value?.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (/[\u0000-\u001f\\]/.test(value)) return null;
  return value;
}
