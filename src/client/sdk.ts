import { openEventStream } from './sse-reader.ts';
import { isFinished, type JobSnapshot, type LogEntry, type WatchUpdate } from './types.ts';

export interface ClientOptions {
  /**
   * Where the API is mounted: a path on this site (`/underway/api`) or a full URL
   * (`http://127.0.0.1:3000/api`), which Node needs, having no page to resolve a path against.
   * Default: `data-underway-api` on the page's `<html>`, else beside the served bundle (`/underway/api` for
   * `/underway/assets/underway-client.js`), else `/api`.
   */
  basePath?: string;
  /**
   * Headers for every request and event stream, e.g. `{ authorization: 'Bearer …' }` (then no
   * CSRF token is needed; Node has no cookies, so it needs this). EventSource cannot send headers,
   * so with any here `watch` reads the stream over fetch.
   */
  headers?: Record<string, string>;
}

export interface StartOptions {
  dedupeKey?: string;
  delaySeconds?: number;
  maxAttempts?: number;
  timeoutSeconds?: number;
}

export interface WatchOptions {
  /**
   * The events URL to use (a share link's carries its token); a full URL in Node. Default
   * `{basePath}/jobs/:id/events`.
   */
  eventsUrl?: string;
  signal?: AbortSignal;
  /**
   * Told how many connection attempts in a row failed or dropped (the stream reconnects by
   * itself), and 0 once it is connected again: for a "cannot reach the server" note.
   */
  onConnection?: (failures: number) => void;
}

