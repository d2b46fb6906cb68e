import { request as rawRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createUnderway, type RunningServer, serveHttp, type Underway } from '../src/http/index.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { silent, TOKENS, testTasks } from './helpers/http.ts';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';

/**
 * The holes found from outside (GitHub issue #13), each tried again over a real socket, as the
 * person who found it did: DNS rebinding, bodies without a length, unbounded forms, NUL bytes,
 * deep JSON, forms that lie about their type, a junk bearer beside a cookie, bidi controls,
 * content types, bodies answered before they were read.
 */

interface Served {
  url: string;
  port: number;
  store: Store;
  underway: Underway;
}

const running: { server: RunningServer; underway: Underway; store: Store; cleanup(): void }[] = [];
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  for (const { server, underway, store, cleanup } of running.splice(0)) {
    await server.close();
    await underway.close();
    await store.close();
    cleanup();
  }
});
afterAll(async () => {
  await db?.drop();
});

async function serve(
  options: Partial<Parameters<typeof createUnderway>[0]> = {},
  kind: 'sqlite' | 'postgres' = 'sqlite',
): Promise<Served> {
  const dir = tempDir('underway-hardening-');
  const store =
    kind === 'sqlite'
      ? sqliteStore({ file: dir.file('underway.db') })
      : postgresStore({ connectionString: db.url, schema: db.schema() });
  const underway = createUnderway({
    mountPath: '',
    store,
    tasks: testTasks,
    logger: silent,
    rateLimit: false,
    auth: { tokens: [{ token: TOKENS.alice, id: 'alice', roles: [] }] },
    ...options,
  });
  const server = await serveHttp(underway, { port: 0, host: '127.0.0.1', logger: silent });
  running.push({ server, underway, store, cleanup: dir.cleanup });
  return { url: server.url, port: server.port, store, underway };
}

const alice = { authorization: `Bearer ${TOKENS.alice}` };

/** One request over a raw socket, with exactly these bytes; resolves with the status line's code and the body. */
function raw(port: number, bytes: string | Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      if (!status) reject(new Error(`no answer: ${JSON.stringify(text.slice(0, 200))}`));
      else resolve({ status, text });
    });
    socket.write(bytes);
    socket.end();
  });
}

describe('DNS rebinding and the local admin', () => {
  it('is local only for loopback host names (and allowedHosts), never for a name that resolved to 127.0.0.1', async () => {
    const { url, port } = await serve({ auth: { localAdmin: true, allowedHosts: ['devbox.local'] } });
    expect((await fetch(`${url}/api/jobs`)).status).toBe(200);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, 'devbox.local']) {
      const answer = await raw(port, `GET /api/jobs HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(answer.status, host).toBe(200);
    }
    for (const host of [`rebind.attacker.example:${port}`, 'localhost.attacker.example', `127.0.0.1.nip.io:${port}`]) {
      const answer = await raw(port, `GET /api/csrf HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(answer.status).toBeLessThan(500); // the CSRF endpoint is public…
      const jobs = await raw(port, `GET /api/jobs HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(jobs.status, host).toBe(401); // …but nobody is admin through it
      const start = await raw(
        port,
        `POST /api/jobs HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://${host}\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{"task":"echo"}  `,
      );
      expect(start.status, host).toBe(401);
    }
    // No Host at all: Node itself refuses an HTTP/1.1 request without one.
    expect((await raw(port, 'GET /api/jobs HTTP/1.1\r\nConnection: close\r\n\r\n')).status).toBe(400);
  });

  it('has no local admin unless asked: a host app behind a proxy makes every visitor look local', async () => {
    const { url } = await serve({ auth: {} });
    expect((await fetch(`${url}/api/jobs`)).status).toBe(401);
  });
});

