import type { IncomingMessage } from 'node:http';

/** A Node request as a host's body parser leaves it: Express's `req.body`, multer's `req.file(s)`. */
type ParsedRequest = IncomingMessage & {
  body?: unknown;
  rawBody?: unknown;
  file?: UploadedFile;
  files?: UploadedFile[] | Record<string, UploadedFile[]>;
};

interface UploadedFile {
  fieldname: string;
  originalname?: string;
  mimetype?: string;
  buffer?: Buffer;
}

/**
 * A host whose body parser ran first (`express.json()`, `express.urlencoded()`, `express.text()`,
 * `express.raw()`, multer) has consumed the request stream. This gives underway the bytes back
 * as the client sent them, in the request's own content type (read by @hono/node-server from
 * `rawBody`). A stream nobody read is left alone.
 */
export async function adoptParsedBody(req: IncomingMessage): Promise<void> {
  const parsed = req as ParsedRequest;
  if (!parsed.readableEnded || parsed.rawBody !== undefined) return;
  const body = parsed.body;
  if (body === undefined && parsed.file === undefined && parsed.files === undefined) return;
  if (Buffer.isBuffer(body)) {
    parsed.rawBody = body;
    return;
  }
  if (typeof body === 'string') {
    parsed.rawBody = Buffer.from(body);
    return;
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/x-www-form-urlencoded') {
    parsed.rawBody = Buffer.from(formPairs(body).toString());
  } else if (type === 'multipart/form-data') {
    // The boundary changes with the new encoding, so the header must follow it.
    const encoded = new Response(multipartForm(parsed));
    parsed.rawBody = Buffer.from(await encoded.arrayBuffer());
    setHeader(req, 'content-type', encoded.headers.get('content-type') ?? 'multipart/form-data');
  } else {
    parsed.rawBody = Buffer.from(JSON.stringify(body ?? null));
  }
  setHeader(req, 'content-length', String((parsed.rawBody as Buffer).byteLength));
  setHeader(req, 'transfer-encoding', null);
}

/** Sets (or with null removes) a header in both views of it: @hono/node-server reads `rawHeaders`. */
function setHeader(req: IncomingMessage, name: string, value: string | null): void {
  const raw: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const key = req.rawHeaders[i] as string;
    if (key.toLowerCase() !== name) raw.push(key, req.rawHeaders[i + 1] as string);
  }
  if (value === null) delete req.headers[name];
  else {
    req.headers[name] = value;
    raw.push(name, value);
  }
  req.rawHeaders = raw;
}

/** Flattens what `qs` (extended) or `querystring` made of a form back into its fields: `a[b]=c`, `a=1&a=2`. */
function formPairs(body: unknown): URLSearchParams {
  const pairs = new URLSearchParams();
  const add = (name: string, value: unknown): void => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) for (const item of value) add(name, item);
    else if (typeof value === 'object') for (const [key, inner] of Object.entries(value)) add(`${name}[${key}]`, inner);
    else pairs.append(name, String(value));
  };
  if (body && typeof body === 'object') for (const [name, value] of Object.entries(body)) add(name, value);
  return pairs;
}

function multipartForm(req: ParsedRequest): FormData {
  const form = new FormData();
  for (const [name, value] of formPairs(req.body)) form.append(name, value);
  const files = [
    ...(req.file ? [req.file] : []),
    ...(Array.isArray(req.files) ? req.files : Object.values(req.files ?? {}).flat()),
  ];
  for (const file of files) {
    if (!file.buffer) continue; // on disk (multer's diskStorage): not ours to read back
    form.append(
      file.fieldname,
      new Blob([new Uint8Array(file.buffer)], { type: file.mimetype ?? 'application/octet-stream' }),
      file.originalname ?? file.fieldname,
    );
  }
  return form;
}

/**
 * Reads and drops the body of a GET or HEAD (which the Fetch `Request` cannot carry, so nothing
 * else reads it). Answered while the client was still sending it, the connection was reset under
 * the answer: the client saw none. Resolves false when it is over `maxBytes` (answer 413).
 */
export function drainBodyOfRead(req: IncomingMessage, maxBytes: number): Promise<boolean> {
  const method = req.method ?? 'GET';
  const declared = Number(req.headers['content-length'] ?? 0);
  const hasBody = declared > 0 || req.headers['transfer-encoding'] !== undefined;
  if ((method !== 'GET' && method !== 'HEAD') || !hasBody || req.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    let bytes = 0;
    const onData = (chunk: Buffer) => {
      bytes += chunk.byteLength;
      if (bytes > maxBytes) {
        req.off('data', onData);
        resolve(false);
      }
    };
    req.on('data', onData);
    req.once('end', () => resolve(bytes <= maxBytes));
    req.once('error', () => resolve(false));
  });
}
