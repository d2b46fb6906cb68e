import { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from './context.ts';
import { HttpError } from './errors.ts';

/** Past the limit, a body is still read (and dropped) up to this many bytes before the 413 goes out. */
const DRAIN_BYTES = 16 * 1024 * 1024;

/**
 * Reads every request body up front, for every route (API, dashboard forms, unknown paths), and
 * keeps it for the route (Hono's body cache). One limit for all: a form post of 150 MB once
 * took the server from 106 MB to 1.9 GB. Reading first also means an answer never goes out
 * while the client is still sending: a 404 to an unread 360 KB body reset the connection, so the
 * client saw no answer at all. Bodies without Content-Length (chunked, or a DELETE with none)
 * are counted as they come.
 */
export function readBodyWithin(maxBytes: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const chunks = bodyChunks(c);
    if (chunks === null) return next();
    const declared = Number(c.req.header('content-length'));
    const kept: Uint8Array[] = [];
    let bytes = 0;
    let tooLarge = Number.isFinite(declared) && declared > maxBytes;
    try {
      for await (const chunk of chunks) {
        bytes += chunk.byteLength;
        if (bytes > maxBytes) tooLarge = true;
        if (tooLarge) {
          if (bytes > maxBytes + DRAIN_BYTES) break;
          continue;
        }
        kept.push(chunk);
      }
    } catch {
      throw new HttpError(400, 'BAD_REQUEST', 'The request body could not be read to its end.');
    }
    if (tooLarge) {
      throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `The request body is larger than ${maxBytes} bytes.`, {
        headers: { Connection: 'close' },
      });
    }
    const whole = new Uint8Array(bytes);
    let at = 0;
    for (const chunk of kept) {
      whole.set(chunk, at);
      at += chunk.byteLength;
    }
    // Hono keeps the promise of each body reading here, and derives text() and formData() from it.
    const cache = c.req.bodyCache as { arrayBuffer?: Promise<ArrayBuffer> };
    cache.arrayBuffer = Promise.resolve(whole.buffer);
    await next();
  };
}

/**
 * The body's bytes as they come, or null when there is none. Under Node (`env.incoming`, set by
 * @hono/node-server and by this package's own listener) they are read from the IncomingMessage
 * itself, or taken from the `rawBody` a host's parser left: touching `c.req.raw.body` makes
 * node-server build a whole web Request with a stream over the socket, which was an eighth of the
 * CPU of a `POST /api/jobs` (docs/performance.md). Elsewhere, the web Request's own stream.
 */
function bodyChunks(c: Context<AppEnv>): AsyncIterable<Uint8Array> | Iterable<Uint8Array> | null {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (incoming instanceof IncomingMessage) {
    const rawBody = (incoming as IncomingMessage & { rawBody?: unknown }).rawBody;
    if (rawBody instanceof Uint8Array) return [rawBody];
    if (!incoming.readableEnded) return nodeChunks(incoming);
  }
  const body = c.req.raw.body;
  return body === null ? null : webChunks(body);
}

/**
 * The IncomingMessage's chunks. Not its own async iterator: leaving that early destroys the
 * socket, and the 413 for a body past the limit (read no further) must still go out on it.
 * Leaving this one pauses the stream instead, as releasing a web stream's reader does.
 */
async function* nodeChunks(incoming: IncomingMessage): AsyncGenerator<Uint8Array> {
  const queue: Buffer[] = [];
  let ended = false;
  let failed = false;
  let wake: (() => void) | null = null;
  const onData = (chunk: Buffer) => {
    queue.push(chunk);
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  // A client gone before the end of its body: an error, or a close without an end.
  const onFail = () => {
    failed = !ended;
    wake?.();
  };
  incoming.on('data', onData).on('end', onEnd).on('error', onFail).on('close', onFail);
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) yield chunk;
      else if (ended) return;
      else if (failed) throw new Error('The request body ended early.');
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    incoming.off('data', onData).off('end', onEnd).off('error', onFail).off('close', onFail);
    if (!ended) incoming.pause();
  }
}

async function* webChunks(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/** JSON nested deeper than this is refused: 5,000 levels overflowed the stack when stored. */
export const MAX_JSON_DEPTH = 64;

/**
 * Why a parsed JSON value cannot be stored, or null: too deep, or a string with a NUL character
 * (PostgreSQL's jsonb and text refuse it). Walks without recursion.
 */
export function unstorableJson(value: unknown, maxDepth = MAX_JSON_DEPTH): string | null {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop() as [unknown, number];
    if (typeof item === 'string') {
      if (item.includes('\u0000')) return 'A string holds a NUL character (\\u0000), which cannot be stored.';
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    if (depth > maxDepth) return `The JSON is nested more than ${maxDepth} levels deep.`;
    for (const [key, inner] of Object.entries(item)) {
      if (key.includes('\u0000')) return 'A key holds a NUL character (\\u0000), which cannot be stored.';
      stack.push([inner, depth + 1]);
    }
  }
  return null;
}

/** Whether a content type is JSON: `application/json`, or `application/<anything>+json`. */
export function isJsonType(contentType: string | undefined): boolean {
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || /^application\/[\w.+-]+\+json$/.test(type);
}

/**
 * Refuses a NUL character (`%00`) anywhere in the path or query before a route sees it: no job
 * id, artifact name, filter or cursor holds one, and PostgreSQL refuses them in text (an
 * unchecked one answered 503 STORE_UNAVAILABLE, where SQLite answered 404).
 */
export function refuseNul(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const url = c.req.url;
    if (/%00/.test(url) || url.includes('\u0000')) {
      const inPath = /%00/.test(new URL(url).pathname);
      if (inPath) throw new HttpError(404, 'NOT_FOUND', 'Nothing is at a path with a NUL character.');
      throw new HttpError(400, 'BAD_REQUEST', 'The query holds a NUL character (%00).');
    }
    await next();
  };
}
