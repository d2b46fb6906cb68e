import { afterEach, describe, expect, it } from 'vitest';
import type { JobEvent } from '../src/store/store.ts';
import { gates, json, listen, SseClient, setup, type TestEnv, TOKENS } from './helpers/http.ts';
import { waitForStatus } from './helpers/wait.ts';

let env: TestEnv;
const clients: SseClient[] = [];
const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await env?.close();
  gates.clear();
});

const auth = (who: keyof typeof TOKENS = 'alice') => ({ authorization: `Bearer ${TOKENS[who]}` });

function open(url: string, headers: Record<string, string> = auth()): SseClient {
  const client = new SseClient(url, headers);
  clients.push(client);
  return client;
}

async function serve(options: Parameters<typeof setup>[0] = {}) {
  env = setup(options);
  const server = await listen(env.underway);
  servers.push(server);
  return server.url;
}

async function startGate(key: string, as: keyof typeof TOKENS = 'alice') {
  const job = await json(await env.call('/api/jobs', { method: 'POST', as, body: { task: 'gate', params: { key } } }));
  return job.id as string;
}

async function openGate(key: string): Promise<void> {
  // The gate exists once the task reached it; the running status event says the task began.
  for (let i = 0; i < 200 && !gates.has(key); i++) await new Promise((r) => setImmediate(r));
  gates.get(key)?.();
}

const ids = (client: SseClient) => client.frames.map((f) => Number(f.id));

