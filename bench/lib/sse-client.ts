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

  /** Opens `count` streams, a few at a time; resolves when all answered 200. */
  async open(url: string, count: number): Promise<void> {
    for (let at = 0; at < count; at += 50) {
      const batch = Math.min(50, count - at);
      await Promise.all(Array.from({ length: batch }, () => this.#subscribe(url)));
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
        resolve();
      });
      request.on('error', reject);
    });
  }

  /** Reads only what it needs (no JSON.parse): with 1,000 subscribers this process parses 50,000 frames a second. */
  #frame(frame: string, now: number): void {
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
