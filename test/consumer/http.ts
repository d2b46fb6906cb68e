/**
 * What the consumer tests do over HTTP, as a browser or a script would: a cookie session, the
 * CSRF token, an SSE reader over fetch, and a poster for the dashboard's start form.
 */

/** A signed-in visitor: keeps cookies the server sets, sends them back, and says where it comes from. */
export class Session {
  readonly base: string;
  readonly cookies = new Map<string, string>();

  constructor(base: string, cookies: Record<string, string> = {}) {
    this.base = base;
    for (const [name, value] of Object.entries(cookies)) this.cookies.set(name, value);
  }

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', this.cookieHeader());
    // A browser says where a post comes from; the CSRF check compares it with the server's origin.
    if (init.method && init.method !== 'GET' && !headers.has('origin')) headers.set('origin', this.base);
    const response = await fetch(new URL(path, this.base), { redirect: 'manual', ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const cut = pair.indexOf('=');
      if (cut > 0) this.cookies.set(pair.slice(0, cut).trim(), pair.slice(cut + 1).trim());
    }
    return response;
  }

  /** `GET <api>/csrf`: the token (its cookie is kept) and the header to send it in. */
  async csrf(api: string): Promise<{ token: string; headerName: string }> {
    const response = await this.fetch(`${api}/csrf`);
    const body = await readJson<{ token: string; headerName?: string }>(response, 200);
    return { token: body.token, headerName: body.headerName ?? 'X-CSRF-Token' };
  }

  /** `POST <api>/jobs` with the CSRF header: the 201 job. */
  async startJob(api: string, task: string, params: unknown): Promise<JobJson> {
    const { token, headerName } = await this.csrf(api);
    const response = await this.fetch(`${api}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [headerName]: token },
      body: JSON.stringify({ task, params }),
    });
    return readJson<JobJson>(response, 201);
  }

  async text(path: string, status = 200): Promise<{ text: string; response: Response }> {
    const response = await this.fetch(path);
    const text = await response.text();
    if (response.status !== status) throw new Error(`GET ${path}: ${response.status}, expected ${status}:\n${text}`);
    return { text, response };
  }
}

/** The job JSON of the API, as far as these tests read it. */
export interface JobJson {
  id: string;
  task: string;
  status: string;
  result?: unknown;
  progress?: { percent?: number | null } | null;
  urls: { events: string; page: string; self?: string };
}

/** Reads a JSON body, failing with the body's text when the status is not the expected one. */
export async function readJson<T>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  if (response.status !== status) {
    throw new Error(`${response.url}: ${response.status}, expected ${status}:\n${text}`);
  }
  return JSON.parse(text) as T;
}

export interface SseFrame {
  event: string;
  id: string | undefined;
  data: unknown;
}

/** One server-sent event stream read over fetch, frame by frame, until the server ends it. */
export class EventStream {
  readonly response: Response;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  readonly #abort: AbortController;
  #buffer = '';
  #done = false;

  private constructor(response: Response, abort: AbortController) {
    this.response = response;
    this.#abort = abort;
    if (!response.body) throw new Error(`${response.url}: no body`);
    this.#reader = response.body.getReader();
  }

  static async open(session: Session, path: string): Promise<EventStream> {
    const abort = new AbortController();
    const response = await session.fetch(path, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status}:\n${await response.text()}`);
    return new EventStream(response, abort);
  }

  /** The next frame, or null when the server has ended the stream. Comments (keep-alives) are skipped. */
  async next(): Promise<SseFrame | null> {
    for (;;) {
      const cut = /\r?\n\r?\n/.exec(this.#buffer);
      if (cut) {
        const block = this.#buffer.slice(0, cut.index);
        this.#buffer = this.#buffer.slice(cut.index + cut[0].length);
        const frame = parseFrame(block);
        if (frame) return frame;
        continue;
      }
      if (this.#done) return null;
      const { value, done } = await this.#reader.read();
      if (done) this.#done = true;
      else this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  /** Every frame until the server ends the stream. */
  async rest(): Promise<SseFrame[]> {
    const frames: SseFrame[] = [];
    for (let frame = await this.next(); frame; frame = await this.next()) frames.push(frame);
    return frames;
  }

  close(): void {
    this.#abort.abort();
  }
}

function parseFrame(block: string): SseFrame | null {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const cut = line.indexOf(':');
    const field = cut < 0 ? line : line.slice(0, cut);
    const value = cut < 0 ? '' : line.slice(cut + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length === 0) return null;
  const text = data.join('\n');
  try {
    return { event, id, data: JSON.parse(text) };
  } catch {
    return { event, id, data: text };
  }
}

/** A form in a page: where it posts, and its hidden fields (the CSRF token among them). */
export interface PageForm {
  action: string;
  method: string;
  hidden: Record<string, string>;
}

/** The `<form>` whose opening tag has `attribute="value"`, read from server-rendered HTML. */
export function findForm(html: string, attribute: string, value: string): PageForm {
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attributes = attributesOf(match[1] ?? '');
    if (attributes[attribute] !== value) continue;
    const hidden: Record<string, string> = {};
    for (const input of (match[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
      const field = attributesOf(input[1] ?? '');
      if (field.type === 'hidden' && field.name !== undefined) hidden[field.name] = field.value ?? '';
    }
    return { action: attributes.action ?? '', method: (attributes.method ?? 'get').toLowerCase(), hidden };
  }
  throw new Error(`No <form ${attribute}="${value}"> in the page:\n${html.slice(0, 4000)}`);
}

function attributesOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of text.matchAll(/([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
    const name = (match[1] ?? '').toLowerCase();
    out[name] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '');
  }
  return out;
}

function decodeEntities(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Words that only the dashboard's error pages and failed forms show. */
const PAGE_ERRORS = [
  /That did not work/i,
  /Sign in first/i,
  /<h1>Not found<\/h1>/i,
  /uw-field-error/,
  /Internal Server Error/i,
  /"error"\s*:\s*\{/,
];

/** Fails when a page is not a dashboard page or shows an error. */
export function assertCleanPage(html: string, what: string): void {
  if (!/^<!doctype html>/i.test(html.trimStart()))
    throw new Error(`${what} is not an HTML page:\n${html.slice(0, 2000)}`);
  for (const pattern of PAGE_ERRORS) {
    if (pattern.test(html)) throw new Error(`${what} shows an error (${pattern}):\n${html.slice(0, 4000)}`);
  }
}
