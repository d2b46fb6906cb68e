import type { Readable } from 'node:stream';
import type Database from 'better-sqlite3';
import type { ChildSummary } from '../../core/children.ts';
import type {
  ArtifactInfo,
  IsoDate,
  Job,
  JobError,
  JobProgress,
  Lease,
  Outcome,
  ProgressSample,
} from '../../core/job.ts';
import { CANCELLED, cancelledError, stalledMessage } from '../../core/job-texts.ts';
import { checkArtifact, discardBody } from '../artifact-input.ts';
import { Batcher } from '../batcher.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { EventChannel } from '../event-channel.ts';
import { EventHub } from '../event-hub.ts';
import { Fit, type KeyCount, LIMITED_SCAN } from '../queue-limits.ts';
import { likeEscaped } from '../search.ts';
import { statusEvent } from '../status-event.ts';
import {
  type CancelResult,
  type ChildInput,
  type ClaimedJob,
  type ClaimRequest,
  type CleanupRetention,
  DEFAULT_LIST_LIMIT,
  DEFAULT_MAX_LOG_LINES,
  type EnqueueInput,
  type FireScheduleRequest,
  type HeartbeatResult,
  type JobFilter,
  type JobPage,
  type JobStats,
  type LimitedClaimRequest,
  type LogLine,
  MAX_LIST_LIMIT,
  type NewArtifact,
  type NewLogLine,
  type NewSchedule,
  type NewStep,
  type Pause,
  type PauseRequest,
  type PauseTarget,
  type QueueSample,
  type QueueUsage,
  type QueueUsageRequest,
  type RecordedStep,
  type Schedule,
  type StatsRequest,
  type StatusCount,
  type Store,
  type WorkerInfo,
  type WorkerRecord,
} from '../store.ts';
import type {
  ClaimedWebhookDelivery,
  ClaimWebhookDeliveriesRequest,
  RecordWebhookDeliveriesRequest,
  StoredWebhookDelivery,
  WebhookAttemptResult,
  WebhookDeliveryFilter,
} from '../webhook-deliveries.ts';
import { ArtifactFiles } from './artifact-files.ts';
import { appendAttempt } from './attempts.ts';
import * as children from './children.ts';
import { SqliteEventBus } from './event-bus.ts';
import { insertJob } from './insert-job.ts';
import { appendLogLines, readLogLines } from './logs.ts';
import { migrateDatabase, type OpenOptions, openDatabase, storeError } from './open.ts';
import * as overview from './overview.ts';
import {
  type ArtifactRow,
  JOB_COLUMN_LIST,
  JOB_COLUMNS,
  type JobRow,
  jobRowOf,
  readJobRow,
  readJobRows,
  toArtifactInfo,
  toJob,
  toJsonColumn,
} from './rows.ts';
import * as samples from './samples.ts';
import * as steps from './steps.ts';
import * as webhooks from './webhooks.ts';

export interface SqliteStoreOptions extends OpenOptions {
  /** The database file; created with its folder when absent. `:memory:` for a private, throwaway store. */
  file: string;
  /** Where artifacts are kept. Default: a folder beside the file, `<file>-artifacts`. */
  artifactsDir?: string | undefined;
  /** Bring the schema up to date on open. Default true. */
  migrate?: boolean | undefined;
}

const DAY_MS = 86_400_000;

/**
 * Whether a claimed job has recorded steps, in the claim's RETURNING (one probe of the steps'
 * primary key per row): without it, every attempt read the steps table before running, the
 * largest cost issue 16 added to a SQLite drain (docs/performance.md, run H).
 */
const HAS_STEPS = 'EXISTS (SELECT 1 FROM underway_steps s WHERE s.job_id = underway_jobs.id) AS has_steps';

/** A limited queue's due jobs in claim order, with their keys (the limited claim reads at most LIMITED_SCAN). */
const LIMITED_DUE = `SELECT seq, concurrency_key AS key, priority, run_at FROM underway_jobs INDEXED BY underway_jobs_queue_due
  WHERE status = 'queued' AND queue = ? AND run_at <= ?
    AND task IN (SELECT value FROM json_each(?) EXCEPT SELECT name FROM underway_paused WHERE kind = 'task')
    AND queue NOT IN (SELECT name FROM underway_paused WHERE kind = 'queue')
  ORDER BY priority DESC, run_at, seq`;

/** A claimed row, and whether its job has recorded steps (HAS_STEPS, the column after JOB_COLUMNS). */
type ClaimedRow = { row: JobRow; hasSteps: boolean };

function claimedRows(values: unknown[][]): ClaimedRow[] {
  return values.map((v) => ({ row: jobRowOf(v), hasSteps: v[JOB_COLUMNS.length] === 1 }));
}

/**
 * The embedded store: one SQLite file in WAL mode, zero set-up. Safe for several processes on
 * one machine (a server and its workers): claims and other changes are single write transactions,
 * and events travel between the processes through the file (see SqliteEventBus).
 *
 * @example
 * const store = sqliteStore({ file: './data/underway.db' });
 */
export function sqliteStore(options: SqliteStoreOptions): Store {
  return new SqliteStore(options);
}

