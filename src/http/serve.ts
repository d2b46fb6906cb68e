import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../logger.ts';
import type { Underway } from './app.ts';

export interface ServeHttpOptions {
  /** Default `$PORT`, else 3000. 0 picks a free port. */
  port?: number | undefined;
  /**
   * Default `127.0.0.1`: only this machine can connect until you say otherwise (`0.0.0.0` in a
   * container, behind a proxy). The standalone local admin never applies to proxied requests.
   */
  host?: string | undefined;
  logger?: Logger | undefined;
}

export interface RunningServer {
  server: Server;
  /** Where to point a browser, e.g. `http://127.0.0.1:3000`. */
  url: string;
  port: number;
  /**
   * Stops accepting connections, ends open event streams and waits for the server to close.
   * Call `underway.close()` afterwards (the streams' subscription, webhook retries).
   */
  close(): Promise<void>;
}

/**
 * Serves an underway app on a plain `node:http` server and logs where, and who may call.
 *
 * @example
 * const underway = createUnderway({ store, tasks: config.tasks, ...config.http });
 * const running = await serveHttp(underway, { port: Number(process.env.PORT ?? 3000) });
 * // on SIGTERM: await running.close(); await underway.close(); await worker.stop(); await store.close();
 */
export async function serveHttp(underway: Underway, options: ServeHttpOptions = {}): Promise<RunningServer> {
  const log = options.logger ?? createLogger({ name: 'underway-http' });
  const port = options.port ?? (process.env.PORT ? Number(process.env.PORT) : 3000);
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    // With half-open connections (below), a client that closes while an event stream runs would
    // be written to until a write failed (EPIPE): a stream ends when the client's side does.
    // (Event streams are underway's `…/events` routes.)
    const onEnd = () => {
      if (!res.writableEnded && (req.url ?? '').split('?')[0]?.endsWith('/events')) res.destroy();
    };
    req.socket.once('end', onEnd);
    res.once('close', () => req.socket.off('end', onEnd));
    underway.nodeHandler(req, res);
  });
  // A client may close its sending side once the request is out (a half-close: nc, some proxies
  // and HTTP libraries do). By default Node then drops every answer still being made, so any
  // request that waited on the store (PostgreSQL: milliseconds) got no answer at all; with this,
  // the last answer is written and then the connection closes.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost === '0.0.0.0' || shownHost === '[::]' ? 'localhost' : shownHost}:${address.port}`;
  log.info(
    { url, api: `${url}${underway.basePath}`, auth: underway.describeAuth() },
    `underway listening on ${url} (auth: ${underway.describeAuth()})`,
  );
  return {
    server,
    url,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), 1_000);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        // Idle keep-alive sockets go now; requests in flight get a second, then event streams
        // (which never end on their own) and anything else left are cut.
        server.closeIdleConnections();
      }),
  };
}
