import { isFinished, type JobSnapshot, type LogEntry, type WatchUpdate } from './types.ts';

export interface ClientOptions {
  /** Where the API is mounted. Default: the page's `data-underway-api`, else `/api`. */
  basePath?: string;
  /** Headers for every request, e.g. `{ authorization: 'Bearer …' }` (then no CSRF token is needed). */
  headers?: Record<string, string>;
}

export interface StartOptions {
  dedupeKey?: string;
  delaySeconds?: number;
  maxAttempts?: number;
  timeoutSeconds?: number;
}

export interface WatchOptions {
  /** The events URL to use (a share link's carries its token). Default `{basePath}/jobs/:id/events`. */
  eventsUrl?: string;
  signal?: AbortSignal;
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

function pageApi(): string {
  return (typeof document !== 'undefined' && document.documentElement.dataset.underwayApi) || '/api';
}

/** A client for the API on this site. Cookies (the host app's session) go with every request. */
export function createClient(options: ClientOptions = {}): UnderwayClient {
  const base = () => options.basePath ?? pageApi();
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
    watch: (id, opts = {}) => watchJob(opts.eventsUrl ?? `${base()}${job(id)}/events`, id, opts.signal),
  };
  return client;
}

/** Turns a job's event stream into an async iterator of updates. */
function watchJob(url: string, id: string, signal?: AbortSignal) {
  const queue: WatchUpdate[] = [];
  let wake: (() => void) | null = null;
  let closed = false;
  let failure: Error | null = null;
  let job: JobSnapshot | null = null;
  const source = new EventSource(url);

  const push = (update: WatchUpdate) => {
    queue.push(update);
    wake?.();
  };
  const close = () => {
    if (closed) return;
    closed = true;
    source.close();
    wake?.();
  };
  const data = (e: Event) => JSON.parse((e as MessageEvent<string>).data);
  /** The final update carries the whole job (its files too), read once more. */
  const end = () => {
    source.close();
    const last = job as JobSnapshot;
    // Through the job's own URL, which carries a share link's token when there is one.
    fetch(last.urls.self, { credentials: 'same-origin', headers: { accept: 'application/json' } })
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

  source.addEventListener('snapshot', (e) => {
    job = data(e) as JobSnapshot;
    if (isFinished(job.status)) end();
    else push({ type: 'snapshot', job });
  });
  source.addEventListener('progress', (e) => {
    if (!job) return;
    job = { ...job, progress: data(e).progress };
    push({ type: 'progress', job });
  });
  source.addEventListener('status', (e) => {
    if (!job) return;
    const d = data(e);
    job = { ...job, status: d.status, cancelRequested: d.cancelRequested ?? job.cancelRequested };
    if (d.error !== undefined) job.error = d.error;
    if (d.result !== undefined) job.result = d.result;
    if (isFinished(job.status)) end();
    else push({ type: 'status', job });
  });
  source.addEventListener('log', (e) => {
    if (job) push({ type: 'log', job, log: data(e) as LogEntry });
  });
  source.addEventListener('error', () => {
    // CLOSED means the browser gave up (401, 404, not an event stream); otherwise it reconnects
    // with Last-Event-ID and the server resumes.
    if (source.readyState === EventSource.CLOSED && !closed) {
      failure = new Error(`Cannot watch job ${id}: the event stream was refused.`);
      close();
    }
  });
  signal?.addEventListener('abort', close, { once: true });

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
      close();
      queue.length = 0;
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
