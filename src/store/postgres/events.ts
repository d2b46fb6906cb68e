import { toError } from '../../core/errors.ts';
import { coalesceProgress } from '../coalesce.ts';
import type { JobEvent } from '../store.ts';

/**
 * What travels in one NOTIFY payload: the sending store's origin (so it can skip its own) and
 * events in order. An item too big for NOTIFY travels as `{ type: 'ref', jobId }`: listeners read
 * the job and make its status event themselves.
 */
export type WireItem = JobEvent | { type: 'ref'; jobId: string };

export interface WirePayload {
  o: string;
  e: WireItem[];
}

/** NOTIFY refuses payloads of 8000 bytes or more; 100 bytes of margin. */
export const MAX_PAYLOAD_BYTES = 7_900;
/**
 * Flushes start at most this often (≤ 100 NOTIFY statements/s per process); progress of one job
 * published within the window is sent once (newest wins). The first event after a quiet window
 * goes out at once, so a progress bar updating a few times a second is not delayed at all.
 */
export const FLUSH_EVERY_MS = 10;

const CUT = '… [cut for the live view; the stored log keeps the whole line]';

/**
 * Sends `publish()`ed events (progress and logs, many per second) to other processes: collected
 * for 10 ms, progress coalesced per job, packed into as few payloads as fit under 7,900 bytes,
 * and sent with one statement per flush. Flushes go out one after another, so order holds.
 */
export class NotifyPublisher {
  readonly #origin: string;
  readonly #send: (payloads: string[]) => Promise<void>;
  #pending: JobEvent[] = [];
  #timer: NodeJS.Timeout | null = null;
  #soon: NodeJS.Immediate | null = null;
  #lastFlushAt = Number.NEGATIVE_INFINITY;
  #sending: Promise<void> = Promise.resolve();
  /** Jobs with a log line pending or being sent, and the send that carries their last one. */
  readonly #logsInFlight = new Map<string, Promise<void>>();

  constructor(origin: string, send: (payloads: string[]) => Promise<void>) {
    this.#origin = origin;
    this.#send = send;
  }

  add(event: JobEvent): void {
    this.#pending.push(event);
    if (this.#timer || this.#soon) return;
    const wait = this.#lastFlushAt + FLUSH_EVERY_MS - performance.now();
    // Leading edge: after the current turn (events of one turn share a statement), else when the window ends.
    if (wait <= 0) this.#soon = setImmediate(() => void this.flush());
    else this.#timer = setTimeout(() => void this.flush(), wait);
  }

  /** Sends what is pending now; resolves when everything handed over so far is sent (or failed). */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#soon) clearImmediate(this.#soon);
    this.#timer = null;
    this.#soon = null;
    if (this.#pending.length > 0) {
      this.#lastFlushAt = performance.now();
      const payloads = pack(this.#origin, coalesceProgress(this.#pending));
      const logged = new Set(this.#pending.filter((event) => event.type === 'log').map((event) => event.jobId));
      this.#pending = [];
      const sent = this.#sending.then(() =>
        this.#send(payloads).catch((error: unknown) => {
          // Local subscribers already have these events; others re-read state on their next status event.
          process.emitWarning(`underway: could not share job events with other processes: ${toError(error).message}`);
        }),
      );
      this.#sending = sent;
      for (const jobId of logged) this.#logsInFlight.set(jobId, sent);
      void sent.then(() => {
        for (const jobId of logged) if (this.#logsInFlight.get(jobId) === sent) this.#logsInFlight.delete(jobId);
      });
    }
    return this.#sending;
  }

  /**
   * Resolves once the job's log lines handed over so far are sent: before a job's end is written,
   * so that other processes hear its last lines before its final status. Its progress and status
   * events may still be on their way; receivers drop those that arrive after the end (LateEvents).
   */
  logsSent(jobId: string): Promise<void> {
    if (this.#pending.some((event) => event.type === 'log' && event.jobId === jobId)) return this.flush();
    return this.#logsInFlight.get(jobId) ?? Promise.resolve();
  }
}

/** Packs items, in order, into payloads each under MAX_PAYLOAD_BYTES. */
export function pack(origin: string, events: readonly JobEvent[]): string[] {
  const head = `{"o":${JSON.stringify(origin)},"e":[`;
  const room = MAX_PAYLOAD_BYTES - Buffer.byteLength(head) - 2;
  const payloads: string[] = [];
  let items: string[] = [];
  let size = 0;
  for (const event of events) {
    const item = fitEvent(event, room);
    const bytes = Buffer.byteLength(item) + 1;
    if (items.length > 0 && size + bytes > room) {
      payloads.push(`${head}${items.join(',')}]}`);
      items = [];
      size = 0;
    }
    items.push(item);
    size += bytes;
  }
  if (items.length > 0) payloads.push(`${head}${items.join(',')}]}`);
  return payloads;
}

/** One event as JSON of at most `room` bytes: long log lines and progress captions are cut, a big status becomes a reference. */
function fitEvent(event: JobEvent, room: number): string {
  const json = JSON.stringify(event);
  if (Buffer.byteLength(json) <= room) return json;
  if (event.type === 'log') return JSON.stringify({ ...event, line: shorten(event.line, json, room) });
  if (event.type === 'progress' && event.progress.message !== null) {
    const message = shorten(event.progress.message, json, room);
    return JSON.stringify({ ...event, progress: { ...event.progress, message } });
  }
  return JSON.stringify({ type: 'ref', jobId: event.jobId });
}

/** `text` cut (longest prefix, by binary search) so that `json`, which contains it, fits in `room` bytes. */
function shorten(text: string, json: string, room: number): string {
  const base = Buffer.byteLength(json) - Buffer.byteLength(JSON.stringify(text));
  const fits = (keep: number) => base + Buffer.byteLength(JSON.stringify(`${text.slice(0, keep)}${CUT}`)) <= room;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid - 1;
  }
  return `${text.slice(0, low)}${CUT}`;
}

/** Reads a payload; null for anything not ours (another program on the same channel name). */
export function parsePayload(text: string): WirePayload | null {
  try {
    const value = JSON.parse(text) as Partial<WirePayload>;
    if (typeof value.o === 'string' && Array.isArray(value.e)) return value as WirePayload;
  } catch {
    // not JSON: not ours
  }
  return null;
}
