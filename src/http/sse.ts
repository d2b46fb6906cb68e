import { toError } from '../core/errors.ts';
import type { Jobs } from '../jobs/jobs.ts';
import type { JobEvent } from '../store/store.ts';

/** One store event with its place in this process's sequence: the SSE `id`. */
export interface SequencedEvent {
  readonly id: number;
  readonly event: JobEvent;
  /** Encoded frames, by shape key, so 200 browsers cost one JSON.stringify and one encode, not 200. */
  readonly frames: Map<string, { bytes: Uint8Array; end: boolean } | null>;
}

/** What one connection sends for an event: a named frame, or nothing; `end` closes the stream after it. */
export interface RenderedEvent {
  event: string;
  data: unknown;
  end?: boolean;
}

export interface ConnectionSpec {
  /** Whether this connection wants the event at all (the job, the caller's visibility). */
  accepts(event: JobEvent): boolean;
  /** Connections with the same key render events the same way (and share the encoded frame). */
  shapeKey: string;
  render(event: JobEvent): RenderedEvent | null;
  /**
   * Cuts the client off at once (node: destroys the socket). Without it a dropped stream is
   * errored, which the runtime turns into a closed connection in its own way.
   */
  abort?: () => void;
}

export interface FanoutOptions {
  keepAliveMs: number;
  bufferBytes: number;
  replayEvents: number;
  /** Progress frames per job a connection gets at most each second; `Infinity` sends every one. */
  progressPerSecond: number;
  /** Every event, once (metrics). */
  onEvent?: (event: JobEvent) => void;
}

const encoder = new TextEncoder();

/**
 * The one store subscription of this server process, fanned out to every connected browser.
 *
 * Each event gets an id from a per-process counter that starts at the boot time in microseconds,
 * so ids grow across restarts and ids of two processes (behind one load balancer) do not
 * overlap. The last `replayEvents` events are kept: a client that reconnects with a
 * `Last-Event-ID` still in that window gets what it missed; anything else gets a fresh snapshot.
 *
 * Delivery never waits: an event is encoded and queued on every interested connection at once.
 * A connection whose unsent queue passes `bufferBytes` (a stalled or very slow client) is dropped,
 * so it cannot slow the others or hold memory; its EventSource reconnects and resumes.
 *
 * Progress is thinned per connection to `progressPerSecond` (see SseConnection): a task that
 * reports every file of 8,000 would otherwise send every browser 8,000 frames it cannot show.
 */
export class EventFanout {
  readonly #options: FanoutOptions;
  readonly #ring: (SequencedEvent | undefined)[];
  #next = 0;
  #seq = Date.now() * 1000;
  readonly #connections = new Set<SseConnection>();
  readonly #unsubscribe: () => void;
  readonly #keepAlive: NodeJS.Timeout;
  /** Connections dropped for falling behind, since start. */
  dropped = 0;

