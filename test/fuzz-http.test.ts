/**
 * Fuzzing the HTTP API with fast-check: random methods, paths, headers and bodies (JSON that is
 * valid, malformed, deeply nested or huge, bytes that are not UTF-8) against every route. The
 * API must answer each with a status below 500 and a JSON error body, never crash, and keep its
 * memory bounded. A second part sends malformed HTTP over a real socket.
 *
 * npm test: 300 cases; npm run test:chaos (UNDERWAY_CHAOS=full): 3,000.
 */
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordFigures } from './chaos/fleet.ts';
import { json, listen, setup, type TestEnv, TOKENS } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';

const RUNS = process.env.UNDERWAY_CHAOS === 'full' ? 3_000 : 300;

let env: TestEnv;
let jobId = '';
let shareToken = '';
/** Alice's finished job the paths point at, and a share link to it; made again when a case deletes it. */
async function aliceJob(): Promise<void> {
  const job = await json(
    await env.call('/api/jobs', { method: 'POST', body: { task: 'echo', params: { text: 'hi' } } }),
  );
  jobId = job.id;
  await waitForStatus(env.store, jobId, 'succeeded');
  shareToken = (await json(await env.call(`/api/jobs/${jobId}/share`, { method: 'POST', body: {} }))).token;
}
beforeAll(async () => {
  // No rate limit: the fuzzer starts many jobs, and a 429 would hide what lies behind it.
  env = setup({ rateLimit: false });
  env.worker();
  await aliceJob();
});
afterAll(() => env.close());

const segment = fc.oneof(
  fc.constantFrom('jobs', 'tasks', 'events', 'logs', 'artifacts', 'cancel', 'retry', 'share', 'csrf', 'openapi.json'),
  fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', '%ff', '%', '%zz', '~', ';', '*', '?x=1', '#frag'),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 20 }).map((s) => encodeURIComponent(s)),
  fc.constant('x'.repeat(5_000)),
  fc.constant('JOB'),
);

// Mostly real routes (with the real job's id), so most requests get past routing and auth.
const path = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      '/api/jobs',
      '/api/jobs/JOB',
      '/api/jobs/JOB/events',
      '/api/jobs/JOB/logs',
      '/api/jobs/JOB/artifacts/echo.txt',
      '/api/jobs/JOB/cancel',
      '/api/jobs/JOB/retry',
      '/api/jobs/JOB/share',
      '/api/tasks',
      '/api/events',
      '/api/csrf',
      '/api/openapi.json',
      '/api/webhooks/deliveries',
      '/healthz',
      '/metrics',
    ),
  },
  { weight: 3, arbitrary: fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => `/api/${parts.join('/')}`) },
  { weight: 1, arbitrary: fc.array(segment, { minLength: 0, maxLength: 4 }).map((parts) => `/${parts.join('/')}`) },
);