describe('server-sent events', () => {
  it('sends the snapshot first, then progress and status in order, and ends after the final status', async () => {
    const url = await serve({ sse: { keepAliveMs: 30 } });
    const id = await startGate('order');
    const client = open(`${url}/api/jobs/${id}/events`);
    const snapshot = await client.frame('snapshot');
    expect(client.frames[0]?.event).toBe('snapshot');
    expect(snapshot.data).toMatchObject({ id, status: 'queued', urls: { events: `/api/jobs/${id}/events` } });
    await client.until((c) => c.comments > 0);
    env.worker();
    await client.frame('progress', (d) => (d.progress as { message: string }).message === 'waiting at the gate');
    await openGate('order');
    await client.ended;
    const events = client.frames.map((f) =>
      f.event === 'status' ? `status:${(f.data as { status: string }).status}` : f.event,
    );
    expect(events[0]).toBe('snapshot');
    expect(events.indexOf('status:running')).toBeLessThan(events.indexOf('progress'));
    expect(events.at(-1)).toBe('status:succeeded');
    expect(client.frames.at(-1)?.data).toMatchObject({ id, status: 'succeeded', result: { key: 'order' } });
    const seen = ids(client);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('ends at once after the snapshot of a finished job', async () => {
    const url = await serve();
    const job = await json(await env.call('/api/jobs', { method: 'POST', body: { task: 'fail', params: {} } }));
    env.worker();
    await waitForStatus(env.store, job.id, 'failed');
    const client = open(`${url}/api/jobs/${job.id}/events`);
    await client.ended;
    expect(client.frames.map((f) => f.event)).toEqual(['snapshot']);
    expect(client.frames[0]?.data).toMatchObject({ status: 'failed', error: { code: 'TASK_ERROR' } });
  });

  it('resumes with Last-Event-ID: the missed events follow the snapshot, none twice', async () => {
    const url = await serve();
    const id = await startGate('resume');
    const first = open(`${url}/api/jobs/${id}/events`);
    await first.frame('snapshot');
    const job = { task: 'gate', owner: 'alice' };
    const log = (line: string, seq: number): JobEvent => ({
      type: 'log',
      jobId: id,
      task: job.task,
      owner: job.owner,
      stream: 'stdout',
      line,
      at: new Date().toISOString(),
      seq,
    });
    env.store.events.send(log('one', 1));
    await first.frame('log', (d) => d.line === 'one');
    const lastId = first.frames.at(-1)?.id as string;
    first.close();
    await first.ended;
    env.store.events.send(log('two', 2));
    env.store.events.send(log('three', 3));

    const resumed = open(`${url}/api/jobs/${id}/events`, { ...auth(), 'last-event-id': lastId });
    await resumed.frame('log', (d) => d.line === 'three');
    expect(resumed.frames.map((f) => [f.event, (f.data as { line?: string }).line])).toEqual([
      ['snapshot', undefined],
      ['log', 'two'],
      ['log', 'three'],
    ]);
    expect(resumed.frames[0]?.id).toBe(lastId);
    expect(Number(resumed.frames[1]?.id)).toBeGreaterThan(Number(lastId));

    // An id this server never gave (another process, or long ago): a fresh snapshot, no replay.
    const stranger = open(`${url}/api/jobs/${id}/events`, { ...auth(), 'last-event-id': '12345' });
    await stranger.frame('snapshot');
    expect(Number(stranger.frames[0]?.id)).toBeGreaterThan(Number(lastId));
    env.store.events.send(log('four', 4));
    await stranger.frame('log', (d) => d.line === 'four');
    expect(stranger.frames.map((f) => f.event)).toEqual(['snapshot', 'log']);
  });

  it('delivers every status event to 200 concurrent subscribers', async () => {
    const url = await serve();
    const id = await startGate('crowd');
    const crowd = Array.from({ length: 200 }, () => open(`${url}/api/jobs/${id}/events`));
    await Promise.all(crowd.map((c) => c.frame('snapshot')));
    const metrics = await (await fetch(`${url}/metrics`, { headers: auth('admin') })).text();
    expect(metrics).toContain('underway_sse_connections 200');
    env.worker();
    await Promise.all(crowd.map((c) => c.frame('status', (d) => d.status === 'running')));
    await openGate('crowd');
    await Promise.all(crowd.map((c) => c.ended));
    for (const client of crowd) {
      const statuses = client.frames
        .filter((f) => f.event === 'status')
        .map((f) => (f.data as { status: string }).status);
      expect(statuses).toEqual(['running', 'succeeded']);
    }
  }, 30_000);

  it('drops a stalled subscriber past its buffer while the others get every event', async () => {
    const url = await serve({ sse: { bufferBytes: 64 * 1024 } });
    const id = await startGate('stall');
    const job = { task: 'gate', owner: 'alice' };
    const stalled = open(`${url}/api/jobs/${id}/events`);
    const fast = [1, 2, 3].map(() => open(`${url}/api/jobs/${id}/events`));
    await Promise.all([stalled, ...fast].map((c) => c.frame('snapshot')));
    stalled.stall();
    const line = 'x'.repeat(8_000);
    const total = 2_000; // 16 MB: more than the kernel's socket buffers hold for the stalled one.
    for (let seq = 1; seq <= total; seq += 4) {
      for (let i = seq; i < seq + 4; i++) {
        env.store.events.send({
          type: 'log',
          jobId: id,
          task: job.task,
          owner: job.owner,
          stream: 'stdout',
          line,
          at: '',
          seq: i,
        });
      }
      await Promise.all(fast.map((c) => c.until((cl) => cl.frames.length > seq + 3)));
    }
    for (const client of fast) expect(client.frames.filter((f) => f.event === 'log')).toHaveLength(total);
    const metrics = await (await fetch(`${url}/metrics`, { headers: auth('admin') })).text();
    expect(metrics).toContain('underway_sse_dropped_total 1');
    expect(metrics).toContain('underway_sse_connections 3');
    // What the kernel already buffered still arrives; then the stream ends, short of the total.
    stalled.resume();
    await stalled.ended;
    expect(stalled.frames.filter((f) => f.event === 'log').length).toBeLessThan(total);
  }, 30_000);

  it('streams all visible jobs on /api/events: snapshot of unfinished jobs, then status and progress', async () => {
    const url = await serve();
    const mine = await startGate('g-alice');
    const all = open(`${url}/api/events`);
    const snapshot = await all.frame('snapshot');
    expect((snapshot.data as { jobs: { id: string }[] }).jobs.map((j) => j.id)).toEqual([mine]);
    const admin = open(`${url}/api/events`, auth('admin'));
    await admin.frame('snapshot');
    const bobs = await startGate('g-bob', 'bob');
    await admin.frame('status', (d) => d.id === bobs && d.status === 'queued');
    env.worker();
    await all.frame('status', (d) => d.id === mine && d.status === 'running');
    await all.frame('progress', (d) => d.id === mine);
    await openGate('g-alice');
    await all.frame('status', (d) => d.id === mine && d.status === 'succeeded');
    await openGate('g-bob');
    await admin.frame('status', (d) => d.id === bobs && d.status === 'succeeded');
    expect(all.frames.some((f) => (f.data as { id?: string }).id === bobs)).toBe(false);
    expect(all.isEnded).toBe(false);
  });

  it('answers 404 for a job the caller may not see, and 401 without credentials', async () => {
    const url = await serve();
    const id = await startGate('hidden');
    const bob = open(`${url}/api/jobs/${id}/events`, auth('bob'));
    await bob.ended;
    expect(bob.status).toBe(404);
    const anonymous = open(`${url}/api/events`, {});
    await anonymous.ended;
    expect(anonymous.status).toBe(401);
  });
});