  constructor(jobs: Pick<Jobs, 'subscribe'>, options: FanoutOptions) {
    if (!(options.progressPerSecond > 0)) {
      throw new RangeError(
        `sse.progressPerSecond must be above 0 (Infinity for no limit), not ${options.progressPerSecond}.`,
      );
    }
    this.#options = options;
    this.#ring = new Array(Math.max(1, options.replayEvents));
    this.#unsubscribe = jobs.subscribe((event) => this.#onEvent(event));
    this.#keepAlive = setInterval(() => {
      for (const connection of this.#connections) connection.comment('keep-alive');
    }, options.keepAliveMs);
    this.#keepAlive.unref();
  }

  get connections(): number {
    return this.#connections.size;
  }

  /** The id of the newest event so far. */
  get position(): number {
    return this.#seq;
  }

  #onEvent(event: JobEvent): void {
    const entry: SequencedEvent = { id: ++this.#seq, event, frames: new Map() };
    this.#ring[this.#next] = entry;
    this.#next = (this.#next + 1) % this.#ring.length;
    try {
      this.#options.onEvent?.(event);
    } catch (error) {
      process.emitWarning(`underway: an event observer threw: ${toError(error).message}`);
    }
    for (const connection of this.#connections) connection.offer(entry);
  }

  /**
   * The events after `lastId`, oldest first, or null when they are no longer all kept (or the id
   * is not one of this process's).
   */
  since(lastId: number): SequencedEvent[] | null {
    if (!Number.isSafeInteger(lastId) || lastId > this.#seq) return null;
    const missed = this.#seq - lastId;
    if (missed === 0) return [];
    if (missed > this.#ring.length) return null;
    const out: SequencedEvent[] = [];
    for (let i = missed; i >= 1; i--) {
      const entry = this.#ring[(this.#next - i + this.#ring.length * 2) % this.#ring.length];
      if (!entry || entry.id !== this.#seq - i + 1) return null;
      out.push(entry);
    }
    return out;
  }

  /** Registers a connection; live events are held until `start` sends the snapshot. */
  open(spec: ConnectionSpec): SseConnection {
    const { bufferBytes, progressPerSecond } = this.#options;
    const connection = new SseConnection(
      spec,
      { bufferBytes, progressGapMs: 1000 / progressPerSecond },
      {
        closed: () => this.#connections.delete(connection),
        dropped: () => this.dropped++,
      },
    );
    this.#connections.add(connection);
    return connection;
  }

  /** Ends every stream and stops listening. */
  close(): void {
    clearInterval(this.#keepAlive);
    this.#unsubscribe();
    for (const connection of this.#connections) connection.end();
  }
}

/**
 * One browser's stream: a bounded queue of encoded frames that the HTTP server drains.
 *
 * Progress goes out at most once per `progressGapMs` per job, always the newest value: the first
 * report goes at once, later ones wait in `#deferred` (each replacing the job's older one) until
 * the gap has passed. Frames keep their ids and go out in id order, because a browser resumes
 * from the last id it saw: so while anything waits, the log lines behind it wait too (a log line
 * is never dropped, only sent with the next batch), and a status change sends everything waiting
 * first, then itself at once. So a client never sees progress after the job's end, and the last
 * progress it sees is the last one reported.
 */
export class SseConnection {
  readonly stream: ReadableStream<Uint8Array>;
  readonly #spec: ConnectionSpec;
  readonly #hooks: { closed(): void; dropped(): void };
  readonly #progressGapMs: number;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Live events that came before the snapshot went out; null once it has. */
  #held: SequencedEvent[] | null = [];
  /** Events waiting for the progress gap, in id order: at most one progress per job, and log lines. */
  #deferred: SequencedEvent[] = [];
  /** When each job last had progress sent (performance.now()); pruned on its status and once past the gap. */
  readonly #progressSentAt = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    spec: ConnectionSpec,
    limits: { bufferBytes: number; progressGapMs: number },
    hooks: { closed(): void; dropped(): void },
  ) {
    this.#spec = spec;
    this.#hooks = hooks;
    this.#progressGapMs = limits.progressGapMs;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        cancel: () => this.#finish(),
      },
      { highWaterMark: limits.bufferBytes, size: (chunk) => chunk.byteLength },
    );
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends the snapshot (with `id`), then what was missed (`replay`), then the live events held
   * meanwhile, skipping any already replayed.
   */
  start(snapshot: RenderedEvent, id: number, replay: readonly SequencedEvent[] = []): void {
    this.#write(frame(id, snapshot.event, JSON.stringify(snapshot.data)));
    if (snapshot.end) {
      this.end();
      return;
    }
    let last = id;
    for (const entry of [...replay, ...(this.#held ?? [])]) {
      if (this.#closed) return;
      if (entry.id <= last || !this.#spec.accepts(entry.event)) continue;
      last = entry.id;
      // Through the throttle too: a replay of thousands of steps collapses to the newest.
      this.#deliver(entry);
    }
    this.#held = null;
  }

  offer(entry: SequencedEvent): void {
    if (this.#closed || !this.#spec.accepts(entry.event)) return;
    if (this.#held) {
      this.#held.push(entry);
      // A snapshot that takes this long means the store is in trouble; do not hoard events for it.
      if (this.#held.length > 10_000) this.#drop();
      return;
    }
    this.#deliver(entry);
  }

  #deliver(entry: SequencedEvent): void {
    const { event } = entry;
    if (event.type === 'status') {
      this.#flush();
      // Most statuses end a job: its next progress (after a retry, say) owes nothing to the old gap.
      this.#progressSentAt.delete(event.jobId);
      this.#send(entry);
      return;
    }
    if (event.type === 'log') {
      if (this.#deferred.length > 0) this.#deferred.push(entry);
      else this.#send(entry);
      return;
    }
    const now = performance.now();
    const sentAt = this.#progressSentAt.get(event.jobId);
    if (this.#deferred.length === 0 && (sentAt === undefined || now - sentAt >= this.#progressGapMs)) {
      this.#progressSentAt.set(event.jobId, now);
      this.#send(entry);
      return;
    }
    // The job's older waiting progress is superseded: only the newest value is worth sending.
    const older = this.#deferred.findIndex((e) => e.event.type === 'progress' && e.event.jobId === event.jobId);
    if (older >= 0) this.#deferred.splice(older, 1);
    this.#deferred.push(entry);
    this.#schedule(now);
  }

  /** Arms the timer for when the first waiting progress may go: whatever is behind it waits for it anyway. */
  #schedule(now: number): void {
    if (this.#timer) return;
    let due = now;
    for (const entry of this.#deferred) {
      if (entry.event.type !== 'progress') continue;
      const sentAt = this.#progressSentAt.get(entry.event.jobId);
      if (sentAt !== undefined) due = Math.max(due, sentAt + this.#progressGapMs);
      break;
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#release();
    }, due - now);
    // The socket keeps the process alive while it is open; a pending batch must not on its own.
    this.#timer.unref();
  }

  /**
   * Sends what waits, in order, up to a progress whose job is still inside its gap (the rest
   * waits for that); prunes the send times that no longer hold anything back.
   */
  #release(): void {
    const now = performance.now();
    while (this.#deferred.length > 0 && !this.#closed) {
      const entry = this.#deferred[0] as SequencedEvent;
      if (entry.event.type === 'progress') {
        const sentAt = this.#progressSentAt.get(entry.event.jobId);
        if (sentAt !== undefined && now - sentAt < this.#progressGapMs) break;
        this.#progressSentAt.set(entry.event.jobId, now);
      }
      this.#deferred.shift();
      this.#send(entry);
    }
    for (const [jobId, sentAt] of this.#progressSentAt) {
      if (now - sentAt >= this.#progressGapMs) this.#progressSentAt.delete(jobId);
    }
    if (this.#deferred.length > 0 && !this.#closed) this.#schedule(now);
  }

  /** Sends everything waiting at once (before a status change): its order matters more than the gap. */
  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const now = performance.now();
    for (const entry of this.#deferred.splice(0)) {
      if (this.#closed) return;
      if (entry.event.type === 'progress') this.#progressSentAt.set(entry.event.jobId, now);
      this.#send(entry);
    }
  }

  #send(entry: SequencedEvent): void {
    const key = this.#spec.shapeKey;
    let encoded = entry.frames.get(key);
    if (encoded === undefined) {
      const rendered = this.#spec.render(entry.event);
      // Encoded once per shape, not once per connection: 1,000 subscribers share these bytes.
      encoded = rendered
        ? {
            bytes: encoder.encode(frame(entry.id, rendered.event, JSON.stringify(rendered.data))),
            end: rendered.end === true,
          }
        : null;
      entry.frames.set(key, encoded);
    }
    if (encoded === null) return;
    this.#write(encoded.bytes);
    if (encoded.end) this.end();
  }

  comment(text: string): void {
    if (!this.#held) this.#write(`: ${text}\n\n`);
  }

  #write(chunk: string | Uint8Array): void {
    if (this.#closed) return;
    this.#controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk);
    const room = this.#controller.desiredSize;
    if (room !== null && room < 0) this.#drop();
  }

  /** Closes after what is queued has been sent. */
  end(): void {
    if (this.#closed) return;
    this.#finish();
    this.#controller.close();
  }

  /** Drops a client that fell too far behind: the queue is discarded and the socket closed. */
  #drop(): void {
    if (this.#closed) return;
    this.#finish();
    this.#hooks.dropped();
    if (this.#spec.abort) {
      // The server sees the socket close and cancels the stream, which discards the queue.
      this.#spec.abort();
    } else {
      this.#controller.error(new Error('The client fell too far behind and was dropped.'));
    }
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#held = null;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#deferred = [];
    this.#progressSentAt.clear();
    this.#hooks.closed();
  }
}

function frame(id: number, event: string, data: string): string {
  // JSON.stringify escapes newlines, so the data always fits on one `data:` line.
  return `id: ${id}\nevent: ${event}\ndata: ${data}\n\n`;
}

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  // nginx buffers responses unless told not to; an event stream must not be buffered.
  'X-Accel-Buffering': 'no',
};
