/** What a job of the bench carries: its number, and when it was enqueued (wall-clock ms, for pick-up latency). */
export interface BenchPayload {
  n: number;
  at?: number;
}

/** How a peer is set up for a drain: as it comes, or with its documented fastest settings. */
export type DrainMode = 'default' | 'fast';

export interface WorkerSettings {
  concurrency: number;
  mode: DrainMode;
  /** Called once per job the library runs (the no-op task). */
  handler(payload: BenchPayload): void;
}

/**
 * One job library under the bench, on one backend. Each measurement runs in a fresh process on
 * a fresh database (or Redis prefix), so no peer warms another's caches or heap.
 */
export interface Peer {
  /** "underway (PostgreSQL)", "graphile-worker", … */
  readonly name: string;
  readonly backend: 'postgres' | 'redis' | 'sqlite';
  /** The settings this peer runs with, in words, for the report. */
  settings(mode: DrainMode, concurrency: number): string;
  /** Settings that must be chosen before `setup` (pg-boss's per-mode options). */
  prepare?(mode: DrainMode): Promise<void>;
  /** Creates the schema or queue (migrations are not measured). */
  setup(): Promise<void>;
  /** Fills a drain's queue without going through enqueue (underway: one INSERT … SELECT); else the batch call. */
  seed?(count: number, from: number): Promise<void>;
  /** Adds one job with one call, the way the docs show. */
  enqueueOne(payload: BenchPayload): Promise<void>;
  /** Adds many jobs with the library's batch call (or the closest thing it has). */
  enqueueBatch(payloads: BenchPayload[]): Promise<void>;
  /** Starts a worker; resolves once it is listening for jobs. */
  startWorker(settings: WorkerSettings): Promise<void>;
  /** Stops the worker gracefully. */
  stopWorker(): Promise<void>;
  /** Jobs the library itself records as completed (or, for a library that deletes finished jobs, as gone). */
  completed(total: number): Promise<number>;
  /** Closes connections. */
  close(): Promise<void>;
}

export interface PeerOptions {
  /** A fresh PostgreSQL database (PostgreSQL peers). */
  pgUrl?: string;
  /** A Redis key prefix of the measurement's own (BullMQ on Redis). */
  redisPrefix?: string;
  /** A folder for the SQLite file (underway on SQLite). */
  dir?: string;
  /** underway only: seed drains with priorities -5 … 5 (n % 11 − 5) instead of all 0, to show what ordering by priority costs. */
  priorities?: boolean;
  /**
   * underway only: put the drain's queue under a limit, so that every claim is the limited one
   * (`claimLimited`): `queue`, at most the worker's concurrency running; `per-key`, at most
   * `PER_KEY` running per concurrency key, over `KEYS` keys dealt round the jobs.
   */
  limits?: 'queue' | 'per-key';
}

/** The per-key drain: 4 keys × 5 running each leaves room for 20, above c10, so no slot waits for a key. */
export const PER_KEY = 5;
export const KEYS = 4;