class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly #db: Database.Database;
  readonly #path: string;
  readonly #files: ArtifactFiles;
  readonly #hub = new EventHub();
  readonly #bus: SqliteEventBus;
  /**
   * Statements by SQL text, prepared once: `db.prepare` per call was 13 % of the worker's CPU
   * draining no-op jobs (bench/README.md). The SQL texts are a small fixed set (list's filters
   * make at most a few dozen).
   */
  readonly #statements = new Map<string, Database.Statement>();
  /** One transaction wrapper for every write, instead of one made per call. */
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  readonly #finishes = new Batcher<{ lease: Lease; outcome: Outcome }, Job | null>(async (batch) =>
    this.#finishBatch(batch),
  );
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    this.#db = openDatabase(options.file, options);
    this.#path = options.file;
    this.#files = new ArtifactFiles(options.artifactsDir ?? `${options.file}-artifacts`);
    if (options.migrate !== false) migrateDatabase(this.#db, this.#path);
    this.#bus = new SqliteEventBus(this.#db, options.file, this.#hub);
    this.#transaction = this.#db.transaction((fn: () => unknown) => fn());
  }

  #prepare(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs `fn` as one write transaction, mapping SQLite's errors to StoreErrors. */
  #write<T>(fn: () => T): T {
    try {
      return this.#transaction.immediate(fn) as T;
    } catch (error) {
      throw storeError(error, this.#path);
    }
  }

  #read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw storeError(error, this.#path);
    }
  }

  #row(id: string): JobRow | undefined {
    return readJobRow(this.#prepare(`SELECT ${JOB_COLUMN_LIST} FROM underway_jobs WHERE id = ?`), id);
  }

  #artifactsOf(jobIds: string[]): Map<string, ArtifactInfo[]> {
    const byJob = new Map<string, ArtifactInfo[]>();
    if (jobIds.length === 0) return byJob;
    const rows = this.#prepare(
      `SELECT * FROM underway_artifacts WHERE job_id IN (SELECT value FROM json_each(?)) ORDER BY created_at, name`,
    ).all(JSON.stringify(jobIds)) as ArtifactRow[];
    for (const row of rows) {
      const list = byJob.get(row.job_id) ?? [];
      list.push(toArtifactInfo(row));
      byJob.set(row.job_id, list);
    }
    return byJob;
  }

  #jobs(rows: JobRow[]): Job[] {
    const artifacts = this.#artifactsOf(rows.map((row) => row.id));
    return rows.map((row) => toJob(row, artifacts.get(row.id) ?? []));
  }

  #job(row: JobRow): Job {
    return this.#jobs([row])[0] as Job;
  }

  #publishStatus(job: Job): void {
    this.events.send(statusEvent(job));
  }

  /** Changes made in one write, each heard before anything a listener does on hearing the first (EventHub). */
  #publishStatuses(jobs: Job[]): void {
    this.#hub.together(() => {
      for (const job of jobs) this.#publishStatus(job);
    });
  }

  async migrate(): Promise<void> {
    migrateDatabase(this.#db, this.#path);
  }

  async enqueue(input: EnqueueInput): Promise<{ job: Job; created: boolean }> {
    return (await this.enqueueMany([input]))[0] as { job: Job; created: boolean };
  }

  async enqueueMany(inputs: readonly EnqueueInput[]): Promise<{ job: Job; created: boolean }[]> {
    if (inputs.length === 0) return [];
    const now = Date.now();
    const outcomes = this.#write(() => inputs.map((input) => this.#insertJob(input, now)));
    return this.#hub.together(() =>
      outcomes.map(({ row, created }) => {
        // A job just inserted has no artifacts: no query for them (a third of enqueue's statements).
        const job = created ? toJob(row, []) : this.#job(row);
        if (created) this.#publishStatus(job);
        return { job, created };
      }),
    );
  }

  /** Inserts one job, or finds the queued or running job holding its dedupe key; inside a write transaction. */
  #insertJob(input: EnqueueInput, now: number): { row: JobRow; created: boolean } {
    if (input.dedupeKey) {
      const existing = this.#prepare(
        "SELECT * FROM underway_jobs WHERE dedupe_key = ? AND status IN ('queued', 'running')",
      ).get(input.dedupeKey) as JobRow | undefined;
      if (existing) return { row: existing, created: false };
    }
    const row = insertJob(this.#prepareFn, input, now);
    return { row, created: true };
  }

  async claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    if (request.limit <= 0 || request.tasks.length === 0) return [];
    const now = Date.now();
    const rows = this.#write(
      () =>
        this.#prepare(
          // One statement for the whole claim. INDEXED BY: without statistics (or with stale ones)
          // the planner chose the status or task index and sorted every queued job; walking the
          // claim index (priority, then run_at: migration 5) is right at any queue length, and stops
          // after `limit` due rows. The paused tasks and queues are uncorrelated subqueries, each
          // read once into a lookup table, not per row walked. The lease token comes from SQLite's CSPRNG.
          `UPDATE underway_jobs
           SET status = 'running', attempt = attempt + 1, started_at = ?, worker_id = ?,
               lease_token = lower(hex(randomblob(12))), lease_expires_at = ?, progress = NULL
           WHERE seq IN (
             SELECT seq FROM underway_jobs INDEXED BY underway_jobs_claim
             WHERE status = 'queued' AND run_at <= ?
               AND task IN (SELECT value FROM json_each(?) EXCEPT SELECT name FROM underway_paused WHERE kind = 'task')
               AND queue NOT IN (SELECT name FROM underway_paused WHERE kind = 'queue')
             ORDER BY priority DESC, run_at, seq LIMIT ?)
           RETURNING ${JOB_COLUMN_LIST}, ${HAS_STEPS}`,
        )
          .raw(true)
          .all(
            now,
            request.workerId,
            now + request.leaseMs,
            now,
            JSON.stringify(request.tasks),
            request.limit,
          ) as unknown[][],
    );
    return this.#claimed(claimedRows(rows));
  }

  /** Claimed rows as jobs with their leases, in claim order, their `running` events published. */
  #claimed(claimed: ClaimedRow[]): ClaimedJob[] {
    // RETURNING has no order: in the claim's own (highest priority, then oldest runAt, then added first).
    claimed.sort(({ row: a }, { row: b }) => b.priority - a.priority || a.run_at - b.run_at || a.seq - b.seq);
    const jobs = this.#jobs(claimed.map(({ row }) => row));
    this.#publishStatuses(jobs);
    return claimed.map(({ row, hasSteps }, index) => ({
      job: jobs[index] as Job,
      lease: { jobId: row.id, token: row.lease_token as string },
      stepsRecorded: hasSteps,
    }));
  }

  async claimLimited(request: LimitedClaimRequest): Promise<ClaimedJob[]> {
    if (request.limit <= 0 || request.tasks.length === 0) return [];
    const now = Date.now();
    const tasks = JSON.stringify(request.tasks);
    // In one write transaction: SQLite has one writer at a time across processes, so the counts
    // read here hold until the claim is written.
    const rows = this.#write(() => {
      const picked: number[] = [];
      for (const limit of request.limits) {
        if (picked.length >= request.limit) break;
        const running = this.#prepare(
          `SELECT concurrency_key AS key, count(*) AS n FROM underway_jobs INDEXED BY underway_jobs_queue_running
             WHERE status = 'running' AND queue = ? GROUP BY concurrency_key`,
        ).all(limit.queue) as { key: string | null; n: number }[];
        const started = limit.rate
          ? (
              this.#prepare(
                `SELECT count(*) AS n FROM underway_jobs INDEXED BY underway_jobs_queue_started
                   WHERE queue = ? AND started_at > ?`,
              ).get(limit.queue, now - limit.rate.perSeconds * 1000) as { n: number }
            ).n
          : 0;
        const startedByKey = limit.ratePerKey
          ? (this.#prepare(
              `SELECT concurrency_key AS key, count(*) AS n FROM underway_jobs INDEXED BY underway_jobs_queue_started
                 WHERE queue = ? AND started_at > ? AND concurrency_key IS NOT NULL GROUP BY concurrency_key`,
            ).all(limit.queue, now - limit.ratePerKey.perSeconds * 1000) as KeyCount[])
          : [];
        const fit = new Fit(limit, running, started, startedByKey);
        if (fit.full) continue;
        // Walked in claim order; a job over its key's limit is passed over, its queue's next may fit.
        // The jobs of keys already full are left out inside SQLite, from the same LIMITED_SCAN
        // rows: with every key full, which it is after most claims, handing all of them to
        // fit.take() one by one was 3/4 of a per-key drain (docs/performance.md, run M).
        const full = fit.fullKeys();
        const candidates = (
          full.length === 0
            ? this.#prepare(`${LIMITED_DUE} LIMIT ?`).iterate(limit.queue, now, tasks, LIMITED_SCAN)
            : this.#prepare(
                `SELECT seq, key FROM (${LIMITED_DUE} LIMIT ?)
                 WHERE key IS NULL OR key NOT IN (SELECT value FROM json_each(?))
                 ORDER BY priority DESC, run_at, seq`,
              ).iterate(limit.queue, now, tasks, LIMITED_SCAN, JSON.stringify(full))
        ) as Iterable<{ seq: number; key: string | null }>;
        for (const candidate of candidates) {
          if (picked.length >= request.limit || fit.full) break;
          if (fit.take(candidate.key)) picked.push(candidate.seq);
        }
      }
      if (picked.length === 0) return [];
      return this.#prepare(
        `UPDATE underway_jobs
         SET status = 'running', attempt = attempt + 1, started_at = ?, worker_id = ?,
             lease_token = lower(hex(randomblob(12))), lease_expires_at = ?, progress = NULL
         WHERE seq IN (SELECT value FROM json_each(?)) RETURNING ${JOB_COLUMN_LIST}, ${HAS_STEPS}`,
      )
        .raw(true)
        .all(now, request.workerId, now + request.leaseMs, JSON.stringify(picked)) as unknown[][];
    });
    return this.#claimed(claimedRows(rows));
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number): Promise<HeartbeatResult[]> {
    if (leases.length === 0) return [];
    const until = Date.now() + leaseMs;
    return this.#write(() => {
      const renew = this.#prepare(
        `UPDATE underway_jobs SET lease_expires_at = ?
         WHERE id = ? AND lease_token = ? AND status = 'running' RETURNING cancel_requested`,
      );
      return leases.map((lease) => {
        const row = renew.get(until, lease.jobId, lease.token) as { cancel_requested: number } | undefined;
        return { jobId: lease.jobId, held: row !== undefined, cancelRequested: row?.cancel_requested === 1 };
      });
    });
  }

  async saveProgress(lease: Lease, progress: JobProgress, sample = false): Promise<boolean> {
    return this.#write(() => samples.saveProgress(this.#prepareFn, lease, progress, sample));
  }

  async progressSamples(jobId: string): Promise<ProgressSample[]> {
    return this.#read(() => samples.progressSamples(this.#prepareFn, jobId));
  }

  async finish(lease: Lease, outcome: Outcome): Promise<Job | null> {
    return this.#finishes.add({ lease, outcome });
  }

  /**
   * Finishes made in the same turn (a worker ending several jobs together) share one write
   * transaction and one artifacts query: a commit per job was the largest cost of draining
   * no-op jobs (docs/performance.md). Each row is still fenced by its own lease.
   */
  #finishBatch(batch: { lease: Lease; outcome: Outcome }[]): (Job | null)[] {
    const now = Date.now();
    const rows = this.#write(() => batch.map(({ lease, outcome }) => this.#finishRow(lease, outcome, now)));
    const jobs = this.#jobs(rows.filter((row): row is JobRow => row !== undefined));
    this.#publishStatuses(jobs);
    const byId = new Map(jobs.map((job) => [job.id, job]));
    return rows.map((row) => (row ? (byId.get(row.id) ?? null) : null));
  }

  #finishRow(lease: Lease, outcome: Outcome, now: number): JobRow | undefined {
    const fence = `WHERE id = ? AND lease_token = ? AND status = 'running' RETURNING ${JOB_COLUMN_LIST}`;
    // worker_id stays: the worker of the latest attempt, shown on the job's page.
    const clearLease = 'lease_token = NULL, lease_expires_at = NULL';
    if (outcome.status === 'succeeded') {
      return readJobRow(
        this.#prepare(
          `UPDATE underway_jobs SET status = 'succeeded', result = ?, error = NULL, finished_at = ?, ${clearLease} ${fence}`,
        ),
        toJsonColumn(outcome.result),
        now,
        lease.jobId,
        lease.token,
      );
    }
    if (outcome.status === 'retry') {
      // A cancel asked for while the attempt was failing wins over the retry.
      return readJobRow(
        this.#prepare(
          `UPDATE underway_jobs SET
             status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END,
             finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END,
             error = ?, run_at = ?,
             attempts = CASE WHEN cancel_requested = 1 THEN attempts ELSE ${appendAttempt('?', '?', "'retry'", '?')} END,
             ${clearLease} ${fence}`,
        ),
        now,
        JSON.stringify(outcome.error),
        Date.parse(outcome.runAt),
        now,
        Date.parse(outcome.runAt),
        JSON.stringify({ code: outcome.error.code, message: outcome.error.message }),
        lease.jobId,
        lease.token,
      );
    }
    return readJobRow(
      this.#prepare(`UPDATE underway_jobs SET status = ?, error = ?, finished_at = ?, ${clearLease} ${fence}`),
      outcome.status,
      JSON.stringify(outcome.error),
      now,
      lease.jobId,
      lease.token,
    );
  }

  async release(lease: Lease): Promise<Job | null> {
    const now = Date.now();
    const row = this.#write(
      () =>
        this.#prepare(
          `UPDATE underway_jobs SET
               status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END,
               finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END,
               error = CASE WHEN cancel_requested = 1 THEN ? ELSE error END,
               attempts = CASE WHEN cancel_requested = 1 THEN attempts ELSE ${appendAttempt('?', '?', "'released'", 'NULL')} END,
               attempt = attempt - 1, run_at = ?, lease_token = NULL, lease_expires_at = NULL
             WHERE id = ? AND lease_token = ? AND status = 'running' RETURNING *`,
        ).get(now, JSON.stringify(cancelledError(CANCELLED.atShutdown)), now, now, now, lease.jobId, lease.token) as
          | JobRow
          | undefined,
    );
    if (!row) return null;
    const job = this.#job(row);
    this.#publishStatus(job);
    return job;
  }

  async requestCancel(id: string): Promise<CancelResult | null> {
    const now = Date.now();
    const result = this.#write(() => {
      const row = this.#row(id);
      if (!row) return null;
      if (row.status === 'queued') {
        const updated = this.#prepare(
          `UPDATE underway_jobs SET status = 'cancelled', cancel_requested = 1, finished_at = ?, error = ?
             WHERE id = ? RETURNING *`,
        ).get(now, JSON.stringify(cancelledError(CANCELLED.beforeStart)), id) as JobRow;
        return { row: updated, changed: true };
      }
      if (row.status === 'running' && row.cancel_requested === 0) {
        const updated = this.#prepare('UPDATE underway_jobs SET cancel_requested = 1 WHERE id = ? RETURNING *').get(
          id,
        ) as JobRow;
        return { row: updated, changed: true };
      }
      return { row, changed: false };
    });
    if (!result) return null;
    const job = this.#job(result.row);
    if (result.changed) this.#publishStatus(job);
    return { job, changed: result.changed };
  }

  async get(id: string): Promise<Job | null> {
    return this.#read(() => {
      const row = this.#row(id);
      return row ? this.#job(row) : null;
    });
  }

  async list(filter: JobFilter = {}): Promise<JobPage> {
    const limit = Math.min(Math.max(1, Math.floor(filter.limit ?? DEFAULT_LIST_LIMIT)), MAX_LIST_LIMIT);
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.status !== undefined) {
      const statuses = typeof filter.status === 'string' ? [filter.status] : [...filter.status];
      where.push('status IN (SELECT value FROM json_each(?))');
      args.push(JSON.stringify(statuses));
    }
    if (filter.task !== undefined) {
      where.push('task = ?');
      args.push(filter.task);
    }
    if (filter.owner !== undefined) {
      where.push('owner = ?');
      args.push(filter.owner);
    }
    if (filter.parent !== undefined) {
      where.push('parent_id = ?');
      args.push(filter.parent);
    }
    if (filter.search) {
      const text = likeEscaped(filter.search);
      where.push("(id LIKE ? ESCAPE '\\' OR params LIKE ? ESCAPE '\\')");
      args.push(`${text}%`, `%${text}%`);
    }
    if (filter.cursor) {
      where.push('seq < ?');
      args.push(decodeCursor(filter.cursor));
    }
    // The job's columns only: `*` carried each job's sampled progress history, which a list never shows.
    const sql = `SELECT ${JOB_COLUMN_LIST} FROM underway_jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY seq DESC LIMIT ?`;
    return this.#read(() => {
      const rows = readJobRows(this.#prepare(sql), ...args, limit + 1);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { jobs: this.#jobs(page), nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
    });
  }

  async pause(request: PauseRequest): Promise<Pause> {
    const row = this.#write(() => {
      this.#prepare(
        `INSERT INTO underway_paused (kind, name, paused_by, reason, paused_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (kind, name) DO NOTHING`,
      ).run(request.kind, request.name, request.by ?? null, request.reason ?? null, Date.now());
      return this.#prepare('SELECT * FROM underway_paused WHERE kind = ? AND name = ?').get(
        request.kind,
        request.name,
      ) as PauseRow;
    });
    return toPause(row);
  }

  async resume(target: PauseTarget): Promise<boolean> {
    const { changes } = this.#write(() =>
      this.#prepare('DELETE FROM underway_paused WHERE kind = ? AND name = ?').run(target.kind, target.name),
    );
    return changes > 0;
  }

  async listPauses(): Promise<Pause[]> {
    const rows = this.#read(
      () => this.#prepare('SELECT * FROM underway_paused ORDER BY paused_at, name').all() as PauseRow[],
    );
    return rows.map(toPause);
  }

  async queueUsage(request: QueueUsageRequest): Promise<QueueUsage> {
    const now = Date.now();
    const since = (seconds: number | null) => (seconds === null ? null : now - seconds * 1000);
    const key = request.key;
    // One statement, one snapshot; each count walks one of migration 6's indexes. A null key or
    // window matches no row: 0.
    const row = this.#read(
      () =>
        this.#prepare(
          `SELECT due.n AS due, due.oldest AS oldest_due_at,
             (SELECT count(*) FROM underway_jobs INDEXED BY underway_jobs_queue_running
               WHERE status = 'running' AND queue = $queue) AS running,
             (SELECT count(*) FROM underway_jobs INDEXED BY underway_jobs_queue_running
               WHERE status = 'running' AND queue = $queue AND concurrency_key = $key) AS running_with_key,
             (SELECT count(*) FROM underway_jobs INDEXED BY underway_jobs_queue_started
               WHERE queue = $queue AND started_at > $since) AS started_in_window,
             (SELECT count(*) FROM underway_jobs INDEXED BY underway_jobs_queue_started
               WHERE queue = $queue AND started_at > $keySince AND concurrency_key = $key) AS started_with_key_in_window
           FROM (SELECT count(*) AS n, min(run_at) AS oldest FROM underway_jobs INDEXED BY underway_jobs_queue_due
             WHERE status = 'queued' AND queue = $queue AND run_at <= $now) AS due`,
        ).get({
          queue: request.queue,
          key,
          now,
          since: since(request.rateSeconds),
          keySince: key === null ? null : since(request.keyRateSeconds),
        }) as QueueUsageRow,
    );
    return {
      due: row.due,
      running: row.running,
      runningWithKey: row.running_with_key,
      startedInWindow: row.started_in_window,
      startedWithKeyInWindow: row.started_with_key_in_window,
      oldestDueAt: row.oldest_due_at === null ? null : new Date(row.oldest_due_at).toISOString(),
    };
  }

  async saveSchedule(schedule: NewSchedule): Promise<Schedule> {
    const now = Date.now();
    const row = this.#write(
      () =>
        this.#prepare(
          `INSERT INTO underway_schedules (name, task, cron, every_seconds, timezone, params, owner, priority,
               catch_up_seconds, next_at, source, created_by, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET
             next_at = CASE WHEN cron IS excluded.cron AND every_seconds IS excluded.every_seconds
               AND timezone IS excluded.timezone THEN next_at ELSE excluded.next_at END,
             task = excluded.task, cron = excluded.cron, every_seconds = excluded.every_seconds,
             timezone = excluded.timezone, params = excluded.params, owner = excluded.owner,
             priority = excluded.priority, catch_up_seconds = excluded.catch_up_seconds,
             source = excluded.source, updated_at = excluded.updated_at
           RETURNING *`,
        ).get(
          schedule.name,
          schedule.task,
          schedule.cron,
          schedule.everySeconds,
          schedule.timezone,
          JSON.stringify(schedule.params ?? {}),
          schedule.owner,
          schedule.priority,
          schedule.catchUpSeconds,
          Date.parse(schedule.nextAt),
          schedule.source,
          schedule.createdBy,
          now,
          now,
        ) as ScheduleRow,
    );
    return toSchedule(row);
  }

  async listSchedules(): Promise<Schedule[]> {
    const rows = this.#read(
      () => this.#prepare('SELECT * FROM underway_schedules ORDER BY name').all() as ScheduleRow[],
    );
    return rows.map(toSchedule);
  }

  async removeSchedule(name: string): Promise<boolean> {
    const { changes } = this.#write(() => this.#prepare('DELETE FROM underway_schedules WHERE name = ?').run(name));
    return changes > 0;
  }

  async fireSchedule(request: FireScheduleRequest): Promise<Job[] | null> {
    const now = Date.now();
    const rows = this.#write(() => {
      const moved = this.#prepare(
        'UPDATE underway_schedules SET next_at = ?, last_tick_at = ?, updated_at = ? WHERE name = ? AND next_at = ?',
      ).run(
        Date.parse(request.nextAt),
        Date.parse(request.lastTickAt),
        now,
        request.name,
        Date.parse(request.expectedNextAt),
      );
      if (moved.changes === 0) return null;
      return request.jobs.map((input) => this.#insertJob(input, now));
    });
    if (!rows) return null;
    return this.#hub.together(() =>
      rows.map(({ row, created }) => {
        const job = created ? toJob(row, []) : this.#job(row);
        if (created) this.#publishStatus(job);
        return job;
      }),
    );
  }

  // The Overview's figures and the workers registry (overview.ts).

  async stats(request: StatsRequest): Promise<JobStats> {
    return this.#read(() => overview.stats(this.#prepareFn, request));
  }

  async touchWorker(worker: WorkerInfo): Promise<void> {
    const now = Date.now();
    this.#write(() => overview.touchWorker(this.#prepareFn, worker, now));
  }

  async removeWorker(id: string): Promise<boolean> {
    return this.#write(() => overview.removeWorker(this.#prepareFn, id));
  }

  async pruneWorkers(before: IsoDate): Promise<number> {
    return this.#write(() => overview.pruneWorkers(this.#prepareFn, before));
  }

  async workers(): Promise<WorkerRecord[]> {
    return this.#read(() => overview.workers(this.#prepareFn));
  }

  async sampleQueues(minute: IsoDate): Promise<boolean> {
    const now = Date.now();
    return this.#write(() => samples.sampleQueues(this.#prepareFn, minute, now));
  }

  async queueSamples(since: IsoDate, until: IsoDate): Promise<QueueSample[]> {
    return this.#read(() => samples.queueSamples(this.#prepareFn, since, until));
  }

  async counts(): Promise<StatusCount[]> {
    return this.#read(
      () =>
        this.#prepare(
          'SELECT task, status, count(*) AS count FROM underway_jobs GROUP BY task, status ORDER BY task, status',
        ).all() as StatusCount[],
    );
  }

  async remove(id: string): Promise<'removed' | 'not-found' | 'unfinished'> {
    const outcome = this.#write(() => {
      const row = this.#row(id);
      if (!row) return 'not-found' as const;
      if (row.status === 'queued' || row.status === 'running') return 'unfinished' as const;
      this.#deleteJobs([id]);
      return 'removed' as const;
    });
    if (outcome === 'removed') await this.#files.remove([id]);
    return outcome;
  }

  #deleteJobs(ids: string[]): void {
    const list = JSON.stringify(ids);
    for (const table of ['underway_logs', 'underway_artifacts', 'underway_steps']) {
      this.#prepare(`DELETE FROM ${table} WHERE job_id IN (SELECT value FROM json_each(?))`).run(list);
    }
    this.#prepare('DELETE FROM underway_jobs WHERE id IN (SELECT value FROM json_each(?))').run(list);
  }

  async appendLogs(
    job: string | Lease,
    lines: readonly NewLogLine[],
    maxLines = DEFAULT_MAX_LOG_LINES,
  ): Promise<LogLine[] | null> {
    if (lines.length === 0) return [];
    const lease = typeof job === 'string' ? null : job;
    const jobId = typeof job === 'string' ? job : job.jobId;
    return this.#write(() => {
      const row = (
        lease
          ? this.#prepare(
              `SELECT attempt FROM underway_jobs WHERE id = ? AND lease_token = ? AND status = 'running'`,
            ).get(lease.jobId, lease.token)
          : this.#prepare('SELECT attempt FROM underway_jobs WHERE id = ?').get(jobId)
      ) as { attempt: number } | undefined;
      if (lease && !row) return null;
      return appendLogLines(this.#db, jobId, row?.attempt ?? null, lines, maxLines);
    });
  }

  /** Whether the job is still running under this lease: the fence of appends and artifacts. */
  #holds(lease: Lease): boolean {
    return (
      this.#prepare(`SELECT 1 FROM underway_jobs WHERE id = ? AND lease_token = ? AND status = 'running'`).get(
        lease.jobId,
        lease.token,
      ) !== undefined
    );
  }

  async readLogs(jobId: string, options: { after?: number; limit?: number } = {}): Promise<LogLine[]> {
    return this.#read(() => readLogLines(this.#db, jobId, options));
  }

  /**
   * The bytes go to a temporary file first (outside any transaction: a big file takes a while);
   * one write transaction then checks the lease, records the artifact and renames the file into
   * place, so a fenced-out attempt leaves no file and never replaces the winner's. Under the
   * write lock no other process can end or re-claim the job between the check and the rename.
   */
  async saveArtifact(job: string | Lease, artifact: NewArtifact): Promise<ArtifactInfo | null> {
    const lease = typeof job === 'string' ? null : job;
    const jobId = typeof job === 'string' ? job : job.jobId;
    const { name, contentType } = checkArtifact(artifact);
    // A stale attempt (the common case: paused past its lease) writes no bytes at all.
    if (lease && !this.#read(() => this.#holds(lease))) {
      discardBody(artifact.body);
      return null;
    }
    const staged = await this.#files.stage(jobId, name, artifact.body);
    let row: ArtifactRow | null;
    try {
      row = this.#write(() => {
        if (lease && !this.#holds(lease)) return null;
        const saved = this.#prepare(
          `INSERT INTO underway_artifacts (job_id, name, content_type, size, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (job_id, name) DO UPDATE SET content_type = excluded.content_type, size = excluded.size,
               created_at = excluded.created_at
             RETURNING *`,
        ).get(jobId, name, contentType, staged.size, Date.now()) as ArtifactRow;
        // Last, so that a failed rename rolls the row back (a commit failing after it is left: rare).
        staged.commit();
        return saved;
      });
    } catch (error) {
      await staged.discard();
      throw error;
    }
    if (!row) await staged.discard();
    return row && toArtifactInfo(row);
  }

  async openArtifact(jobId: string, name: string): Promise<{ info: ArtifactInfo; body: Readable } | null> {
    const row = this.#read(
      () =>
        this.#prepare('SELECT * FROM underway_artifacts WHERE job_id = ? AND name = ?').get(jobId, name) as
          | ArtifactRow
          | undefined,
    );
    const body = row ? await this.#files.open(jobId, row.name) : null;
    return row && body ? { info: toArtifactInfo(row), body } : null;
  }

  // Resumable steps (store/sqlite/steps.ts).

  async recordStep(lease: Lease, step: NewStep): Promise<boolean> {
    const now = Date.now();
    return this.#write(() => steps.recordStep(this.#prepareFn, lease, step, now));
  }

  async listSteps(jobId: string): Promise<RecordedStep[]> {
    return this.#read(() => steps.listSteps(this.#prepareFn, jobId));
  }

  // Child jobs (store/sqlite/children.ts).

  async spawnChild(parent: Lease, input: ChildInput): Promise<{ job: Job; created: boolean } | null> {
    const now = Date.now();
    const spawned = this.#write(() => children.spawnChild(this.#prepareFn, parent, input, now));
    if (!spawned) return null;
    const job = spawned.created ? toJob(spawned.row, []) : this.#job(spawned.row);
    if (spawned.created) this.#publishStatus(job);
    return { job, created: spawned.created };
  }

  async waitForChildren(lease: Lease, failuresSeen: number): Promise<Job | null> {
    const now = Date.now();
    const error = JSON.stringify(cancelledError(CANCELLED.onRequest));
    const row = this.#write(() => children.waitForChildren(this.#prepareFn, lease, failuresSeen, error, now));
    if (!row) return null;
    const job = this.#job(row);
    this.#publishStatus(job);
    return job;
  }

  async childSummary(parentId: string): Promise<ChildSummary> {
    return this.#read(() => children.childSummary(this.#prepareFn, parentId));
  }

  async saveWaitingProgress(parentId: string, progress: JobProgress): Promise<boolean> {
    return this.#write(() => children.saveWaitingProgress(this.#prepareFn, parentId, progress));
  }

  async reapExpiredLeases(): Promise<Job[]> {
    const now = Date.now();
    const rows = this.#write(() => {
      const expired = this.#prepare(
        `SELECT * FROM underway_jobs WHERE status = 'running' AND lease_expires_at < ?`,
      ).all(now) as JobRow[];
      const update = this.#prepare(
        `UPDATE underway_jobs SET status = ?, error = ?, finished_at = ?, run_at = ?,
           attempts = CASE WHEN ? = 'queued' THEN ${appendAttempt('?', '?', "'stalled'", '?')} ELSE attempts END,
           lease_token = NULL, lease_expires_at = NULL
         WHERE id = ? AND lease_token = ? RETURNING *`,
      );
      return expired.map((row) => {
        const [status, error] = reapedState(row);
        const finished = status === 'queued' ? null : now;
        const text = JSON.stringify(error);
        return update.get(status, text, finished, now, status, now, now, text, row.id, row.lease_token) as JobRow;
      });
    });
    const jobs = this.#jobs(rows);
    this.#publishStatuses(jobs);
    return jobs;
  }

  async cleanup(retention: CleanupRetention): Promise<number> {
    const now = (retention.now ?? new Date()).getTime();
    const ids = this.#write(() => {
      const tasks = Object.entries(retention.tasks ?? {});
      const special = JSON.stringify(tasks.map(([name]) => name));
      const finder = this.#prepare(
        `SELECT id FROM underway_jobs WHERE status = ? AND finished_at < ? AND (? IS NULL OR task = ?)
           AND (? IS NOT NULL OR task NOT IN (SELECT value FROM json_each(?)))`,
      );
      const found: string[] = [];
      const collect = (task: string | null, succeededDays: number, failedDays: number) => {
        for (const [status, days] of [
          ['succeeded', succeededDays],
          ['failed', failedDays],
          ['cancelled', failedDays],
        ] as const) {
          const rows = finder.all(status, now - days * DAY_MS, task, task, task, special) as { id: string }[];
          for (const row of rows) found.push(row.id);
        }
      };
      collect(null, retention.succeededDays, retention.failedDays);
      for (const [task, own] of tasks) {
        collect(task, own.succeededDays ?? retention.succeededDays, own.failedDays ?? retention.failedDays);
      }
      if (found.length > 0) this.#deleteJobs(found);
      return found;
    });
    await this.#files.remove(ids);
    return ids.length;
  }

  async nextRunAt(tasks: readonly string[]): Promise<IsoDate | null> {
    const row = this.#read(
      () =>
        this.#prepare(
          `SELECT run_at AS at FROM underway_jobs INDEXED BY underway_jobs_due
             WHERE status = 'queued'
               AND task IN (SELECT value FROM json_each(?) EXCEPT SELECT name FROM underway_paused WHERE kind = 'task')
               AND queue NOT IN (SELECT name FROM underway_paused WHERE kind = 'queue')
             ORDER BY run_at LIMIT 1`,
        ).get(JSON.stringify(tasks)) as { at: number } | undefined,
    );
    return row ? new Date(row.at).toISOString() : null;
  }

  /** This process's listeners at once; other processes through the events table, which this one tails while anyone listens. */
  readonly events: EventChannel = {
    send: (event) => this.#bus.publish(event),
    listen: (listener) => {
      const off = this.#hub.add(listener);
      this.#bus.startTail();
      return () => {
        off();
        if (this.#hub.size === 0) this.#bus.stopTail();
      };
    },
  };

  // Webhook deliveries (store/sqlite/webhooks.ts): each call a write transaction; tries recorded together share one.

  async recordWebhookDeliveries(request: RecordWebhookDeliveriesRequest): Promise<number> {
    return this.#write(() => webhooks.recordDeliveries(this.#prepareFn, request));
  }

  async claimWebhookDeliveries(request: ClaimWebhookDeliveriesRequest): Promise<ClaimedWebhookDelivery[]> {
    return this.#write(() => webhooks.claimDeliveries(this.#prepareFn, request, (ids) => this.#jobsById(ids)));
  }

  #jobsById(ids: string[]): Map<string, Job> {
    const rows = ids.map((id) => this.#row(id)).filter((row): row is JobRow => row !== undefined);
    return new Map(this.#jobs(rows).map((job) => [job.id, job]));
  }

  async settleWebhookDelivery(claim: ClaimedWebhookDelivery, result: WebhookAttemptResult): Promise<boolean> {
    return this.#settlements.add({ claim, result });
  }

  /** Tries recorded in the same turn share one write transaction (a commit each was most of the sender's cost). */
  readonly #settlements = new Batcher<webhooks.Settlement, boolean>(async (batch) =>
    this.#write(() => webhooks.settleDeliveries(this.#prepareFn, batch)),
  );

  async listWebhookDeliveries(filter: WebhookDeliveryFilter = {}): Promise<StoredWebhookDelivery[]> {
    return this.#read(() => webhooks.listDeliveries(this.#prepareFn, filter));
  }

  async pruneWebhookDeliveries(before: IsoDate): Promise<number> {
    return this.#write(() => webhooks.pruneDeliveries(this.#prepareFn, Date.parse(before)));
  }

  readonly #prepareFn = (sql: string): Database.Statement => this.#prepare(sql);

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#finishes.settled();
    await this.#settlements.settled();
    this.#bus.close();
    this.#db.close();
  }
}

