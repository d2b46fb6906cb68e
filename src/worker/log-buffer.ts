import type { LogStream, NewLogLine } from '../core/job.ts';
import { toIso } from '../core/job.ts';

/** Lines are written in batches: at most every 100 ms, or at once past 200 lines. */
const FLUSH_MS = 100;
const FLUSH_LINES = 200;

/** Buffers one job's log lines and writes them in batches, one after another. */
export class LogBuffer {
  readonly #write: (lines: NewLogLine[]) => Promise<void>;
  #pending: NewLogLine[] = [];
  #timer: NodeJS.Timeout | null = null;
  #chain: Promise<void> = Promise.resolve();

  constructor(write: (lines: NewLogLine[]) => Promise<void>) {
    this.#write = write;
  }

  add(stream: LogStream, line: string): void {
    this.#pending.push({ stream, line, at: toIso(Date.now()) });
    if (this.#pending.length >= FLUSH_LINES) this.#flushSoon(0);
    else this.#flushSoon(FLUSH_MS);
  }

  #flushSoon(ms: number): void {
    if (this.#timer && ms > 0) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.flush(), ms);
  }

  /** Writes what is buffered; resolves when every line so far is stored. */
  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const lines = this.#pending;
    this.#pending = [];
    if (lines.length > 0) {
      this.#chain = this.#chain.then(() => this.#write(lines)).catch(() => undefined);
    }
    return this.#chain;
  }
}
