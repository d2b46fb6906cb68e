/**
 * underway/client in Node 20, which has fetch but no EventSource: the event-stream parser on its
 * own (chunk boundaries anywhere, even inside a character), then `watch()` over loopback against a
 * real server, directly and through a proxy that cuts the connection and holds the reconnect.
 */
import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createClient, type WatchUpdate, watch } from '../src/client/index.ts';
import { type StreamState, sseParser } from '../src/client/sse-reader.ts';
import { createUnderway, type RunningServer, serveHttp, type Underway } from '../src/http/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { JobEvent, Store } from '../src/store/store.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import { dashboardTasks, pacer } from './fixtures/dashboard/setup.ts';
import { closeServer, silent } from './helpers/http.ts';
import { tempDir } from './helpers/temp.ts';
import { collectEvents } from './helpers/wait.ts';

// Node 22+ may grow an EventSource: take it away, so these tests always read over fetch.
if (typeof globalThis.EventSource !== 'undefined') vi.stubGlobal('EventSource', undefined);

describe('the text/event-stream parser', () => {
  const encoder = new TextEncoder();
  const STREAM =
    '\uFEFF: opening comment\r\nretry: 1500\r\nid: 7\r\nevent: progress\r\n' +
    'data: {"message":"Größe 📊 報告 ü"}\r\n\r\n' +
    // CR endings; `data` without a colon; only one space after the colon is dropped.
    'data: line one\rdata:line two\rdata\rdata:  two spaces keep one\r\r' +
    // A comment and a blank line (the keep-alive) dispatch nothing.
    ': keep-alive\n\n' +
    // An id with a NUL and a retry that is not all digits are ignored; unknown fields too.
    'event: status\nid: bad\0id\nretry: 12x\nwhat: ever\ndata: {"status":"succeeded"}\n\n' +
    // A BOM is only dropped at the start of the stream: here it makes an unknown field.
    '\uFEFFdata: not data\n\n' +
    'id: 8\ndata: cut off by the end';
  const EXPECTED = [
    { name: 'progress', data: '{"message":"Größe 📊 報告 ü"}', id: '7' },
    { name: 'message', data: 'line one\nline two\n\n two spaces keep one', id: '7' },
    { name: 'status', data: '{"status":"succeeded"}', id: '7' },
  ];

  function parse(chunks: Uint8Array[], state: StreamState = { lastEventId: '', retry: 3000 }) {
    const events: { name: string; data: string; id: string }[] = [];
    const push = sseParser(state, (name, data) => events.push({ name, data, id: state.lastEventId }));
    for (const chunk of chunks) push(chunk);
    return { events, state };
  }

  it('reads events, comments, multi-line data, ids and retry, with CRLF, CR and LF endings and a BOM', () => {
    const { events, state } = parse([encoder.encode(STREAM)]);
    expect(events).toEqual(EXPECTED);
    // The cut-off event's id never took effect; the valid retry did.
    expect(state).toEqual({ lastEventId: '7', retry: 1500 });
  });

  it('gives the same events however the bytes are cut: inside a CRLF, inside a UTF-8 character', () => {
    const bytes = encoder.encode(STREAM);
    // Every cut in two (this covers each byte of 📊, 報 and ü, and every CRLF), and byte by byte.
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(parse([bytes.subarray(0, cut), bytes.subarray(cut)]).events, `cut at byte ${cut}`).toEqual(EXPECTED);
    }
    expect(parse([...bytes].map((b) => Uint8Array.of(b))).events).toEqual(EXPECTED);
    // And random cuts into many chunks, empty ones included.
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: bytes.length }), { maxLength: 30 }), (cuts) => {
        const at = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const chunks = at.slice(1).map((end, i) => bytes.subarray(at[i], end));
        expect(parse(chunks).events).toEqual(EXPECTED);
      }),
      { numRuns: 300 },
    );
  });

  it('takes a CR at the end of a chunk and a LF at the start of the next as one line ending', () => {
    const { events } = parse([encoder.encode('data: a\r'), encoder.encode('\ndata: b\r\n\r\n')]);
    expect(events).toEqual([{ name: 'message', data: 'a\nb', id: '' }]);
  });

  it('keeps the last event id across a new connection until an event carries another', () => {
    const state: StreamState = { lastEventId: '41', retry: 20 };
    expect(parse([encoder.encode(': keep-alive\n\ndata: {}\n\n')], state).events).toEqual([
      { name: 'message', data: '{}', id: '41' },
    ]);
    expect(parse([encoder.encode('id: 42\nevent: log\ndata: x\n\n')], state).state.lastEventId).toBe('42');
  });
});

const TOKEN = 'node-client-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };

let dir: ReturnType<typeof tempDir>;
let store: Store;
let underway: Underway;
let server: RunningServer;
let worker: Worker | null = null;
/** Every events request the server got, to see its socket close. */
const streams: IncomingMessage[] = [];