/** What the API answered when it said no: `{ error: { code, message, details? } }`. */
export class UnderwayError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: readonly string[];
  constructor(status: number, code: string, message: string, details: readonly string[] = []) {
    super(message);
    this.name = 'UnderwayError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The API from a browser: start, watch, cancel, retry, remove. */
export interface UnderwayClient {
  start(task: string, params?: unknown, options?: StartOptions): Promise<JobSnapshot>;
  get(id: string): Promise<JobSnapshot>;
  /**
   * The job as it changes, live (server-sent events), until it ends. Breaking out of the loop
   * closes the connection; a dropped connection resumes by itself.
   *
   * @example
   * for await (const { job } of client.watch(id)) bar.value = job.progress?.percent ?? 0;
   */
  watch(id: string, options?: WatchOptions): AsyncIterableIterator<WatchUpdate>;
  cancel(id: string): Promise<JobSnapshot>;
  retry(id: string): Promise<JobSnapshot>;
  remove(id: string): Promise<void>;
}

/** The served bundle's own path: `{pagesPath}/assets/underway-client.js`. */
const SERVED_BUNDLE = /\/assets\/underway-client\.js$/;

/**
 * The API of this page: `data-underway-api` on `<html>` (the dashboard's pages set it); else,
 * loaded as the bundle underway serves, the API beside it (`/underway/assets/…` → `/underway/api`,
 * the default layout); else `/api`.
 */
function pageApi(): string {
  const declared = typeof document !== 'undefined' ? document.documentElement.dataset.underwayApi : undefined;
  if (declared) return declared;
  const script = new URL(import.meta.url).pathname;
  return SERVED_BUNDLE.test(script) ? `${script.replace(SERVED_BUNDLE, '')}/api` : '/api';
}

/** `url` as it is; where there is no page to resolve a path against (Node), it must be a full URL. */
function checked(url: string): string {
  if (typeof location === 'undefined' && !/^[a-z][a-z\d+.-]*:/i.test(url)) {
    throw new Error(
      `underway/client: "${url}" is a path and there is no page to resolve it against; pass the API's full URL, e.g. createClient({ basePath: 'http://127.0.0.1:3000/api' }).`,
    );
  }
  return url;
}

/**
 * A client for the API on this site, or (with a full `basePath`) on any. Cookies (the host app's
 * session) go with every request in a browser. In Node, where there is no page, `basePath` must be
 * a full URL and this throws without one.
 *
 * @example
 * // Node 20+
 * const client = createClient({ basePath: 'http://127.0.0.1:3000/api', headers: { authorization: `Bearer ${token}` } });
 * for await (const { job } of client.watch(id)) console.log(job.status, job.progress?.percent);
 */
export function createClient(options: ClientOptions = {}): UnderwayClient {
  const base = () => checked(options.basePath ?? pageApi());
  // No page, so nothing can change the answer later: say so now rather than at the first request.
  if (typeof location === 'undefined') base();
  const extra = options.headers ?? {};
  const hasAuth = Object.keys(extra).some((h) => h.toLowerCase() === 'authorization');
  let csrf: Promise<{ token: string; headerName: string }> | null = null;

  async function call(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json', ...extra };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && !hasAuth) {
      // The double-submit CSRF token: asked for once, sent back as a header.
      csrf ??= fetch(`${base()}/csrf`, { credentials: 'same-origin' }).then((r) => r.json());
      const { token, headerName } = await csrf;
      headers[headerName] = token;
    }
    const response = await fetch(`${base()}${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return undefined;
    const data = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (!response.ok) {
      const e = (data.error ?? {}) as { code?: string; message?: string; details?: string[] };
      throw new UnderwayError(response.status, e.code ?? 'HTTP_ERROR', e.message ?? response.statusText, e.details);
    }
    return data;
  }

  const job = (id: string) => `/jobs/${encodeURIComponent(id)}`;
  const client: UnderwayClient = {
    start: (task, params, opts = {}) => call('POST', '/jobs', { task, params, ...opts }) as Promise<JobSnapshot>,
    get: (id) => call('GET', job(id)) as Promise<JobSnapshot>,
    cancel: (id) => call('POST', `${job(id)}/cancel`) as Promise<JobSnapshot>,
    retry: (id) => call('POST', `${job(id)}/retry`) as Promise<JobSnapshot>,
    remove: async (id) => {
      await call('DELETE', job(id));
    },
    watch: (id, opts = {}) => watchJob(checked(opts.eventsUrl ?? `${base()}${job(id)}/events`), id, extra, opts),
  };
  return client;
}

/** Turns a job's event stream into an async iterator of updates. */
function watchJob(url: string, id: string, headers: Record<string, string>, options: WatchOptions) {
  const { signal } = options;
  const queue: WatchUpdate[] = [];
  let wake: (() => void) | null = null;
  let closed = false;
  let failure: Error | null = null;
  let job: JobSnapshot | null = null;

  const push = (update: WatchUpdate) => {
    queue.push(update);
    wake?.();
  };
  const close = () => {
    if (closed) return;
    closed = true;
    stop();
    signal?.removeEventListener('abort', abandon);
    wake?.();
  };
  /** The final update carries the whole job (its files too), read once more. */
  const end = () => {
    stop();
    const last = job as JobSnapshot;
    // Through the job's own URL, which carries a share link's token when there is one.
    fetch(new URL(last.urls.self, new URL(url, globalThis.location?.href)), {
      credentials: 'same-origin',
      headers: { accept: 'application/json', ...headers },
    })
      .then((r) => (r.ok ? (r.json() as Promise<JobSnapshot>) : last))
      .then(
        (full) => {
          push({ type: 'status', job: full });
          close();
        },
        () => {
          push({ type: 'status', job: last });
          close();
        },
      );
  };

  const stop = openEventStream(
    url,
    headers,
    {
      snapshot: (data: JobSnapshot) => {
        job = data;
        if (isFinished(job.status)) end();
        else push({ type: 'snapshot', job });
      },
      progress: (data) => {
        if (!job) return;
        job = { ...job, progress: data.progress };
        push({ type: 'progress', job });
      },
      status: (data) => {
        if (!job) return;
        job = { ...job, status: data.status, cancelRequested: data.cancelRequested ?? job.cancelRequested };
        if (data.error !== undefined) job.error = data.error;
        if (data.result !== undefined) job.result = data.result;
        if (isFinished(job.status)) end();
        else push({ type: 'status', job });
      },
      log: (data: LogEntry) => {
        if (job) push({ type: 'log', job, log: data });
      },
    },
    (reason) => {
      if (closed) return;
      failure = new Error(`Cannot watch job ${id}: the event stream was refused${reason && ` (${reason})`}.`);
      close();
    },
    (failures) => {
      if (!closed) options.onConnection?.(failures);
    },
  );
  /** Ends the loop now, dropping updates not yet read (`break`, or the signal). */
  const abandon = () => {
    close();
    queue.length = 0;
  };
  if (signal?.aborted) abandon();
  signal?.addEventListener('abort', abandon, { once: true });

  const iterator: AsyncIterableIterator<WatchUpdate> = {
    [Symbol.asyncIterator]: () => iterator,
    async next() {
      while (queue.length === 0 && !closed) await new Promise<void>((resolve) => (wake = resolve));
      const value = queue.shift();
      if (value) return { value, done: false };
      if (failure) throw failure;
      return { value: undefined, done: true };
    },
    async return() {
      abandon();
      return { value: undefined, done: true };
    },
  };
  return iterator;
}

let defaultClient: UnderwayClient | null = null;
const shared = () => {
  defaultClient ??= createClient();
  return defaultClient;
};

/** Starts a job through this site's API (`POST /api/jobs`); resolves with the job as created. */
export const start = (task: string, params?: unknown, options?: StartOptions) => shared().start(task, params, options);
/** Watches a job live until it ends: `for await (const { type, job } of watch(id)) …`. */
export const watch = (id: string, options?: WatchOptions) => shared().watch(id, options);
/** Asks a job to stop; it ends as `cancelled` once it really has. */
export const cancel = (id: string) => shared().cancel(id);
