/**
 * A real-socket fuzz of `underway serve` (the CLI, from dist/, as a user runs it) on both stores:
 * random methods, paths, Host and Origin headers, cookies and junk credentials, bodies with a
 * Content-Length or chunked, JSON (valid, deep, with NUL characters, huge), forms, multipart
 * whose boundary matches and whose does not, raw bytes. Every connection must get an answer it
 * can read, none a 5xx, and the server's memory must come back near where it started.
 *
 * npm test: 300 requests a store; npm run test:chaos (UNDERWAY_CHAOS=full): 10,000.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHAOS_CONFIG, FULL, recordFigures } from './chaos/fleet.ts';
import { killLeftovers, outputOf, startCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';

const REQUESTS = FULL ? 10_000 : 300;
const CONCURRENCY = 8;
/** Requests before memory is measured: code loaded, caches and the heap at their working size. */
const WARM_UP = Number(process.env.FUZZ_WARM_UP ?? (FULL ? 10_000 : 200));
const BODY_LIMIT = 1024 * 1024;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await killLeftovers();
});
afterAll(async () => {
  await db?.drop();
});

/** A request as bytes, and whether its answer is an event stream (which stays open). */
interface RawRequest {
  bytes: Buffer;
  stream: boolean;
}

const ID = 'ZZZZZZZZZZZZZZZZZZZZZZ';
const routes = [
  '/api/jobs',
  `/api/jobs/${ID}`,
  `/api/jobs/${ID}/cancel`,
  `/api/jobs/${ID}/retry`,
  `/api/jobs/${ID}/logs`,
  `/api/jobs/${ID}/artifacts/a.txt`,
  `/api/jobs/${ID}/share`,
  '/api/tasks',
  '/api/csrf',
  '/api/openapi.json',
  '/',
  '/jobs',
  `/jobs/${ID}`,
  `/jobs/${ID}/cancel`,
  '/healthz',
  '/metrics',
  '/assets/underway-client.js',
];

const pathArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...routes) },
  fc
    .tuple(
      fc.constantFrom(...routes),
      fc.constantFrom('%00', '..', '%2e%2e/', '%ff', '%', '//', '?status=%00', '?limit=abc', '?cursor=zz', '#x'),
    )
    .map(([route, tail]) => `${route}${tail}`),
  fc.string({ unit: 'binary', maxLength: 30 }).map((s) => `/${encodeURIComponent(s)}`),
);

const jsonBodies = [
  '{"task":"chaos.effect","params":{"effects":"/nonexistent","ms":0}}',
  '{"task":"chaos.effect","params":{"effects":"x\\u0000y","ms":1}}',
  `{"task":"chaos.effect","params":{"effects":"x","ms":${'['.repeat(3_000)}${']'.repeat(3_000)}}}`,
  '{"task":"nope"}',
  '{"task":',
  '[]',
  'null',
  '{"task":"chaos.effect","dedupeKey":"\\u0000"}',
];

const bodyArb = fc.oneof(
  fc.constant({ type: null as string | null, body: Buffer.alloc(0) }),
  fc.constantFrom(...jsonBodies).map((text) => ({ type: 'application/json', body: Buffer.from(text) })),
  fc.constantFrom(...jsonBodies).map((text) => ({ type: 'text/plain', body: Buffer.from(text) })),
  fc.constant({ type: 'application/x-www-form-urlencoded', body: Buffer.from('task=chaos.effect&p.ms=1&_csrf=x') }),
  fc.constant({
    type: 'multipart/form-data; boundary=b0',
    body: Buffer.from('--b0\r\nContent-Disposition: form-data; name="task"\r\n\r\nchaos.effect\r\n--b0--\r\n'),
  }),
  fc.constant({ type: 'multipart/form-data; boundary=not-this-one', body: Buffer.from('task=chaos.effect') }),
  fc.uint8Array({ maxLength: 2_000 }).map((bytes) => ({ type: 'application/octet-stream', body: Buffer.from(bytes) })),
  fc.constant({ type: 'application/json', body: Buffer.alloc(BODY_LIMIT + 100_000, 'a') }),
);

