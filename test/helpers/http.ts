import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { z } from 'zod';
import { defineTask } from '../../src/core/task.ts';
import { createUnderway, type HttpOptions, serveHttp, type Underway } from '../../src/http/index.ts';
import { createLogger } from '../../src/logger.ts';
import { sqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/store.ts';
import { createWorker, type Worker } from '../../src/worker/index.ts';
import { tempDir } from './temp.ts';

export const silent = createLogger({ level: 'silent' });

/** Closes a test server now, cutting open connections (event streams never end on their own). */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

// Secret params are sealed with this key (not a key file in ./data) in this test process.
process.env.UNDERWAY_SECRET_KEY ??= 'http-tests-secret-key-passphrase';

export const TOKENS = {
  alice: 'alice-token-0123456789abcdef',
  bob: 'bob-token-0123456789abcdefghij',
  admin: 'admin-token-0123456789abcdefgh',
} as const;

/** A response's JSON, loosely typed for assertions. */
// biome-ignore lint/suspicious/noExplicitAny: tests dig into answers they then assert on.
export const json = async (response: Response) => (await response.json()) as Record<string, any>;

export const SHARE_SECRET = 'share-secret-0123456789abcdefghijklmnop';

/** Gates the `gate` task: it waits until the test opens its gate (or the job is cancelled). */
export const gates = new Map<string, () => void>();

export const testTasks = [
  defineTask({
    name: 'echo',
    description: 'Returns its params.',
    params: z.object({ text: z.string(), password: z.string().meta({ secret: true }).optional() }),
    async run(params, ctx) {
      ctx.progress(1, 1, 'echoed');
      ctx.log('echo says', params.text);
      await ctx.artifact('echo.txt', params.text);
      return { text: params.text };
    },
  }),
  defineTask({
    name: 'gate',
    params: z.object({ key: z.string() }),
    maxAttempts: 1,
    async run({ key }, ctx) {
      ctx.progress(0, 2, 'waiting at the gate');
      await new Promise<void>((resolve, reject) => {
        gates.set(key, resolve);
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      });
      ctx.progress(2, 2, 'through');
      return { key };
    },
  }),
  defineTask({
    name: 'fail',
    params: z.object({}),
    maxAttempts: 1,
    async run() {
      throw new Error('It broke.');
    },
  }),
];

export interface TestEnv {
  store: Store;
  underway: Underway;
  /** In-process request through `app.request()`; `as` picks a bearer token. */
  call(path: string, init?: CallInit): Promise<Response>;
  worker(): Worker;
  close(): Promise<void>;
}

export interface CallInit extends Omit<RequestInit, 'body'> {
  as?: keyof typeof TOKENS | null;
  body?: unknown;
}

/** A SQLite store in a temp dir, the API over it with three bearer-token users, and cleanup. */
export function setup(options: HttpOptions = {}): TestEnv {
  const dir = tempDir('underway-http-');
  const store = sqliteStore({ file: dir.file('underway.db') });
  const underway = createUnderway({
    mountPath: '',
    store,
    tasks: testTasks,
    logger: silent,
    auth: {
      tokens: [
        { token: TOKENS.alice, id: 'alice', roles: [] },
        { token: TOKENS.bob, id: 'bob', roles: [] },
        { token: TOKENS.admin, id: 'root', roles: ['admin'] },
      ],
    },
    shareLinks: { secret: SHARE_SECRET },
    ...options,
  });
  const workers: Worker[] = [];
  return {
    store,
    underway,
    async call(path, init = {}) {
      const { as = 'alice', body, headers, ...rest } = init;
      const h = new Headers(headers);
      if (as) h.set('authorization', `Bearer ${TOKENS[as]}`);
      let payload: BodyInit | undefined;
      if (body !== undefined) {
        payload = typeof body === 'string' ? body : JSON.stringify(body);
        if (!h.has('content-type')) h.set('content-type', 'application/json');
      }
      return underway.app.request(path, { ...rest, headers: h, body: payload });
    },
    worker() {
      const worker = createWorker({ store: underway.store, tasks: testTasks, logger: silent, pollMs: 50 }).start();
      workers.push(worker);
      return worker;
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop({ graceMs: 0 })));
      await underway.close();
      await store.close();
      dir.cleanup();
    },
  };
}

/** Serves the app on 127.0.0.1 on a free port. */
export async function listen(underway: Underway) {
  return serveHttp(underway, { port: 0, host: '127.0.0.1', logger: silent });
}

export interface SseFrame {
  id: string | undefined;
  event: string;
  data: unknown;
}

/** A minimal EventSource over node:http that keeps every frame, for assertions. */
export class SseClient {
  readonly frames: SseFrame[] = [];
  comments = 0;
  status = 0;
  readonly ended: Promise<void>;
  #waiters: (() => void)[] = [];
  #buffer = '';
  #request: ReturnType<typeof httpRequest>;
  #response: IncomingMessage | null = null;
  #ended = false;

  constructor(url: string, headers: Record<string, string> = {}) {
    let resolveEnded = () => {};
    this.ended = new Promise<void>((resolve) => (resolveEnded = resolve));
    const finish = () => {
      this.#ended = true;
      resolveEnded();
      this.#wake();
    };
    this.#request = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false });
    this.#request.on('response', (response) => {
      this.#response = response;
      this.status = response.statusCode ?? 0;
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => this.#feed(chunk));
      response.on('end', finish);
      response.on('close', finish);
      response.on('error', finish);
      this.#wake();
    });
    this.#request.on('error', finish);
    this.#request.end();
  }

  get isEnded(): boolean {
    return this.#ended;
  }

  #feed(chunk: string): void {
    this.#buffer += chunk;
    let cut = this.#buffer.indexOf('\n\n');
    while (cut >= 0) {
      const block = this.#buffer.slice(0, cut);
      this.#buffer = this.#buffer.slice(cut + 2);
      this.#parse(block);
      cut = this.#buffer.indexOf('\n\n');
    }
    this.#wake();
  }

  #parse(block: string): void {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    let any = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments++;
      else if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
      else continue;
      if (!line.startsWith(':')) any = true;
    }
    if (any) this.frames.push({ id, event, data: JSON.parse(data.join('\n')) });
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** Resolves once `check` passes (re-checked on every frame), or rejects after `timeoutMs`. */
  async until<T>(check: (client: SseClient) => T | undefined | false, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check(this);
      if (value !== undefined && value !== false) return value;
      if (this.#ended)
        throw new Error(`stream ended first; frames: ${JSON.stringify(this.frames.map((f) => f.event))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames: ${JSON.stringify(this.frames.map((f) => f.event))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for a frame with this event name (and matching `where`). */
  frame(event: string, where: (data: Record<string, unknown>) => boolean = () => true, timeoutMs?: number) {
    return this.until(
      (c) => c.frames.find((f) => f.event === event && where(f.data as Record<string, unknown>)),
      timeoutMs,
    );
  }

  /** Stops reading (the socket stays open): a stalled client. */
  stall(): void {
    this.#response?.pause();
  }

  resume(): void {
    this.#response?.resume();
  }

  close(): void {
    this.#request.destroy();
    this.#response?.destroy();
  }
}