beforeAll(async () => {
  dir = tempDir('underway-client-node-');
  store = sqliteStore({ file: dir.file('underway.db') });
  underway = createUnderway({
    store,
    tasks: dashboardTasks,
    logger: silent,
    rateLimit: false,
    dashboard: false,
    // A token and so no local admin: only a client that sends the header gets in.
    auth: { tokens: [{ token: TOKEN, id: 'node', roles: [] }] },
    // Keep-alive comments between the events, often.
    sse: { keepAliveMs: 25 },
  });
  server = await serveHttp(underway, { port: 0, host: '127.0.0.1', logger: silent });
  server.server.on('request', (req: IncomingMessage) => {
    if (req.url?.endsWith('/events')) streams.push(req);
  });
});

afterAll(async () => {
  await server?.close();
  await underway?.close();
  await worker?.stop({ graceMs: 0 });
  await store?.close();
  dir?.cleanup();
});

/** The API's full URL (where the server mounts it). */
const api = () => `${server.url}${underway.basePath}`;

/** The worker starts when a test wants it (the first one watches a job while it is still queued). */
function startWorker(): void {
  worker ??= createWorker({ store: underway.store, tasks: dashboardTasks, logger: silent, pollMs: 50 }).start();
}

/** Reads updates (into `seen`) until one passes `check`. */
async function readUntil(
  updates: AsyncIterator<WatchUpdate>,
  seen: WatchUpdate[],
  check: (update: WatchUpdate) => boolean,
): Promise<WatchUpdate> {
  for (;;) {
    const next = await updates.next();
    if (next.done) throw new Error(`watch ended first; saw ${seen.map((u) => `${u.type}:${u.job.status}`)}`);
    seen.push(next.value);
    if (check(next.value)) return next.value;
  }
}

/** Resolves once the socket that carried this request has closed. */
function socketClosed(req: IncomingMessage): Promise<unknown> {
  return req.socket.destroyed ? Promise.resolve() : once(req.socket, 'close');
}

/** Resolves with the next log event of the store whose line includes `text`. */
function logEvent(text: string): Promise<JobEvent[]> {
  return collectEvents(store, (event) => event.type === 'log' && event.line.includes(text));
}

