import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One delivery as a receiver saw it, checked by the `standardwebhooks` package (the receiver's side). */
export interface Received {
  id: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The parsed payload when the signature verified, else null. */
  payload: Record<string, unknown> | null;
  /** Why verification failed, or null. */
  refused: string | null;
  /** What the receiver answered; null while held (and for good when `close` cut it). */
  status: number | null;
}

/**
 * A webhook receiver on 127.0.0.1 that verifies every delivery with `standardwebhooks` (a plain
 * secret as its raw UTF-8 bytes, a `whsec_` one as is), answers the given statuses in turn (then
 * 200), and can go down (`close`: connections cut, the port refuses) and come back on the same port.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  readonly #verifier: Webhook;
  readonly #statuses: number[];
  readonly #waiters = new Set<() => void>();
  #server: Server | null = null;
  #port = 0;
  #holding = false;

  constructor(secret: string, statuses: number[] = []) {
    this.#verifier = secret.startsWith('whsec_')
      ? new Webhook(secret)
      : new Webhook(Buffer.from(secret, 'utf8'), { format: 'raw' });
    this.#statuses = statuses;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}/hook`;
  }

  /** Takes a free port and leaves it closed: the URL refuses connections until `listen`. */
  async reserve(): Promise<this> {
    await this.listen();
    await this.close();
    return this;
  }

  /** Listens on its port (a free one the first time). */
  async listen(): Promise<this> {
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
        );
        let payload: Record<string, unknown> | null = null;
        let refused: string | null = null;
        try {
          payload = this.#verifier.verify(body, headers) as Record<string, unknown>;
        } catch (error) {
          refused = (error as Error).message;
        }
        const status = refused ? 401 : (this.#statuses.shift() ?? 200);
        const id = String(req.headers['webhook-id']);
        // Held: never answered; `close` cuts it, as a receiver that dies mid-request.
        this.received.push({ id, headers: req.headers, body, payload, refused, status: this.#holding ? null : status });
        if (!this.#holding) {
          res.statusCode = status;
          res.end();
        }
        for (const wake of this.#waiters) wake();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    return this;
  }

  /** From now on, requests are read but not answered (until `close` cuts them). */
  hold(): void {
    this.#holding = true;
  }

  /** Goes down at once: open connections (held requests too) are cut, new ones refused. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    this.#holding = false;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** The ids of deliveries that verified and were answered 2xx. */
  accepted(): Set<string> {
    return new Set(
      this.received.filter((r) => r.payload !== null && r.status !== null && r.status < 300).map((r) => r.id),
    );
  }

  /** Resolves once `check` passes (checked at each delivery); rejects after `timeoutMs` saying what came. */
  until<T>(check: (receiver: this) => T | false | undefined | null, timeoutMs = 30_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(test);
        const seen = this.received.map((r) => `${r.id}${r.refused ? ` (refused: ${r.refused})` : ''}`);
        reject(new Error(`the receiver did not see what was expected in ${timeoutMs} ms; it saw ${seen.join(', ')}`));
      }, timeoutMs);
      const test = () => {
        const value = check(this);
        if (value === false || value === undefined || value === null) return;
        clearTimeout(timer);
        this.#waiters.delete(test);
        resolve(value);
      };
      this.#waiters.add(test);
      test();
    });
  }
}
