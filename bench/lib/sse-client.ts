import { Agent, get, type IncomingMessage } from 'node:http';
import { wallMs } from './stats.ts';

const STAMP = /"message":"t([\d.]+)"/;

/**
 * Many SSE subscribers to one URL in this process, each recording, for every `progress` event
 * whose message is `t<wall-clock ms>`, how long it took to arrive.
 */
export class SseSubscribers {
  readonly latencies: number[] = [];
  readonly #responses: IncomingMessage[] = [];
  readonly #agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  /** Progress events received, over all subscribers. */
  received = 0;
  /** Streams that saw their job's final `status` frame (a stream the server dropped never does). */
  sawEnd = 0;
  /** Streams that have closed, for whatever reason. */
  closed = 0;

  /** Opens `count` streams, a few at a time; resolves when all answered 200. */
  async open(url: string, count: number): Promise<void> {
    for (let at = 0; at < count; at += 50) {
      const batch = Math.min(50, count - at);
      await Promise.all(Array.from({ length: batch }, () => this.#subscribe(url)));
    }
  }

  /** Streams that did not answer 200 (with openCounting), and the first few reasons why. */
  failed = 0;
  readonly failures: string[] = [];

  /**
   * As `open`, but a stream that fails is counted (`failed`, `failures`) instead of failing the
   * rest: at 10,000 subscribers the count of refused connections is itself a result.
   */
  async openCounting(url: string, count: number): Promise<void> {
    for (let at = 0; at < count; at += 50) {
      const batch = Math.min(50, count - at);
      const settled = await Promise.allSettled(Array.from({ length: batch }, () => this.#subscribe(url)));
      for (const outcome of settled) {
        if (outcome.status === 'fulfilled') continue;
        this.failed++;
        if (this.failures.length < 5) this.failures.push(String((outcome.reason as Error)?.message ?? outcome.reason));
      }
    }
  }

  #subscribe(url: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const request = get(url, { agent: this.#agent, headers: { accept: 'text/event-stream' } }, (response) => {
        if (response.statusCode !== 200) {
          reject(new Error(`SSE ${url} answered ${response.statusCode}`));
          return;
        }
        this.#responses.push(response);
        response.setEncoding('utf8');
        let buffer = '';
        response.on('data', (chunk: string) => {
          const now = wallMs();
          buffer += chunk;
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            this.#frame(buffer.slice(0, end), now);
            buffer = buffer.slice(end + 2);
            end = buffer.indexOf('\n\n');
          }
        });
        response.on('error', () => {});
        response.once('close', () => {
          this.closed++;
        });
        resolve();
      });
      request.on('error', reject);
    });
  }

  /** Reads only what it needs (no JSON.parse): with 1,000 subscribers this process parses 50,000 frames a second. */
  #frame(frame: string, now: number): void {
    if (frame.includes('event: status') && /"status":"(succeeded|failed|cancelled)"/.test(frame)) this.sawEnd++;
    if (!frame.includes('event: progress')) return;
    this.received++;
    const stamp = STAMP.exec(frame);
    if (stamp) this.latencies.push(now - Number(stamp[1]));
  }

  close(): void {
    for (const response of this.#responses) response.destroy();
    this.#agent.destroy();
  }
}