describe('watch() in Node, over fetch', () => {
  it('runs where there is no EventSource and no page', () => {
    expect(globalThis.EventSource).toBeUndefined();
    expect(typeof document).toBe('undefined');
  });

  it('needs a full basePath without a page, and says so', () => {
    const hint = /no page to resolve it against; pass the API's full URL, e\.g\. createClient\(\{ basePath: 'http:/;
    expect(() => createClient()).toThrow(hint);
    expect(() => createClient({ basePath: '/underway/api' })).toThrow(hint);
    expect(() => watch('some-id')).toThrow(hint);
    const client = createClient({ basePath: api() });
    expect(() => client.watch('some-id', { eventsUrl: `${underway.basePath}/jobs/some-id/events` })).toThrow(hint);
  });

  it('follows a job from queued to succeeded, sending the client’s headers', async () => {
    const client = createClient({ basePath: api(), headers: auth });
    const title = 'Größe 📊 報告';
    const job = await client.start('report.build', { title, sections: 2, key: 'node-follow' });
    expect(job.status).toBe('queued');
    const seen: WatchUpdate[] = [];
    const updates = client.watch(job.id);
    await readUntil(updates, seen, (u) => u.type === 'snapshot');
    expect(seen[0]?.job.status).toBe('queued');
    expect(streams.at(-1)?.headers.authorization).toBe(auth.authorization);

    startWorker();
    await readUntil(updates, seen, (u) => u.type === 'log' && u.log.line === `section 1 of ${title}`);
    pacer.allow('node-follow', 2);
    for await (const update of updates) seen.push(update);

    const statuses = seen.filter((u) => u.type !== 'log').map((u) => u.job.status);
    expect(statuses[0]).toBe('queued');
    expect(statuses.indexOf('running')).toBeGreaterThan(0);
    expect(statuses.at(-1)).toBe('succeeded');
    expect(seen.flatMap((u) => (u.type === 'log' ? [u.log.line] : []))).toEqual([
      `section 1 of ${title}`,
      `section 2 of ${title}`,
    ]);
    const percents = seen.flatMap((u) => (u.type === 'progress' ? [u.job.progress?.percent] : []));
    expect(percents).toEqual([0, 50, 100]);
    // The last update is the job read again once it ended (with the client's headers): files too.
    const last = seen.at(-1);
    expect(last?.type).toBe('status');
    expect(last?.job.result).toEqual({ title, sections: 2, pages: 6 });
    expect(last?.job.artifacts.map((a) => a.name)).toEqual(['report.txt']);
  });

  it('rejects when the server refuses the stream (no Authorization header: 401)', async () => {
    const client = createClient({ basePath: api(), headers: auth });
    const job = await client.start('quick.sum', { a: 1, b: 2, key: 'node-refused' });
    const anonymous = createClient({ basePath: api() });
    const updates = anonymous.watch(job.id);
    await expect(updates.next()).rejects.toThrow(
      `Cannot watch job ${job.id}: the event stream was refused (HTTP 401).`,
    );
    pacer.allow('node-refused');
  });

  it('closes the connection when the loop is broken out of, or the signal aborts', async () => {
    startWorker();
    const client = createClient({ basePath: api(), headers: auth });
    const job = await client.start('quick.sum', { a: 2, b: 2, key: 'node-close' });

    for await (const update of client.watch(job.id)) {
      expect(update.type).toBe('snapshot');
      break;
    }
    const broken = streams.at(-1) as IncomingMessage;
    await socketClosed(broken);

    const abort = new AbortController();
    const seen: string[] = [];
    for await (const update of client.watch(job.id, { signal: abort.signal })) {
      seen.push(update.type);
      abort.abort();
    }
    expect(seen).toEqual(['snapshot']);
    const aborted = streams.at(-1) as IncomingMessage;
    expect(aborted).not.toBe(broken);
    await socketClosed(aborted);

    // Already aborted: nothing at all.
    const none = client.watch(job.id, { signal: abort.signal });
    await expect(none.next()).resolves.toEqual({ value: undefined, done: true });
    pacer.allow('node-close');
  });

  it('resumes with Last-Event-ID after the connection drops, after the server’s retry: delay, missing nothing', async () => {
    startWorker();
    const proxy = await startProxy(server.url);
    try {
      const client = createClient({ basePath: `${proxy.url}${underway.basePath}`, headers: auth });
      const job = await client.start('report.build', { title: 'Resume', sections: 3, key: 'node-resume' });
      const seen: WatchUpdate[] = [];
      const updates = client.watch(job.id);
      await readUntil(updates, seen, (u) => u.type === 'log' && u.log.line === 'section 1 of Resume');
      const lastId = proxy.lastIdSent();
      expect(lastId).toMatch(/^\d+$/);

      // Cut the connection, and hold the reconnect until the job has moved on meanwhile.
      proxy.hold();
      const cutAt = Date.now();
      proxy.cut();
      const again = await proxy.nextEventsRequest();
      // The proxy said `retry: 25`; without it the client would have waited 3 s.
      expect(Date.now() - cutAt).toBeLessThan(2_000);
      expect(again.headers['last-event-id']).toBe(lastId);
      expect(again.headers.authorization).toBe(auth.authorization);
      const printed = logEvent('section 2 of Resume');
      pacer.allow('node-resume');
      await printed;
      proxy.release();

      await readUntil(updates, seen, (u) => u.type === 'log' && u.log.line === 'section 2 of Resume');
      // The server took up the resume: the new stream's snapshot carries the id the client sent.
      expect(proxy.firstIdOfLastStream()).toBe(lastId);
      pacer.allow('node-resume', 2);
      for await (const update of updates) seen.push(update);

      expect(seen.flatMap((u) => (u.type === 'log' ? [u.log.line] : []))).toEqual([
        'section 1 of Resume',
        'section 2 of Resume',
        'section 3 of Resume',
      ]);
      expect(seen.filter((u) => u.type === 'snapshot')).toHaveLength(2);
      expect(seen.at(-1)?.job).toMatchObject({ status: 'succeeded', result: { title: 'Resume', sections: 3 } });
      expect(proxy.eventsRequests()).toBe(2);
    } finally {
      await proxy.close();
    }
  });
});

/**
 * A reverse proxy for the event streams: it tells the client `retry: 25`, remembers the ids it
 * passed on, can cut every stream at once, and can hold the next events request until released.
 */
async function startProxy(target: string) {
  const requests: IncomingHttpHeaders[] = [];
  const arrivals: ((headers: IncomingHttpHeaders) => void)[] = [];
  const sockets = new Set<Socket>();
  let held: Promise<void> | null = null;
  let release = () => {};
  let forwarded = '';

  const server = createServer(async (req, res) => {
    const events = req.url?.split('?')[0]?.endsWith('/events') ?? false;
    if (events) {
      requests.push(req.headers);
      for (const arrived of arrivals.splice(0)) arrived(req.headers);
      if (held) await held;
    }
    const upstream = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers, agent: false });
    req.pipe(upstream);
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (events && answer.statusCode === 200) {
        sockets.add(res.socket as Socket);
        forwarded = '';
        res.write(': through the test proxy\nretry: 25\n\n');
        answer.on('data', (chunk: Buffer) => {
          forwarded += chunk.toString('utf8');
        });
      }
      answer.pipe(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const ids = () => [...forwarded.matchAll(/^id: (\d+)$/gm)].map((m) => m[1]);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    eventsRequests: () => requests.length,
    /** The id of the last event passed on in the current (or last) stream. */
    lastIdSent: () => ids().at(-1),
    firstIdOfLastStream: () => ids()[0],
    hold() {
      held = new Promise<void>((resolve) => (release = resolve));
    },
    release() {
      held = null;
      release();
    },
    cut() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    nextEventsRequest: () =>
      new Promise<IncomingHttpHeaders>((resolve) => arrivals.push(resolve)).then((headers) => ({ headers })),
    close: () => closeServer(server),
  };
}