interface ScheduleRow {
  name: string;
  task: string;
  cron: string | null;
  every_seconds: number | null;
  timezone: string | null;
  params: string;
  owner: string | null;
  priority: number;
  catch_up_seconds: number;
  next_at: number;
  last_tick_at: number | null;
  source: 'config' | 'runtime';
  created_by: string | null;
  created_at: number;
  updated_at: number;
}

function toSchedule(row: ScheduleRow): Schedule {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    name: row.name,
    task: row.task,
    cron: row.cron,
    everySeconds: row.every_seconds,
    timezone: row.timezone,
    params: JSON.parse(row.params),
    owner: row.owner,
    priority: row.priority,
    catchUpSeconds: row.catch_up_seconds,
    nextAt: iso(row.next_at),
    lastTickAt: row.last_tick_at === null ? null : iso(row.last_tick_at),
    source: row.source,
    createdBy: row.created_by,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

interface QueueUsageRow {
  due: number;
  running: number;
  running_with_key: number;
  started_in_window: number;
  started_with_key_in_window: number;
  oldest_due_at: number | null;
}

interface PauseRow {
  kind: Pause['kind'];
  name: string;
  paused_by: string | null;
  reason: string | null;
  paused_at: number;
}

function toPause(row: PauseRow): Pause {
  return {
    kind: row.kind,
    name: row.name,
    by: row.paused_by,
    reason: row.reason,
    at: new Date(row.paused_at).toISOString(),
  };
}

/** What an expired lease leads to: cancelled if asked, queued while attempts remain, else failed STALLED. */
function reapedState(row: JobRow): ['queued' | 'failed' | 'cancelled', JobError] {
  if (row.cancel_requested === 1) return ['cancelled', cancelledError(CANCELLED.workerGone)];
  const attemptsLeft = row.attempt < row.max_attempts;
  return [attemptsLeft ? 'queued' : 'failed', { code: 'STALLED', message: stalledMessage(row.attempt, attemptsLeft) }];
}