function requestArb(port: number): fc.Arbitrary<RawRequest> {
  return fc
    .record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND', 'TRACE'),
      path: pathArb,
      host: fc.constantFrom(`127.0.0.1:${port}`, `localhost:${port}`, 'rebind.attacker.example', `[::1]:${port}`),
      origin: fc.constantFrom(null, `http://127.0.0.1:${port}`, 'https://evil.example', 'null'),
      cookie: fc.constantFrom(null, 'underway_csrf=abc', 'session=x; underway_csrf='),
      authorization: fc.constantFrom(null, 'Bearer junk', 'Basic Zm9vOmJhcg==', 'Bearer '),
      csrf: fc.constantFrom(null, 'abc', ''),
      chunked: fc.boolean(),
      body: bodyArb,
    })
    .map((r) => {
      const lines = [`${r.method} ${r.path} HTTP/1.1`, `Host: ${r.host}`, 'Connection: close'];
      if (r.origin) lines.push(`Origin: ${r.origin}`);
      if (r.cookie) lines.push(`Cookie: ${r.cookie}`);
      if (r.authorization) lines.push(`Authorization: ${r.authorization}`);
      if (r.csrf !== null) lines.push(`X-CSRF-Token: ${r.csrf}`);
      if (r.body.type) lines.push(`Content-Type: ${r.body.type}`);
      let payload = r.body.body;
      if (r.chunked && payload.length > 0) {
        lines.push('Transfer-Encoding: chunked');
        const parts: Buffer[] = [];
        for (let at = 0; at < payload.length; at += 64 * 1024) {
          const piece = payload.subarray(at, at + 64 * 1024);
          parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
        }
        payload = Buffer.concat([...parts, Buffer.from('0\r\n\r\n')]);
      } else if (payload.length > 0 || ['POST', 'PUT', 'PATCH'].includes(r.method)) {
        lines.push(`Content-Length: ${payload.length}`);
      }
      const bytes = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
      return { bytes, stream: r.method === 'GET' && /\/events/.test(r.path) };
    });
}

/** Sends one request on its own connection; resolves with the status, or 0 when none came. */
function send(port: number, request: RawRequest): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let head = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0));
    };
    socket.on('data', (chunk) => {
      if (head.length < 64) head += chunk.toString('latin1');
      // An event stream never ends by itself: its status line is the answer.
      if (request.stream && /^HTTP\/1\.[01] \d{3}/.test(head)) finish();
    });
    socket.on('close', finish);
    socket.on('error', finish);
    // Generous: a loaded machine is slow, but a connection left without an answer must show.
    socket.setTimeout(30_000, finish);
    socket.end(request.bytes);
  });
}

function rssMb(child: ChildProcess): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

describe.each(['sqlite', 'postgres'] as const)('real-socket fuzz of underway serve on %s', (kind) => {
  it(`answers ${REQUESTS} random requests, none with a 5xx, none left unanswered`, { timeout: 900_000 }, async () => {
    const dir = tempDir('underway-fuzz-socket-');
    try {
      const env: Record<string, string> = { UNDERWAY_DATA_DIR: dir.path, UNDERWAY_LOG_LEVEL: 'warn' };
      if (kind === 'postgres') Object.assign(env, { CHAOS_PG_URL: db.url, CHAOS_PG_SCHEMA: db.schema() });
      const server = await startCli(
        ['serve', '--config', CHAOS_CONFIG, '--port', '0', '--no-worker', '--log-format', 'json'],
        { ...env, UNDERWAY_LOG_LEVEL: 'info' },
        'running at',
      );
      const port = Number(/running at http:\/\/127\.0\.0\.1:(\d+)/.exec(outputOf(server))?.[1]);
      expect(port).toBeGreaterThan(0);
      const requests = fc.sample(requestArb(port), { numRuns: REQUESTS + WARM_UP, seed: 20261201 });
      const statuses = new Map<number, number>();
      const run = async (batch: RawRequest[]) => {
        let next = 0;
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (next < batch.length) {
              const request = batch[next++] as RawRequest;
              const status = await send(port, request);
              if (status === 0 && process.env.FUZZ_DEBUG)
                console.log('UNANSWERED', request.bytes.subarray(0, 300).toString('latin1'));
              statuses.set(status, (statuses.get(status) ?? 0) + 1);
            }
          }),
        );
      };
      // Warm up (code loaded, caches filled), then measure from there.
      await run(requests.slice(0, WARM_UP));
      const rssStart = rssMb(server);
      statuses.clear();
      const started = performance.now();
      await run(requests.slice(WARM_UP));
      const seconds = (performance.now() - started) / 1000;
      const rssEnd = rssMb(server);
      const fiveXx = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
      const unanswered = statuses.get(0) ?? 0;
      recordFigures(`HTTP fuzzing (real socket, ${kind})`, {
        requests: REQUESTS,
        fiveXx,
        unanswered,
        seconds: Number(seconds.toFixed(1)),
        rssStartMb: Math.round(rssStart),
        rssEndMb: Math.round(rssEnd),
        statuses: JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b))),
      });
      if (fiveXx > 0)
        console.log(
          outputOf(server)
            .split('\n')
            .filter((line) => /"level":50/.test(line))
            .join('\n'),
        );
      expect(fiveXx).toBe(0);
      expect(unanswered).toBe(0);
      // At full size, after a warm-up that brings the heap to its working size, memory must come
      // back within 20 % (a leak grows without end: 30,000 requests more moved it 220 -> 222 MB).
      // The short run's 200-request warm-up leaves the heap still growing into its working size
      // (117 -> 148 MB seen), so there only a bound on the growth is checked.
      const allowedMb = FULL ? rssStart * 0.2 : 64;
      expect(rssEnd - rssStart).toBeLessThan(allowedMb);
      // Still serving.
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await killLeftovers();
      dir.cleanup();
    }
  });
});
