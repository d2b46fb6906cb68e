import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineTask } from '../src/core/task.ts';
import { createUnderway, type HttpOptions, type Underway } from '../src/http/index.ts';
import { EventFanout } from '../src/http/sse.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { JobEvent, Store } from '../src/store/store.ts';
import { createWorker, type Worker } from '../src/worker/index.ts';
import { progressEvent } from './helpers/events.ts';
import { listen, silent, TOKENS } from './helpers/http.ts';
import { tempDir } from './helpers/temp.ts';

/**
 * Progress is thinned per connection (issue 17: an 8,040-file backup sent every browser 8,112
 * frames, 1.77 MB, in 5 s). Real HTTP over loopback, a real SQLite file and the real worker.
 */

const tasks = [
  defineTask({
    name: 'flood',
    params: z.object({ updates: z.number().int().min(1) }),
    maxAttempts: 1,
    async run({ updates }, ctx) {
      for (let i = 1; i <= updates; i++) {
        ctx.progress(i, updates, `item ${i}`);
        // A little real waiting now and then, so the job lasts a couple of seconds like real work.
        if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return { updates };
    },
  }),
  defineTask({ name: 'ping', params: z.object({}), maxAttempts: 1, run: async () => ({ pong: true }) }),
];

interface Env {
  url: string;
  store: Store;
  underway: Underway;
  worker(): Worker;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(sse: HttpOptions['sse'] = undefined): Promise<Env> {
  const dir = tempDir('underway-sse-throttle-');
  const store = sqliteStore({ file: dir.file('underway.db') });
  const underway = createUnderway({
    mountPath: '',
    store,
    tasks,
    logger: silent,
    auth: { tokens: [{ token: TOKENS.alice, id: 'alice', roles: [] }] },
    sse,
  });
  const server = await listen(underway);
  cleanups.push(async () => {
    await server.close();
    await underway.close();
    await store.close();
    dir.cleanup();
  });
  return {
    url: server.url,
    store,
    underway,
    worker() {
      const worker = createWorker({ store, tasks, logger: silent, pollMs: 50 }).start();
      cleanups.push(() => worker.stop({ graceMs: 0 }));
      return worker;
    },
  };
}

interface Frame {
  id: number;
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: frames are asserted on, field by field.
  data: any;
}

/** An event stream read over fetch that keeps every frame and counts the bytes that came. */
class Stream {
  readonly frames: Frame[] = [];
  bytes = 0;
  ended = false;
  readonly #abort = new AbortController();
  #wake: (() => void)[] = [];
  readonly done: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = this.#read(url, headers).finally(() => {
      this.ended = true;
      for (const wake of this.#wake.splice(0)) wake();
    });
    cleanups.push(() => this.#abort.abort());
  }

  async #read(url: string, headers: Record<string, string>): Promise<void> {
    try {
      const response = await fetch(url, {
        headers: { authorization: `Bearer ${TOKENS.alice}`, accept: 'text/event-stream', ...headers },
        signal: this.#abort.signal,
      });
      const reader = response.body?.getReader();
      if (!reader) throw new Error(`no body (HTTP ${response.status})`);
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        this.bytes += value.byteLength;
        buffer += decoder.decode(value, { stream: true });
        for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
          this.#parse(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
        for (const wake of this.#wake.splice(0)) wake();
      }
    } catch (error) {
      if (!this.#abort.signal.aborted) throw error;
    }
  }

  #parse(block: string): void {
    const field = (name: string) => block.match(new RegExp(`^${name}: (.*)$`, 'm'))?.[1];
    const data = field('data');
    if (data === undefined) return; // a keep-alive comment
    this.frames.push({ id: Number(field('id')), event: field('event') ?? '', data: JSON.parse(data) });
  }

  /** Resolves with the first frame that matches, woken by each chunk that arrives. */
  async frame(match: (frame: Frame) => boolean): Promise<Frame> {
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.ended) throw new Error(`the stream ended first: ${this.frames.map((f) => f.event).join(' ')}`);
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }
}

const isStatus = (id: string, status: string) => (f: Frame) =>
  f.event === 'status' && f.data.id === id && f.data.status === status;