describe('bodies', () => {
  it('answers DELETE and POST without Content-Length, and chunked bodies, without a 5xx', async () => {
    const { url, port } = await serve();
    // fetch sends a DELETE with no body and no Content-Length, as a browser's fetch does.
    expect((await fetch(`${url}/api/jobs/nope`, { method: 'DELETE', headers: alice })).status).toBe(404);
    expect((await fetch(`${url}/api/jobs/nope/cancel`, { method: 'POST', headers: alice })).status).toBe(404);
    const anonymous = await raw(port, 'DELETE /api/jobs/nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(anonymous.status).toBe(401);
    const body = JSON.stringify({ task: 'echo', params: { text: 'chunked' } });
    const chunked = await raw(
      port,
      `POST /api/jobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TOKENS.alice}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    );
    expect(chunked.status).toBe(201);
  });

  it('limits every body, dashboard forms included, and the server stays usable', async () => {
    const { url } = await serve({ bodyLimitBytes: 64 * 1024 });
    const big = 'x'.repeat(200 * 1024);
    const form = await fetch(`${url}/jobs`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/x-www-form-urlencoded' },
      body: `task=echo&p.text=${big}`,
    });
    expect(form.status).toBe(413);
    const chunkedForm = await fetch(`${url}/jobs`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/x-www-form-urlencoded' },
      body: new Blob([`task=echo&p.text=${big}`]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunkedForm.status).toBe(413);
    expect((await fetch(`${url}/api/jobs`, { headers: alice })).status).toBe(200);
  });

  it('reads a body before answering, so a 404 to a 360 KB post reaches the client', async () => {
    const { port } = await serve();
    const body = Buffer.alloc(360 * 1024, 'a');
    const answer = await new Promise<number>((resolve, reject) => {
      const req = rawRequest(
        { port, host: '127.0.0.1', method: 'POST', path: '/nowhere', headers: { 'content-length': body.length } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      // Written slowly, in pieces: the answer must wait for the last one.
      let sent = 0;
      const next = () => {
        if (sent >= body.length) return void req.end();
        req.write(body.subarray(sent, sent + 64 * 1024), next);
        sent += 64 * 1024;
      };
      next();
    });
    expect(answer).toBe(404);
  });

  it('refuses a body that is not JSON with 415, deep JSON and NUL characters with 400', async () => {
    const { url } = await serve();
    const post = (body: string, type = 'application/json') =>
      fetch(`${url}/api/jobs`, { method: 'POST', headers: { ...alice, 'content-type': type }, body });
    const plain = await post(JSON.stringify({ task: 'echo', params: { text: 'a' } }), 'text/plain');
    expect(plain.status).toBe(415);
    expect(((await plain.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect((await post(JSON.stringify({ task: 'echo', params: { text: 'a' } }), 'application/vnd.x+json')).status).toBe(
      201,
    );
    const deep = `{"task":"echo","params":{"text":"a","extra":${'['.repeat(5_000)}${']'.repeat(5_000)}}}`;
    expect((await post(deep)).status).toBe(400);
    expect((await post(JSON.stringify({ task: 'echo', params: { text: 'a\u0000b' } }))).status).toBe(400);
  });

  it("answers params past a job's cap with 413, however the body came", async () => {
    const { url } = await serve();
    const answer = await fetch(`${url}/api/jobs`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'echo', params: { text: 'x'.repeat(300 * 1024) } }),
    });
    expect(answer.status).toBe(413);
    const form = await fetch(`${url}/jobs`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/x-www-form-urlencoded' },
      body: `task=echo&p.text=${'x'.repeat(300 * 1024)}`,
    });
    expect(form.status).toBe(413);
    expect((await fetch(`${url}/api/jobs`, { headers: alice })).status).toBe(200);
  });

  it('answers a multipart form whose body does not match its boundary with 400', async () => {
    const { url } = await serve();
    const answer = await fetch(`${url}/jobs`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'multipart/form-data; boundary=nothing-like-it' },
      body: 'task=echo&p.text=hello',
    });
    expect(answer.status).toBe(400);
  });
});

describe.each(['sqlite', 'postgres'] as const)('NUL bytes on %s', (kind) => {
  it('answers 404 or 400, never 5xx, wherever a NUL can go', async () => {
    const { url } = await serve({}, kind);
    const get = (path: string) => fetch(`${url}${path}`, { headers: alice });
    expect((await get('/api/jobs/a%00b')).status).toBe(404);
    expect((await get('/api/jobs/a%00b/artifacts/x')).status).toBe(404);
    expect((await get('/api/jobs/a%00b/events')).status).toBe(404);
    expect((await get('/jobs/a%00b')).status).toBe(404);
    expect((await get('/api/jobs?task=a%00b')).status).toBe(400);
    expect((await get('/api/jobs?cursor=%00')).status).toBe(400);
    const started = await fetch(`${url}/api/jobs`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'echo', params: { text: 'a' }, dedupeKey: 'k\u0000' }),
    });
    expect(started.status).toBe(400);
    const job = (await (
      await fetch(`${url}/api/jobs`, {
        method: 'POST',
        headers: { ...alice, 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'echo', params: { text: 'a' } }),
      })
    ).json()) as { id: string };
    expect((await get(`/api/jobs/${job.id}/artifacts/a%00.txt`)).status).toBe(404);
    const form = await fetch(`${url}/jobs`, {
      method: 'POST',
      headers: { ...alice, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'task=echo&p.text=a%00b',
    });
    expect(form.status).toBe(400);
  });
});

describe('half-closed connections', () => {
  it.each(['sqlite', 'postgres'] as const)(
    'answers a client that closes its side after the request (%s)',
    async (kind) => {
      const { port } = await serve({}, kind);
      // raw() ends its side right after writing, as nc and some proxies do; the store query takes
      // a few milliseconds on PostgreSQL, and the answer must still come.
      const health = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      expect(health.status).toBe(200);
      const jobs = await raw(
        port,
        `GET /api/jobs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TOKENS.alice}\r\nConnection: close\r\n\r\n`,
      );
      expect(jobs.status).toBe(200);
    },
  );
});

describe('CSRF with credentials of two kinds', () => {
  it('checks a cookie session that also carries a junk bearer', async () => {
    const { url } = await serve({
      auth: {
        authenticate: (request) =>
          request.headers.get('cookie')?.includes('session=bob') ? { id: 'bob', roles: [] } : null,
      },
    });
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/api/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ task: 'echo', params: { text: 'x' } }),
      });
    expect((await post({ cookie: 'session=bob', authorization: 'Bearer junk' })).status).toBe(403);
    expect((await post({ cookie: 'session=bob' })).status).toBe(403);
    expect((await post({ authorization: 'Bearer junk' })).status).toBe(401);
  });

  it('answers an unknown bearer token with 401 when only tokens are configured', async () => {
    const { url } = await serve();
    expect((await fetch(`${url}/api/jobs`, { headers: { authorization: 'Bearer not-a-token' } })).status).toBe(401);
  });
});

describe('bidi controls', () => {
  it('are shown on a page, not obeyed', async () => {
    const { url, underway } = await serve();
    const { job } = await underway.queue.start('echo', { text: 'invoice\u202Ecod.exe' }, { owner: 'alice' });
    const page = await (await fetch(`${url}/jobs/${job.id}`, { headers: alice })).text();
    expect(page).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    expect(page).toContain('invoice\\u202ecod.exe');
  });
});
