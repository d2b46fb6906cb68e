/** Which server an HTTP-start measurement runs, and on which store. */
export type HttpServerKind = 'underway' | 'floor';
export type HttpStoreKind = 'sqlite' | 'pg';

export interface HttpChildInput {
  server: HttpServerKind;
  store: HttpStoreKind;
  /** The fresh database (PostgreSQL), owned and dropped by bench/run.ts. */
  pgUrl?: string | undefined;
  /** The fresh folder for the SQLite file, owned and removed by bench/run.ts. */
  dir?: string | undefined;
}

/** What the child prints when it is told to stop (SIGTERM). */
export interface HttpChildResult {
  /** Rows the server's store holds: compared with the 2xx answers, so a start that did not persist shows. */
  rows: number;
  /** CPU time (user + system) this process spent from `ready` to the stop: its cost per start, whatever the machine's load. */
  cpuMs: number;
  rssMiB: number;
}

/** A server under load, as both kinds expose it to bench/http-child.ts. */
export interface BenchServer {
  url: string;
  /** Its settings in words, for the results file. */
  settings: string;
  rows(): Promise<number>;
  close(): Promise<void>;
}

/** The bearer token the load sends (a static API token is what a program calling underway uses). */
export const BENCH_TOKEN = 'bench-token-0123456789abcdef';
/** The path of the start, as `underway serve` mounts it. */
export const START_PATH = '/api/jobs';
/** What every request posts: a start of the no-op task. */
export const START_BODY = JSON.stringify({ task: 'noop', params: {} });