function expectIncreasingIds(frames: readonly Frame[]): void {
  const ids = frames.map((f) => f.id);
  for (let i = 1; i < ids.length; i++) expect(ids[i]).toBeGreaterThan(ids[i - 1] as number);
}

describe('progress over SSE, thinned per connection', () => {
  it('sends at most 10 progress frames a second per job by default, the last value, then the end', async () => {
    const env = await serve();
    const updates = 10_000;
    const { job } = await env.underway.queue.start('flood', { updates }, { owner: 'alice' });
    const published: number[] = [];
    const off = env.store.events.listen((event) => {
      if (event.type === 'progress' && event.jobId === job.id) published.push(event.progress.current);
    });
    cleanups.push(off);
    const one = new Stream(`${env.url}/api/jobs/${job.id}/events`);
    const all = new Stream(`${env.url}/api/events`);
    await Promise.all([one.frame((f) => f.event === 'snapshot'), all.frame((f) => f.event === 'snapshot')]);

    env.worker();
    await one.done;
    await all.frame(isStatus(job.id, 'succeeded'));
    // Something after the end on the list stream, so anything late for the flood job would be here by now.
    const { job: ping } = await env.underway.queue.start('ping', {}, { owner: 'alice' });
    await all.frame(isStatus(ping.id, 'succeeded'));

    const ended = await env.store.get(job.id);
    const seconds = (Date.parse(ended?.finishedAt ?? '') - Date.parse(ended?.startedAt ?? '')) / 1000;
    expect(published).toHaveLength(updates);
    expect(published.at(-1)).toBe(updates);

    for (const stream of [one, all]) {
      const mine = stream.frames.filter((f) => f.data.id === job.id);
      const progress = mine.filter((f) => f.event === 'progress');
      expect(progress.length).toBeGreaterThan(1);
      expect(progress.length).toBeLessThanOrEqual((seconds + 1) * 10 + 3);
      // The newest value always follows, before the final status, and nothing of the job after it.
      expect(progress.at(-1)?.data.progress).toMatchObject({
        current: updates,
        total: updates,
        message: `item ${updates}`,
      });
      expect(mine.at(-1)).toMatchObject({ event: 'status', data: { status: 'succeeded', result: { updates } } });
      expectIncreasingIds(stream.frames);
    }
    expect(one.frames.at(-1)?.event).toBe('status');

    // What every progress report would have cost this connection, against what it did cost.
    const progressBytes = one.frames
      .filter((f) => f.event === 'progress')
      .map((f) => `id: ${f.id}\nevent: progress\ndata: ${JSON.stringify(f.data)}\n\n`.length);
    const unthrottled = (progressBytes.reduce((a, b) => a + b, 0) / progressBytes.length) * updates;
    expect(one.bytes).toBeLessThan(unthrottled * 0.05);
  });

  it('keeps ids in order: a waiting progress goes before a later log line and a status, the newest value only', async () => {
    // One a second: everything sent in one go below falls inside the same gap.
    const env = await serve({ progressPerSecond: 1 });
    const { job } = await env.underway.queue.start('flood', { updates: 1 }, { owner: 'alice' });
    const stream = new Stream(`${env.url}/api/jobs/${job.id}/events`);
    await stream.frame((f) => f.event === 'snapshot');
    const who = { jobId: job.id, task: job.task, owner: job.owner };
    const send = (event: JobEvent) => env.store.events.send(event);
    const log = (line: string): JobEvent => ({ type: 'log', ...who, stream: 'stdout', line, at: '', seq: 1 });
    const status = (value: 'running' | 'succeeded'): JobEvent => ({
      type: 'status',
      ...who,
      status: value,
      cancelRequested: false,
      ...(value === 'succeeded' ? { result: { ok: true } } : {}),
    });

    send(progressEvent(who, 1, 100)); // at once: the first of its gap
    send(progressEvent(who, 2, 100)); // waits
    send(log('after two')); // waits behind it, so ids stay in order
    send(progressEvent(who, 3, 100)); // replaces 2
    send(status('running')); // sends what waits, then itself, at once
    await stream.frame(isStatus(job.id, 'running'));
    const summary = (f: Frame) =>
      f.event === 'progress'
        ? `progress ${f.data.progress.current}`
        : f.event === 'log'
          ? `log ${f.data.line}`
          : f.event === 'status'
            ? `status ${f.data.status}`
            : f.event;
    expect(stream.frames.map(summary)).toEqual([
      'snapshot',
      'progress 1',
      'log after two',
      'progress 3',
      'status running',
    ]);

    // After a status the next progress goes at once again; the ones behind it arrive after the gap.
    send(progressEvent(who, 4, 100));
    send(progressEvent(who, 5, 100));
    send(progressEvent(who, 6, 100));
    await stream.frame((f) => f.event === 'progress' && f.data.progress.current === 6);
    send(progressEvent(who, 7, 100)); // within the gap of 6: waits, and the end sends it first
    send(status('succeeded'));
    await stream.done;
    expect(stream.frames.slice(5).map(summary)).toEqual(['progress 4', 'progress 6', 'progress 7', 'status succeeded']);
    expectIncreasingIds(stream.frames);
  });

  it('thins a Last-Event-ID replay the same way: the missed log lines all, the newest progress', async () => {
    const env = await serve({ progressPerSecond: 1 });
    const { job } = await env.underway.queue.start('flood', { updates: 1 }, { owner: 'alice' });
    const first = new Stream(`${env.url}/api/jobs/${job.id}/events`);
    const snapshot = await first.frame((f) => f.event === 'snapshot');
    const who = { jobId: job.id, task: job.task, owner: job.owner };
    for (let i = 1; i <= 500; i++) {
      env.store.events.send(progressEvent(who, i, 1000));
      if (i % 100 === 0)
        env.store.events.send({ type: 'log', ...who, stream: 'stdout', line: `at ${i}`, at: '', seq: i });
    }
    await first.frame((f) => f.event === 'log' && f.data.line === 'at 500');

    const resumed = new Stream(`${env.url}/api/jobs/${job.id}/events`, { 'last-event-id': String(snapshot.id) });
    await resumed.frame((f) => f.event === 'log' && f.data.line === 'at 500');
    for (const stream of [first, resumed]) {
      expect(
        stream.frames.map((f) => (f.event === 'progress' ? f.data.progress.current : (f.data.line ?? f.event))),
      ).toEqual(['snapshot', 1, 'at 100', 'at 200', 'at 300', 'at 400', 500, 'at 500']);
      expectIncreasingIds(stream.frames);
    }
  });
});

