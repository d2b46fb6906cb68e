import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { visibleBidi } from '../../core/format.ts';
import type { AppEnv } from '../context.ts';
import { PAGE_HEADERS } from './page-context.ts';

/** A JSX tree; one with async components renders to a promise of its string. */
export interface Renderable {
  toString(): string | Promise<string>;
}

/**
 * A page as a Response. `c.html()` writes no doctype, and without one browsers render in quirks
 * mode (wrong box model, odd table fonts), so it is written here, before the JSX.
 */
export async function pageResponse(page: Renderable, status: ContentfulStatusCode = 200): Promise<Response> {
  const body = await pageHtml(page);
  return new Response(body, { status, headers: { 'Content-Type': 'text/html; charset=utf-8', ...PAGE_HEADERS } });
}

/** `pageResponse` for a route, keeping the headers the route set (the CSRF cookie). */
export async function renderPage(
  c: Context<AppEnv>,
  page: Renderable,
  status: ContentfulStatusCode = 200,
): Promise<Response> {
  return c.html(await pageHtml(page), status, PAGE_HEADERS);
}

/**
 * The page's HTML. Our templates hold no bidi controls, so every one in the page came from a
 * job (a message, a file name, params, a log line, an error): each is shown, never obeyed.
 */
async function pageHtml(page: Renderable): Promise<string> {
  return `<!DOCTYPE html>${visibleBidi(await page.toString())}`;
}