const query = fc.oneof(
  fc.constant(''),
  fc
    .array(
      fc.tuple(
        fc.constantFrom('status', 'task', 'limit', 'cursor', 'since', 'owner', 'share', 'lastEventId', 'x'),
        fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.constant('SHARE'), fc.constant('-1')),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`),
);

const anyJson = fc.jsonValue({ maxDepth: 4 });

/** A body, printed short in a counterexample (some are megabytes). */
interface Body {
  value: string | Uint8Array | undefined;
  [fc.toStringMethod](): string;
}
const short = (value: string | Uint8Array | undefined): Body => ({
  value,
  [fc.toStringMethod]: () =>
    value === undefined
      ? 'no body'
      : typeof value === 'string'
        ? JSON.stringify(value.slice(0, 120))
        : `${value.length} bytes`,
});

const body = fc
  .oneof(
    fc.constant(undefined),
    anyJson.map((v) => JSON.stringify(v)),
    fc
      .record({ task: fc.constantFrom('echo', 'gate', 'fail', 'nope', ''), params: anyJson })
      .map((v) => JSON.stringify(v)),
    fc
      .record(
        {
          task: fc.constantFrom('echo', 'fail'),
          params: fc.record({ text: fc.oneof(fc.string(), fc.integer()) }),
          dedupeKey: fc.string({ maxLength: 300 }),
          delaySeconds: fc.oneof(fc.double(), fc.integer()),
          runAt: fc.string({ maxLength: 40 }),
          maxAttempts: fc.oneof(fc.integer(), fc.double()),
          timeoutSeconds: fc.oneof(fc.integer(), fc.double()),
          ttlSeconds: fc.oneof(fc.integer(), fc.double()),
          extra: anyJson,
        },
        { requiredKeys: [] },
      )
      .map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }), // malformed JSON, mostly
    fc.constantFrom('{', '{"task":', '[', 'null', '"', '{"task":"echo","params":{"text":"\\ud800"}}', '\u0000', '{}}'),
    fc.uint8Array({ maxLength: 300 }), // bytes that are not UTF-8
    fc.constant(`{"a":${'['.repeat(100_000)}`), // deep nesting
    fc.constant(`{"task":"echo","params":{"text":"${'x'.repeat(2 * 1024 * 1024)}"}}`), // over the 1 MiB limit
  )
  .map(short);

const headers = fc.record(
  {
    authorization: fc.oneof(
      {
        weight: 8,
        arbitrary: fc.constantFrom(`Bearer ${TOKENS.alice}`, `Bearer ${TOKENS.bob}`, `Bearer ${TOKENS.admin}`),
      },
      { weight: 1, arbitrary: fc.constantFrom('Bearer', 'Basic abc', `bearer   ${TOKENS.alice}  `) },
      { weight: 1, arbitrary: fc.string({ maxLength: 60 }).filter((s) => /^[\x20-\x7e]*$/.test(s)) },
    ),
    'content-type': fc.constantFrom('application/json', 'text/plain', 'application/json; charset=latin1', '', '*/*'),
    'x-underway-share': fc.oneof(
      fc.constant('SHARE'),
      fc.string({ maxLength: 80 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    ),
    'last-event-id': fc.oneof(
      fc.integer().map(String),
      fc.string({ maxLength: 20 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    ),
    origin: fc.constantFrom('http://localhost', 'null', 'https://evil.example'),
    'x-csrf-token': fc.string({ maxLength: 20 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    cookie: fc.constantFrom('underway_csrf=abc', 'a=b; underway_csrf=', ''),
  },
  { requiredKeys: ['authorization'] },
);

// TRACE and CONNECT cannot be built as a fetch Request: they go over the raw socket below.
const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND', 'get');

describe('HTTP API fuzzing', () => {
  it(`answers ${RUNS} random requests without a 5xx, always with a JSON error body`, { timeout: 300_000 }, async () => {
    const statuses = new Map<number, number>();
    let cases = 0;
    let fiveXx = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    await fc.assert(
      fc.asyncProperty(method, path, query, headers, body, async (m, p, q, h, b) => {
        cases++;
        const url = `${p}${q}`.replaceAll('JOB', jobId).replaceAll('SHARE', encodeURIComponent(shareToken));
        const init: RequestInit = {
          method: m,
          headers: Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.replaceAll('SHARE', shareToken)])),
        };
        if (b.value !== undefined && !['GET', 'HEAD'].includes(m.toUpperCase())) init.body = b.value as BodyInit;
        const response = await env.underway.app.request(url, init);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const type = response.headers.get('content-type') ?? '';
        if (type.startsWith('text/event-stream')) await response.body?.cancel();
        else {
          const text = await response.text();
          // The API answers errors in JSON; pages (the dashboard, outside basePath) in HTML.
          // Judged by the path the server sees: `/api/..` is `/`, a page.
          const seen = new URL(`http://underway.test${url}`).pathname;
          if (response.status >= 400 && m !== 'HEAD' && seen.startsWith('/api/')) {
            const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
            expect(typeof parsed.error?.code).toBe('string');
            expect(typeof parsed.error?.message).toBe('string');
          }
        }
        if (response.status >= 500) fiveXx++;
        if (response.status === 204) await aliceJob(); // a DELETE of the job went through
        expect(response.status, `${m} ${url.slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );
    const heapGrowthMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    recordFigures('HTTP fuzzing (in-process)', {
      cases,
      fiveXx,
      statuses: JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b))),
      heapGrowthMb: Number(heapGrowthMb.toFixed(1)),
    });
    // Bounded: some 2 MiB bodies were refused along the way; none may be kept.
    expect(heapGrowthMb).toBeLessThan(200);
    expect(fiveXx).toBe(0);
  });

  it('survives malformed HTTP on a real socket: invalid UTF-8, bad framing, huge headers, early close', async () => {
    const server = await listen(env.underway);
    try {
      const { port } = new URL(server.url);
      const raw = (bytes: Buffer | string) =>
        new Promise<string>((resolve) => {
          const socket = connect(Number(port), '127.0.0.1');
          let answer = '';
          socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
          socket.on('close', () => resolve(answer));
          socket.on('error', () => resolve(answer));
          socket.end(bytes);
          socket.setTimeout(5_000, () => socket.destroy());
        });
      const cases: (Buffer | string)[] = [
        Buffer.concat([
          Buffer.from('GET /api/jobs/'),
          Buffer.from([0xff, 0xfe, 0xc3, 0x28]),
          Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n'),
        ]),
        Buffer.concat([
          Buffer.from(
            `POST /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.alice}\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n`,
          ),
          Buffer.from('{"task":"echo","params":{"text":"'),
          Buffer.from([0xc3, 0x28, 0xa0, 0xa1]),
        ]),
        `POST /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.alice}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
        `POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"ta`, // closes early
        `GET /api/jobs HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`,
        `GET /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.alice}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello`,
        'GARBAGE\r\n\r\n',
        `TRACE /api/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.alice}\r\n\r\n`,
        `GET /${'%'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
        `GET /api/jobs/${jobId}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.alice}\r\nLast-Event-ID: \u00ff\u00fe\r\n\r\n`,
      ];
      const answers = await Promise.all(cases.map(raw));
      const serverErrors = answers.filter((a) => /^HTTP\/1\.1 5\d\d/.test(a));
      expect(serverErrors).toEqual([]);
      // Still serving after all that.
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      recordFigures('HTTP fuzzing (raw socket)', {
        cases: cases.length,
        fiveXx: serverErrors.length,
        aliveAfter: 'yes',
      });
    } finally {
      await server.close();
    }
  });
});