describe('a connection closing', () => {
  it('clears its timer and drops what waits', async () => {
    vi.useFakeTimers();
    cleanups.push(() => void vi.useRealTimers());
    let listener: (event: JobEvent) => void = () => {};
    const fanout = new EventFanout(
      {
        subscribe: (fn) => {
          listener = fn;
          return () => {};
        },
      },
      { keepAliveMs: 60_000, bufferBytes: 1 << 20, replayEvents: 10, progressPerSecond: 10 },
    );
    cleanups.push(() => fanout.close());
    const connection = fanout.open({ accepts: () => true, shapeKey: 'x', render: (e) => ({ event: e.type, data: e }) });
    connection.start({ event: 'snapshot', data: {} }, 0);
    const who = { jobId: 'j', task: 't', owner: null };
    const timers = vi.getTimerCount(); // the keep-alive
    listener(progressEvent(who, 1, 10));
    listener(progressEvent(who, 2, 10));
    expect(vi.getTimerCount()).toBe(timers + 1);
    await connection.stream.cancel();
    expect(connection.closed).toBe(true);
    expect(fanout.connections).toBe(0);
    expect(vi.getTimerCount()).toBe(timers);
  });

  it('refuses a rate that is not above zero', () => {
    const make = (progressPerSecond: number) =>
      new EventFanout(
        { subscribe: () => () => {} },
        { keepAliveMs: 60_000, bufferBytes: 1024, replayEvents: 10, progressPerSecond },
      );
    expect(() => make(0)).toThrow(RangeError);
    expect(() => make(Number.NaN)).toThrow(RangeError);
    make(Number.POSITIVE_INFINITY).close();
  });
});
