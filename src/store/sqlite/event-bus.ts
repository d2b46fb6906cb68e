import { randomBytes } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { toError } from '../../core/errors.ts';
import { coalesceProgress } from '../coalesce.ts';
import type { EventHub } from '../event-hub.ts';
import type { JobEvent } from '../store.ts';

/** Events are written out at most this often, so a burst of progress costs one transaction. */
const FLUSH_EVERY_MS = 10;
/** Readers that fall further behind than this lose events (and re-read state instead). */
const KEEP_EVENTS_MS = 60_000;
/** Rows (batches of events) read at a time by the tail. */
const READ_ROWS = 200;
/** The tail looks for new rows this often even if no file-change notice came. */
const POLL_EVERY_MS = 250;

/**
 * Carries job events between processes that share one SQLite file (a worker process and a server
 * process, say). Events are delivered in-process at once, and appended in small batches to the
 * underway_events table, one row per batch (a JSON array: a row per event was ~5 % of a draining
 * worker's time, since migration 3); other processes tail that table, woken by a file-change notice on the
 * database's WAL (inotify, FSEvents, ReadDirectoryChangesW), with a slow poll as a safety net.
 * Progress events of one job within one batch are coalesced (latest wins) on the way out: other
 * processes see the newest progress within ~10 ms, status and log events are never dropped.
 */
export class SqliteEventBus {
  readonly #db: Database.Database;
  readonly #file: string;
  readonly #hub: EventHub;
  readonly #origin = randomBytes(8).toString('base64url');
  #pending: JobEvent[] = [];
  #flushTimer: NodeJS.Timeout | null = null;
  #lastTrim = 0;
  #tail: { lastId: number; watcher: FSWatcher | null; poll: NodeJS.Timeout; scheduled: boolean } | null = null;
  #closed = false;
  /**
   * Prepared once, on first use, as the store's own statements are: the tail reads after every
   * commit to the file (the WAL's change notice), this process's own included.
   */
  #statements: { write: (body: string) => void; read: Database.Statement } | null = null;

  constructor(db: Database.Database, file: string, hub: EventHub) {
    this.#db = db;
    this.#file = file;
    this.#hub = hub;
  }

  get #sql() {
    if (!this.#statements) {
      const insert = this.#db.prepare('INSERT INTO underway_events (origin, at, body) VALUES (?, ?, ?)');
      const trim = this.#db.prepare('DELETE FROM underway_events WHERE at < ?');
      const write = this.#db.transaction((body: string) => {
        const now = Date.now();
        insert.run(this.#origin, now, body);
        if (now - this.#lastTrim > 5_000) {
          trim.run(now - KEEP_EVENTS_MS);
          this.#lastTrim = now;
        }
      });
      const read = this.#db.prepare(
        `SELECT id, CASE WHEN origin = ? THEN NULL ELSE body END AS body
         FROM underway_events WHERE id > ? ORDER BY id LIMIT ${READ_ROWS}`,
      );
      this.#statements = { write, read };
    }
    return this.#statements;
  }

  publish(event: JobEvent): void {
    this.#hub.deliver(event);
    if (this.#closed) return;
    this.#pending.push(event);
    this.#flushTimer ??= setTimeout(() => this.flush(), FLUSH_EVERY_MS);
  }

  /** Writes pending events now (also called on close, so nothing published is lost). */
  flush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    if (this.#pending.length === 0) return;
    const events = coalesceProgress(this.#pending);
    this.#pending = [];
    try {
      this.#sql.write(JSON.stringify(events));
    } catch (error) {
      // Local subscribers already have these events; other processes re-read state on their next snapshot.
      process.emitWarning(`underway: could not share job events with other processes: ${toError(error).message}`);
    }
  }

  /** Starts following other processes' events; idempotent. */
  startTail(): void {
    if (this.#tail || this.#closed) return;
    const row = this.#db.prepare('SELECT coalesce(max(id), 0) AS id FROM underway_events').get() as { id: number };
    const poll = setInterval(() => this.#read(), POLL_EVERY_MS);
    poll.unref();
    this.#tail = { lastId: row.id, watcher: null, poll, scheduled: false };
    if (this.#file !== ':memory:') {
      const wal = `${basename(this.#file)}-wal`;
      try {
        const watcher = watch(dirname(this.#file), { persistent: false }, (_type, name) => {
          if (name === null || name === wal) this.#scheduleRead();
        });
        watcher.on('error', () => watcher.close());
        this.#tail.watcher = watcher;
      } catch {
        // No change notices on this filesystem: the poll alone carries events, 250 ms late at worst.
      }
    }
  }

  stopTail(): void {
    if (!this.#tail) return;
    clearInterval(this.#tail.poll);
    this.#tail.watcher?.close();
    this.#tail = null;
  }

  close(): void {
    if (this.#closed) return;
    this.flush();
    this.stopTail();
    this.#closed = true;
  }

  #scheduleRead(): void {
    const tail = this.#tail;
    if (!tail || tail.scheduled) return;
    tail.scheduled = true;
    setImmediate(() => {
      tail.scheduled = false;
      this.#read();
    });
  }

  #read(): void {
    const tail = this.#tail;
    if (!tail || this.#closed) return;
    let rows: { id: number; body: string | null }[];
    try {
      // This process's own rows are passed over without reading their bodies (their events were delivered here already).
      rows = this.#sql.read.all(this.#origin, tail.lastId) as typeof rows;
    } catch {
      return; // Busy or closing; the next notice or poll tries again.
    }
    for (const row of rows) {
      tail.lastId = row.id;
      if (row.body === null) continue;
      for (const event of JSON.parse(row.body) as JobEvent[]) this.#hub.deliver(event);
    }
    if (rows.length === READ_ROWS) this.#scheduleRead();
  }
}
