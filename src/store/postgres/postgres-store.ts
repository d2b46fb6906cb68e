import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import pg from 'pg';
import type { ChildSummary } from '../../core/children.ts';
import { toError } from '../../core/errors.ts';
import { newJobId } from '../../core/ids.ts';
import type { ArtifactInfo, IsoDate, Job, JobProgress, Lease, Outcome, ProgressSample } from '../../core/job.ts';
import { CANCELLED, cancelledError, NO_ATTEMPTS_LEFT, STALLED_TEMPLATE } from '../../core/job-texts.ts';
import { Batcher } from '../batcher.ts';
import { decodeCursor, encodeCursor } from '../cursor.ts';
import type { EventChannel } from '../event-channel.ts';
import { EventHub } from '../event-hub.ts';
import { Fit, type KeyCount } from '../queue-limits.ts';
import { likeEscaped } from '../search.ts';
import { statusEvent } from '../status-event.ts';
import {
  type CancelResult,
  type ChildInput,
  type ClaimedJob,
  type ClaimRequest,
  type CleanupRetention,
  type CompletedInTransaction,
  type CompleteInTransactionOptions,
  DEFAULT_LIST_LIMIT,
  type EnqueueInput,
  type EnqueueOptions,
  type FireScheduleRequest,
  type HeartbeatResult,
  type JobEvent,
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
  type TransactionClient,
  type TransactionTarget,
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
import * as artifacts from './artifacts.ts';
import * as children from './children.ts';
import { describeTarget, storeError } from './errors.ts';
import { NotifyPublisher, parsePayload, type WireItem } from './events.ts';
import { Listener, type ListenerState } from './listener.ts';
import * as logs from './logs.ts';
import { migrateSchema } from './migrate.ts';
import * as overview from './overview.ts';
import { type JobQueries, jobQueries } from './queries.ts';
import { type JobRow, jsonParam, toJob } from './rows.ts';
import * as samples from './samples.ts';
import * as steps from './steps.ts';
import { type Tables, tablesFor } from './tables.ts';
import { completeInTransaction, taskTransactionTarget } from './task-transaction.ts';
import { pgTypes } from './timestamps.ts';
import * as webhooks from './webhooks.ts';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/database`; without it, pg reads the PG* environment variables. */
  connectionString?: string | undefined;
  /** The schema holding underway's tables, created when absent. Default `underway`. */
  schema?: string | undefined;
  /** Connections in this process's pool (the listener has one more of its own). Default 10. */
  poolSize?: number | undefined;
  /** Bring the schema up to date before the first query. Default true. */
  migrate?: boolean | undefined;
  /** Told when the listening connection is lost and when it listens again (for logs and metrics). */
  onListenerState?: ((state: ListenerState, error?: Error) => void) | undefined;
  /** First reconnect delay of the listener, doubling up to 5 s. Default 100 ms. */
  reconnectDelayMs?: number | undefined;
}

/** Anything that runs a query: a `pg.Client`, a `pg.PoolClient` (the Store's `TransactionClient`). */
export type PgQueryable = TransactionClient;

export interface PostgresEnqueueOptions extends EnqueueOptions {
  /**
   * The app's own client, inside its open transaction: the job exists, and its `status` event is
   * heard (NOTIFY is sent at commit), only if that transaction commits.
   */
  client?: PgQueryable;
}

/** The PostgreSQL store: the Store, plus a way to wait until other processes' events are heard. */
export interface PostgresStore extends Store {
  enqueue(input: EnqueueInput, options?: PostgresEnqueueOptions): Promise<{ job: Job; created: boolean }>;
  enqueueMany(
    inputs: readonly EnqueueInput[],
    options?: PostgresEnqueueOptions,
  ): Promise<{ job: Job; created: boolean }[]>;
  /** Starts listening (subscribe does too) and resolves once other processes' events are heard. */
  listening(): Promise<void>;
}

/**
 * Statements that find many jobs by id, planned at each call rather than prepared. A prepared
 * statement's generic plan is made once per connection, from the table's size then: prepared
 * while the table held a few hundred jobs, finishes kept scanning the whole table after it grew
 * to 20,000 (a hash join, a sequential scan), ~4x slower, until an autoanalyze happened to
 * invalidate the plan (docs/performance.md). Planning costs ~0.1-0.3 ms a statement. The claim
 * is prepared since migration 17: its due jobs come from a function that says it returns one
 * row, so every plan looks each up by its primary key.
 */
const PLANNED_EACH_TIME = new Set(['finish', 'heartbeat']);

/** Finished jobs deleted per cleanup statement: short transactions even with a big backlog. */
const CLEANUP_BATCH = 5_000;

/**
 * The distributed store: many server and worker processes on many machines share one
 * PostgreSQL. Claims use `FOR UPDATE SKIP LOCKED` in one statement; every status change
 * NOTIFYs in its own transaction (a trigger), and events reach every process through LISTEN.
 *
 * @example
 * const store = postgresStore({ connectionString: process.env.DATABASE_URL });
 */
export function postgresStore(options: PostgresStoreOptions = {}): PostgresStore {
  return new PgStore(options);
}

class PgStore implements PostgresStore {
  readonly kind = 'postgres';
  readonly joinsTransactions = true;
  readonly #options: PostgresStoreOptions;
  readonly #t: Tables;
  readonly #sql: JobQueries;
  readonly #children: children.ChildQueries;
  /** Prepared-statement names of the job statements, by their text. */
  readonly #names: Map<string, string>;
  #prepare = true;
  readonly #pool: pg.Pool;
  readonly #where: string;
  /** Tags this store's NOTIFYs: it delivered those events in-process already and skips them when they come back. */
  readonly #origin = randomBytes(9).toString('base64url');
  readonly #hub = new EventHub();
  readonly #publisher: NotifyPublisher;
  /** How this store's own NOTIFY payloads begin (the publisher's) and end (the trigger's jsonb text). */
  readonly #ownHead = `{"o":${JSON.stringify(this.#origin)},`;
  readonly #ownTail = `"o": ${JSON.stringify(this.#origin)}}`;
  /**
   * Two finish statements at a time: each waits ~1-2 ms for its commit's WAL flush, and with one
   * the next batch waited through it (docs/performance.md). Their rows are disjoint, and the
   * other statements that lock several jobs skip locked rows (claim, heartbeat, reap), so they cannot deadlock.
   */
  readonly #finishes = new Batcher<{ lease: Lease; outcome: Outcome }, Job | null>(
    (batch) => this.#finishBatch(batch),
    { inFlight: 2 },
  );
  /**
   * Jobs this store is sending back to the queue (a retry's finish, a release), until their
   * `queued` is announced. Another worker slot may claim such a job the moment the statement
   * commits, and its reply can be read first (another connection): its `running` then waits for
   * the `queued`, so listeners hear a job's states in the order they happened.
   */
  readonly #requeueing = new Map<string, Promise<unknown>>();
  #listener: Listener | null = null;
  #ready: Promise<void> | null;
  /** Events from other processes, delivered in order even when one needs a read first. */
  #inbox: Promise<void> = Promise.resolve();
  #closed = false;
  /**
   * Connections for tasks' own transactions (ctx.transaction), opened on first use: a pool apart,
   * so tasks holding transactions open cannot take the connections the heartbeat, the log writes
   * and the flush before their own commit need (with one pool, as many open transactions as
   * connections would wait for ever).
   */
  #taskPool: pg.Pool | null = null;

  constructor(options: PostgresStoreOptions) {
    this.#options = options;
    this.#t = tablesFor(options.schema ?? 'underway');
    this.#sql = jobQueries(this.#t);
    this.#children = children.childQueries(this.#t);
    this.#names = new Map(
      Object.entries(this.#sql)
        .filter(([key]) => !PLANNED_EACH_TIME.has(key))
        .map(([key, text]) => [text, `underway_${key}`]),
    );
    this.#where = describeTarget(options.connectionString);
    this.#pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      application_name: 'underway',
      options: `-c underway.origin=${this.#origin}`,
      types: pgTypes,
    });
    // An idle connection that dies (server restart, pg_terminate_backend) is dropped by the pool and
    // replaced on the next query; without a listener here the 'error' would crash the process.
    this.#pool.on('error', (error) =>
      process.emitWarning(`underway: a pooled PostgreSQL connection failed: ${error.message}`),
    );
    this.#ready = options.migrate === false ? Promise.resolve() : null;
    this.#publisher = new NotifyPublisher(this.#origin, async (payloads) => {
      // Without waiting for the WAL flush: the transaction changes no data, so losing its commit in
      // a crash loses nothing, and PostgreSQL holds its global NOTIFY lock through that flush
      // (~1.2 ms here, several ms when others commit too): progress reached an SSE client slower.
      await this.#pool.query(
        `SELECT pg_notify($1, p) FROM (SELECT set_config('synchronous_commit', 'off', true)) AS s, unnest($2::text[]) AS p`,
        [this.#t.channel, payloads],
      );
    });
  }

  /** Migrates once before the first query; a failure is retried by the next call. */
  #whenReady(): Promise<void> {
    this.#ready ??= this.migrate().catch((error: unknown) => {
      this.#ready = null;
      throw error;
    });
    return this.#ready;
  }

  async #query<R>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.#run(sql, params)).rows as R[];
  }

  /**
   * Runs a statement; the job statements as server-side prepared statements, planned once per
   * connection: planning the enqueue statement each time made it take ~2-5x as long here
   * (docs/performance.md). If a newer process migrated the schema under this one so that a
   * prepared statement's result no longer matches ("cached plan must not change result type"),
   * this store stops preparing from then on and the call is made again, unprepared.
   */
  async #run(sql: string, params: unknown[]): Promise<pg.QueryResult> {
    await this.#whenReady();
    const name = this.#prepare ? this.#names.get(sql) : undefined;
    try {
      return await this.#pool.query(name ? { name, text: sql, values: params } : { text: sql, values: params });
    } catch (error) {
      if (name && (error as { code?: string }).code === '0A000') {
        this.#prepare = false;
        return this.#run(sql, params);
      }
      throw storeError(error, this.#where);
    }
  }

  /** A query on the app's own client (inside its transaction) when given, else on this store's pool. */
  async #queryOn<R>(client: PgQueryable | undefined, sql: string, values: unknown[]): Promise<R[]> {
    if (!client) return this.#query<R>(sql, values);
    try {
      return (await client.query(sql, values)).rows as R[];
    } catch (error) {
      throw storeError(error, this.#where);
    }
  }

  /** Jobs from rows, each status change delivered in-process (other processes hear the trigger's NOTIFY). */
  #announce(rows: JobRow[]): Job[] {
    const jobs = rows.map(toJob);
    this.#hub.together(() => {
      for (const job of jobs) this.#hub.deliver(statusEvent(job));
    });
    return jobs;
  }

  async migrate(): Promise<void> {
    try {
      await migrateSchema(this.#pool, this.#t);
    } catch (error) {
      throw storeError(error, this.#where);
    }
  }

  async enqueue(input: EnqueueInput, options: PostgresEnqueueOptions = {}): Promise<{ job: Job; created: boolean }> {
    await this.#whenReady();
    const params = [
      input.id ?? newJobId(),
      input.task,
      jsonParam(input.params ?? {}),
      input.maxAttempts,
      input.owner ?? null,
      input.dedupeKey ?? null,
      input.timeoutSeconds ?? null,
      input.retryOf ?? null,
      input.runAt ?? null,
      input.priority ?? 0,
      input.queue ?? null,
      input.concurrencyKey ?? null,
    ];
    // Without a dedupe key, a plain insert: ~10 % faster than the conflict-aware statement.
    const plain = !input.dedupeKey;
    const sql = plain ? this.#sql.enqueueNew : this.#sql.enqueue;
    const values = plain ? [...params.slice(0, 5), ...params.slice(6)] : params;
    const run = async (): Promise<(JobRow & { created: boolean }) | undefined> => {
      const [row] = await this.#queryOn<JobRow & { created: boolean }>(options.client, sql, values);
      return plain && row ? { ...row, created: true } : row;
    };
    // Empty only when the job holding the dedupe key finished in between: then the key is free.
    for (let attempt = 1; attempt <= 5; attempt++) {
      const row = await run();
      if (!row) continue;
      const job = toJob(row);
      // In the caller's transaction nothing is announced from here, in this process or to others:
      // the transaction may still roll back. The insert trigger's NOTIFY, sent on the caller's
      // connection, is delivered by PostgreSQL at commit only, and never after a rollback. That
      // connection has no `underway.origin`, so this store's own listener does not skip it as its
      // own: subscribers in this process hear of the job as other processes do, after the commit,
      // through its LISTEN connection (which any subscribe opens). Delivering here at once instead
      // would have a local worker claim a job that may never exist, or that it cannot see yet.
      if (row.created && !options.client) this.#hub.deliver(statusEvent(job));
      return { job, created: row.created };
    }
    throw storeError(new Error('The dedupe key kept changing hands; try again.'), this.#where);
  }

  async enqueueMany(
    inputs: readonly EnqueueInput[],
    options: PostgresEnqueueOptions = {},
  ): Promise<{ job: Job; created: boolean }[]> {
    if (inputs.length === 0) return [];
    await this.#whenReady();
    const ids = inputs.map((input) => input.id ?? newJobId());
    const column = <T>(pick: (input: EnqueueInput) => T) => inputs.map(pick);
    const params = [
      ids,
      column((i) => i.task),
      column((i) => jsonParam(i.params ?? {})),
      column((i) => i.maxAttempts),
      column((i) => i.owner ?? null),
      column((i) => i.dedupeKey ?? null),
      column((i) => i.timeoutSeconds ?? null),
      column((i) => i.retryOf ?? null),
      column((i) => i.runAt ?? null),
      column((i) => i.priority ?? 0),
      column((i) => i.queue ?? null),
      column((i) => i.concurrencyKey ?? null),
    ];
    const run = <R>(sql: string, values: unknown[]) => this.#queryOn<R>(options.client, sql, values);
    const inserted = new Map((await run<JobRow>(this.#sql.enqueueMany, params)).map((row) => [row.id, row]));
    const skippedKeys = inputs.flatMap((input, n) =>
      inserted.has(ids[n] as string) ? [] : [input.dedupeKey as string],
    );
    const holders = new Map(
      skippedKeys.length === 0
        ? []
        : (await run<JobRow>(this.#sql.dedupeHolders, [skippedKeys])).map((row) => [row.dedupe_key, row]),
    );
    const results: { job: Job; created: boolean }[] = [];
    for (const [n, input] of inputs.entries()) {
      const row = inserted.get(ids[n] as string);
      if (row) {
        const job = toJob(row);
        // In the caller's transaction the commit's NOTIFY announces it, here too (see enqueue).
        if (!options.client) this.#hub.deliver(statusEvent(job));
        results.push({ job, created: true });
        continue;
      }
      const holder = holders.get(input.dedupeKey ?? null);
      // The holder finished between the insert and the read: the key is free now.
      results.push(holder ? { job: toJob(holder), created: false } : await this.enqueue(input, options));
    }
    return results;
  }

  async claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    if (request.limit <= 0 || request.tasks.length === 0) return [];
    const rows = await this.#query<JobRow>(this.#sql.claim, [
      request.workerId,
      request.tasks,
      request.limit,
      request.leaseMs,
    ]);
    await this.#requeuesAnnounced(rows);
    return this.#claimed(rows);
  }

  /** Waits for the `queued` of any claimed job this store has just sent back to the queue (#requeueing). */
  async #requeuesAnnounced(rows: JobRow[]): Promise<void> {
    if (this.#requeueing.size === 0) return;
    for (const row of rows) await this.#requeueing.get(row.id)?.catch(() => {});
  }

  /** Tracks a statement that may send `jobId` back to the queue, until it has been announced. */
  #requeue<T>(jobId: string, statement: Promise<T>): Promise<T> {
    this.#requeueing.set(jobId, statement);
    const done = () => {
      if (this.#requeueing.get(jobId) === statement) this.#requeueing.delete(jobId);
    };
    statement.then(done, done);
    return statement;
  }

  /** Claimed rows as jobs with their leases, in claim order, announced here and to other processes. */
  #claimed(rows: JobRow[]): ClaimedJob[] {
    // RETURNING has no order: in the claim's own (highest priority, then oldest runAt, then added first).
    rows.sort(
      (a, b) =>
        b.priority - a.priority || a.run_at.getTime() - b.run_at.getTime() || Number(BigInt(a.seq) - BigInt(b.seq)),
    );
    const jobs = this.#announce(rows);
    // Other processes hear of the claim through the batched publisher, not the trigger (migration 2).
    for (const job of jobs) if (!this.#closed) this.#publisher.add(statusEvent(job));
    return rows.map((row, index) => {
      const hasSteps = (row as { has_steps?: unknown }).has_steps;
      return {
        job: jobs[index] as Job,
        lease: { jobId: row.id, token: row.lease_token as string },
        ...(typeof hasSteps === 'boolean' && { stepsRecorded: hasSteps }),
      };
    });
  }

  async claimLimited(request: LimitedClaimRequest): Promise<ClaimedJob[]> {
    if (request.limit <= 0 || request.tasks.length === 0 || request.limits.length === 0) return [];
    await this.#whenReady();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw storeError(error, this.#where);
    }
    let rows: JobRow[] = [];
    try {
      // Not waiting for the WAL flush, as the plain claim (a lost claim leaves its jobs queued).
      await client.query('BEGIN');
      await client.query('SET LOCAL synchronous_commit = off');
      const queues = request.limits.map((limit) => limit.queue);
      await client.query(this.#sql.lockQueues, [queues]);
      const running = (await client.query(this.#sql.runningByKey, [queues])).rows as {
        queue: string;
        key: string | null;
        n: number;
      }[];
      const picked: string[] = [];
      for (const limit of request.limits) {
        if (picked.length >= request.limit) break;
        const started = limit.rate
          ? (
              (await client.query(this.#sql.startedInWindow, [limit.queue, limit.rate.perSeconds])).rows[0] as {
                n: number;
              }
            ).n
          : 0;
        const startedByKey: KeyCount[] = limit.ratePerKey
          ? (await client.query(this.#sql.startedByKey, [limit.queue, limit.ratePerKey.perSeconds])).rows
          : [];
        const fit = new Fit(
          limit,
          running.filter((row) => row.queue === limit.queue),
          started,
          startedByKey,
        );
        if (fit.full) continue;
        // Read (and lock) only what can fit: without per-key limits, the places left.
        const scan = fit.scanFor(request.limit - picked.length);
        const candidates = (await client.query(this.#sql.limitedCandidates, [limit.queue, request.tasks, scan]))
          .rows as { id: string; key: string | null }[];
        for (const candidate of candidates) {
          if (picked.length >= request.limit || fit.full) break;
          if (fit.take(candidate.key)) picked.push(candidate.id);
        }
      }
      if (picked.length > 0) {
        rows = (await client.query(this.#sql.claimIds, [request.workerId, picked, request.leaseMs])).rows as JobRow[];
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw storeError(error, this.#where);
    } finally {
      client.release();
    }
    await this.#requeuesAnnounced(rows);
    return this.#claimed(rows);
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number): Promise<HeartbeatResult[]> {
    if (leases.length === 0) return [];
    const rows = await this.#query<{ id: string; held: boolean; cancel_requested: boolean }>(this.#sql.heartbeat, [
      leases.map((l) => l.jobId),
      leases.map((l) => l.token),
      leaseMs,
    ]);
    return rows.map((row) => ({ jobId: row.id, held: row.held, cancelRequested: row.cancel_requested }));
  }

  async saveProgress(lease: Lease, progress: JobProgress, sample = false): Promise<boolean> {
    const result = sample
      ? await this.#run(this.#sql.saveProgressSample, [
          lease.jobId,
          lease.token,
          jsonParam(progress),
          Date.parse(progress.updatedAt),
        ])
      : await this.#run(this.#sql.saveProgress, [lease.jobId, lease.token, jsonParam(progress)]);
    return result.rowCount === 1;
  }

  async progressSamples(jobId: string): Promise<ProgressSample[]> {
    return samples.progressSamples(this.#overviewQuery, this.#t, jobId);
  }

  async finish(lease: Lease, outcome: Outcome): Promise<Job | null> {
    await this.#whenReady();
    // Log lines published just before must reach other processes before the job's end: send them
    // first (a round trip only when some are pending). Progress and the claim's `running` need not
    // wait: listeners (through the Jobs layer) drop what arrives after the end (LateEvents). Waiting for every pending event
    // made each finish wait for the NOTIFY of its whole claim (docs/performance.md).
    // A retry is not an end (the job is queued again): there everything pending goes first.
    if (outcome.status !== 'retry') {
      await this.#publisher.logsSent(lease.jobId);
      return this.#finishes.add({ lease, outcome });
    }
    await this.#publisher.flush();
    return this.#requeue(lease.jobId, this.#finishes.add({ lease, outcome }));
  }

  async #finishBatch(batch: { lease: Lease; outcome: Outcome }[]): Promise<(Job | null)[]> {
    const rows = await this.#query<JobRow & { fenced_by: string }>(this.#sql.finish, [
      batch.map((b) => b.lease.jobId),
      batch.map((b) => b.lease.token),
      batch.map((b) => b.outcome.status),
      batch.map((b) => (b.outcome.status === 'succeeded' ? jsonParam(b.outcome.result) : null)),
      batch.map((b) => ('error' in b.outcome ? jsonParam(b.outcome.error) : null)),
      batch.map((b) => (b.outcome.status === 'retry' ? b.outcome.runAt : null)),
    ]);
    const jobs = this.#announce(rows);
    const byLease = new Map(rows.map((row, index) => [`${row.id} ${row.fenced_by}`, jobs[index] as Job]));
    return batch.map(({ lease }) => byLease.get(`${lease.jobId} ${lease.token}`) ?? null);
  }

  async release(lease: Lease): Promise<Job | null> {
    await this.#publisher.flush();
    const error = cancelledError(CANCELLED.atShutdown);
    const statement = this.#query<JobRow>(this.#sql.release, [lease.jobId, lease.token, jsonParam(error)]);
    return this.#requeue(
      lease.jobId,
      statement.then((rows) => this.#announce(rows)[0] ?? null),
    );
  }

  async requestCancel(id: string): Promise<CancelResult | null> {
    const error = cancelledError(CANCELLED.beforeStart);
    const rows = await this.#query<JobRow>(this.#sql.cancel, [id, jsonParam(error)]);
    if (rows.length > 0) return { job: this.#announce(rows)[0] as Job, changed: true };
    // Finished, already asked, or unknown: unchanged.
    const job = await this.get(id);
    return job && { job, changed: false };
  }

  async get(id: string): Promise<Job | null> {
    const [row] = await this.#query<JobRow>(this.#sql.get, [id]);
    return row ? toJob(row) : null;
  }

  async list(filter: JobFilter = {}): Promise<JobPage> {
    const limit = Math.min(Math.max(1, Math.floor(filter.limit ?? DEFAULT_LIST_LIMIT)), MAX_LIST_LIMIT);
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      args.push(value);
      where.push(clause.replace('?', `$${args.length}`));
    };
    if (filter.status !== undefined) {
      add('j.status = ANY(?::text[])', typeof filter.status === 'string' ? [filter.status] : [...filter.status]);
    }
    if (filter.task !== undefined) add('j.task = ?', filter.task);
    if (filter.owner !== undefined) add('j.owner = ?', filter.owner);
    if (filter.parent !== undefined) add('j.parent_id = ?', filter.parent);
    if (filter.search) {
      // jsonb as text puts a space after each colon and comma: a search for a value still finds it.
      const text = likeEscaped(filter.search);
      args.push(`${text}%`, `%${text}%`);
      where.push(`(j.id LIKE $${args.length - 1} ESCAPE '\\' OR j.params::text ILIKE $${args.length} ESCAPE '\\')`);
    }
    if (filter.cursor) add('j.seq < ?', decodeCursor(filter.cursor).toString());
    args.push(limit + 1);
    const rows = await this.#query<JobRow>(
      `${this.#sql.selectJobs} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY j.seq DESC LIMIT $${args.length}`,
      args,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { jobs: page.map(toJob), nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
  }

  async pause(request: PauseRequest): Promise<Pause> {
    const values = [request.kind, request.name, request.by ?? null, request.reason ?? null];
    // Empty only when another pause of it was being written, not yet committed, or a resume ended
    // the one found in between: try again.
    for (let attempt = 1; attempt <= 5; attempt++) {
      const [row] = await this.#query<PauseRow>(this.#sql.pause, values);
      if (row) return toPause(row);
    }
    throw storeError(
      new Error(`Pausing ${request.name} kept racing with other pauses and resumes; try again.`),
      this.#where,
    );
  }

  async resume(target: PauseTarget): Promise<boolean> {
    return (await this.#query(this.#sql.resume, [target.kind, target.name])).length > 0;
  }

  async listPauses(): Promise<Pause[]> {
    return (await this.#query<PauseRow>(this.#sql.listPauses)).map(toPause);
  }

  async queueUsage(request: QueueUsageRequest): Promise<QueueUsage> {
    const [row] = await this.#query<QueueUsageRow>(this.#sql.queueUsage, [
      request.queue,
      request.key,
      request.rateSeconds,
      request.key === null ? null : request.keyRateSeconds,
    ]);
    const usage = row as QueueUsageRow;
    return {
      due: usage.due,
      running: usage.running,
      runningWithKey: usage.running_with_key,
      startedInWindow: usage.started_in_window,
      startedWithKeyInWindow: usage.started_with_key_in_window,
      oldestDueAt: usage.oldest_due_at ? usage.oldest_due_at.toISOString() : null,
    };
  }

  async saveSchedule(schedule: NewSchedule): Promise<Schedule> {
    const [row] = await this.#query<ScheduleRow>(this.#sql.saveSchedule, [
      schedule.name,
      schedule.task,
      schedule.cron,
      schedule.everySeconds,
      schedule.timezone,
      jsonParam(schedule.params ?? {}),
      schedule.owner,
      schedule.priority,
      schedule.catchUpSeconds,
      schedule.nextAt,
      schedule.source,
      schedule.createdBy,
    ]);
    return toSchedule(row as ScheduleRow);
  }

  async listSchedules(): Promise<Schedule[]> {
    return (await this.#query<ScheduleRow>(this.#sql.listSchedules)).map(toSchedule);
  }

  async removeSchedule(name: string): Promise<boolean> {
    return (await this.#query(this.#sql.removeSchedule, [name])).length > 0;
  }

  async fireSchedule(request: FireScheduleRequest): Promise<Job[] | null> {
    await this.#whenReady();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw storeError(error, this.#where);
    }
    let created: { job: Job; created: boolean }[] | null = null;
    try {
      await client.query('BEGIN');
      const moved = await client.query(this.#sql.moveSchedule, [
        request.name,
        request.nextAt,
        request.lastTickAt,
        request.expectedNextAt,
      ]);
      if (moved.rowCount === 1) created = await this.enqueueMany(request.jobs, { client });
      await client.query(created ? 'COMMIT' : 'ROLLBACK');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw storeError(error, this.#where);
    } finally {
      client.release();
    }
    if (!created) return null;
    // Heard here after the commit, as other processes hear the trigger's NOTIFY (this pool's own is skipped).
    for (const { job, created: isNew } of created) if (isNew) this.#hub.deliver(statusEvent(job));
    return created.map(({ job }) => job);
  }

  // The Overview's figures and the workers registry (overview.ts).

  readonly #overviewQuery = <R>(sql: string, values: unknown[]): Promise<R[]> => this.#query<R>(sql, values);

  async stats(request: StatsRequest): Promise<JobStats> {
    return overview.stats(this.#overviewQuery, this.#t, request);
  }

  async touchWorker(worker: WorkerInfo): Promise<void> {
    await overview.touchWorker(this.#overviewQuery, this.#t, worker);
  }

  async removeWorker(id: string): Promise<boolean> {
    return overview.removeWorker(this.#overviewQuery, this.#t, id);
  }

  async pruneWorkers(before: IsoDate): Promise<number> {
    return overview.pruneWorkers(this.#overviewQuery, this.#t, before);
  }

  async workers(): Promise<WorkerRecord[]> {
    return overview.workers(this.#overviewQuery, this.#t);
  }

  async sampleQueues(minute: IsoDate): Promise<boolean> {
    return samples.sampleQueues(this.#overviewQuery, this.#t, minute);
  }

  async queueSamples(since: IsoDate, until: IsoDate): Promise<QueueSample[]> {
    return samples.queueSamples(this.#overviewQuery, this.#t, since, until);
  }

  async counts(): Promise<StatusCount[]> {
    return this.#query<StatusCount>(this.#sql.counts);
  }

  async remove(id: string): Promise<'removed' | 'not-found' | 'unfinished'> {
    const [row] = await this.#query<{ status: string }>(this.#sql.remove, [id]);
    if (!row) return 'not-found';
    return row.status === 'queued' || row.status === 'running' ? 'unfinished' : 'removed';
  }

  async appendLogs(job: string | Lease, lines: readonly NewLogLine[], maxLines?: number): Promise<LogLine[] | null> {
    await this.#whenReady();
    const [jobId, token] = typeof job === 'string' ? [job, null] : [job.jobId, job.token];
    return this.#wrap(() => logs.appendLogs(this.#pool, this.#t, jobId, token, lines, maxLines));
  }

  async readLogs(jobId: string, options: { after?: number; limit?: number } = {}): Promise<LogLine[]> {
    await this.#whenReady();
    return this.#wrap(() => logs.readLogs(this.#pool, this.#t, jobId, options));
  }

  async saveArtifact(job: string | Lease, artifact: NewArtifact): Promise<ArtifactInfo | null> {
    await this.#whenReady();
    const [jobId, token] = typeof job === 'string' ? [job, null] : [job.jobId, job.token];
    return this.#wrap(() => artifacts.saveArtifact(this.#pool, this.#t, jobId, token, artifact));
  }

  async openArtifact(jobId: string, name: string): Promise<{ info: ArtifactInfo; body: Readable } | null> {
    await this.#whenReady();
    return this.#wrap(() => artifacts.openArtifact(this.#pool, this.#t, jobId, name));
  }

  async #wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw storeError(error, this.#where);
    }
  }

  // Resumable steps (steps.ts).

  async recordStep(lease: Lease, step: NewStep): Promise<boolean> {
    await this.#whenReady();
    return this.#wrap(() => steps.recordStep(this.#pool, this.#t, lease, step));
  }

  async listSteps(jobId: string): Promise<RecordedStep[]> {
    await this.#whenReady();
    return this.#stepLists.add(jobId);
  }

  /**
   * Every attempt reads its job's steps once as it starts, and a claim starts several together:
   * one query for them all, not a round trip per job on the path of every job, steps or not.
   */
  readonly #stepLists = new Batcher<string, RecordedStep[]>((jobIds) =>
    this.#wrap(() => steps.listSteps(this.#pool, this.#t, jobIds)),
  );

  // Completing a job in the task's own transaction (task-transaction.ts).

  async completeInTransaction<T>(
    lease: Lease,
    fn: (client: TransactionClient) => Promise<T>,
    options: CompleteInTransactionOptions = {},
  ): Promise<CompletedInTransaction<T> | null> {
    await this.#whenReady();
    this.#taskPool ??= this.#newTaskPool();
    const done = await completeInTransaction(this.#taskPool, this.#sql, this.#where, lease, fn, {
      beforeCommit: async (value) => {
        const result = options.beforeCommit ? await options.beforeCommit(value) : value;
        // As in finish: the job's last log lines reach other processes before its end.
        await this.#publisher.logsSent(lease.jobId);
        return result;
      },
    });
    // Tagged with this store's origin, the commit's NOTIFY is skipped here: told in-process now.
    if (done) this.#hub.deliver(statusEvent(done.job));
    return done;
  }

  /** Read once: every attempt's execution carries it, whether its task uses it or not. */
  transactionTarget(): TransactionTarget {
    this.#target ??= taskTransactionTarget(this.#options.connectionString, this.#t.schema);
    return this.#target;
  }
  #target: TransactionTarget | null = null;

  #newTaskPool(): pg.Pool {
    const pool = new pg.Pool({
      connectionString: this.#options.connectionString,
      max: this.#options.poolSize ?? 10,
      application_name: 'underway task transaction',
      options: `-c underway.origin=${this.#origin}`,
    });
    pool.on('error', (error) =>
      process.emitWarning(`underway: a task transaction's PostgreSQL connection failed: ${error.message}`),
    );
    return pool;
  }

  // Child jobs (children.ts).

  async spawnChild(parent: Lease, input: ChildInput): Promise<{ job: Job; created: boolean } | null> {
    await this.#whenReady();
    const row = await this.#wrap(() => children.spawnChild(this.#pool, this.#children, parent, input));
    if (!row) return null;
    const job = toJob(row);
    // Its insert's NOTIFY is this pool's own, skipped here: told in-process now, as enqueue does.
    if (row.created) this.#hub.deliver(statusEvent(job));
    return { job, created: row.created };
  }

  async waitForChildren(lease: Lease, failuresSeen: number): Promise<Job | null> {
    await this.#whenReady();
    // As a retry: the job is queued again, so everything this process still holds for it goes first.
    await this.#publisher.flush();
    const error = cancelledError(CANCELLED.onRequest);
    const row = await this.#wrap(() =>
      children.waitForChildren(this.#pool, this.#children, lease, failuresSeen, error),
    );
    return row ? (this.#announce([row])[0] as Job) : null;
  }

  async childSummary(parentId: string): Promise<ChildSummary> {
    await this.#whenReady();
    return this.#wrap(() => children.childSummary(this.#pool, this.#children, parentId));
  }

  async saveWaitingProgress(parentId: string, progress: JobProgress): Promise<boolean> {
    await this.#whenReady();
    return this.#wrap(() => children.saveWaitingProgress(this.#pool, this.#children, parentId, progress));
  }

  // Webhook deliveries (webhooks.ts).

  async recordWebhookDeliveries(request: RecordWebhookDeliveriesRequest): Promise<number> {
    await this.#whenReady();
    return this.#wrap(() => webhooks.recordDeliveries(this.#pool, this.#t, request));
  }

  async claimWebhookDeliveries(request: ClaimWebhookDeliveriesRequest): Promise<ClaimedWebhookDelivery[]> {
    await this.#whenReady();
    return this.#wrap(() => webhooks.claimDeliveries(this.#pool, this.#t, request));
  }

  async settleWebhookDelivery(claim: ClaimedWebhookDelivery, result: WebhookAttemptResult): Promise<boolean> {
    await this.#whenReady();
    return this.#settlements.add({ claim, result });
  }

  /** Tries recorded in the same turn share one statement (a round trip each was most of the sender's cost). */
  readonly #settlements = new Batcher<webhooks.Settlement, boolean>((batch) =>
    this.#wrap(() => webhooks.settleDeliveries(this.#pool, this.#t, batch)),
  );

  async listWebhookDeliveries(filter: WebhookDeliveryFilter = {}): Promise<StoredWebhookDelivery[]> {
    await this.#whenReady();
    return this.#wrap(() => webhooks.listDeliveries(this.#pool, this.#t, filter));
  }

  async pruneWebhookDeliveries(before: IsoDate): Promise<number> {
    await this.#whenReady();
    return this.#wrap(() => webhooks.pruneDeliveries(this.#pool, this.#t, before));
  }

  async reapExpiredLeases(): Promise<Job[]> {
    return this.#announce(
      await this.#query<JobRow>(this.#sql.reap, [CANCELLED.workerGone, STALLED_TEMPLATE, NO_ATTEMPTS_LEFT]),
    );
  }

  async cleanup(retention: CleanupRetention): Promise<number> {
    const tasks = Object.entries(retention.tasks ?? {});
    const params = [
      tasks.map(([name]) => name),
      tasks.map(([, own]) => own.succeededDays ?? null),
      tasks.map(([, own]) => own.failedDays ?? null),
      retention.now?.toISOString() ?? null,
      retention.succeededDays,
      CLEANUP_BATCH,
      retention.failedDays,
    ];
    let total = 0;
    for (;;) {
      const [row] = await this.#query<{ n: number }>(this.#sql.cleanup, params);
      total += row?.n ?? 0;
      if ((row?.n ?? 0) < CLEANUP_BATCH) break;
    }
    await this.#query(this.#sql.cleanupUploads);
    return total;
  }

  async nextRunAt(tasks: readonly string[]): Promise<IsoDate | null> {
    const [row] = await this.#query<{ at: Date | null }>(this.#sql.nextRunAt, [tasks]);
    return row?.at ? row.at.toISOString() : null;
  }

  /**
   * This process's listeners at once; other processes through NOTIFY (batched by the publisher),
   * heard on one LISTEN connection opened by the first listener.
   */
  readonly events: EventChannel = {
    send: (event) => {
      this.#hub.deliver(event);
      if (!this.#closed) this.#publisher.add(event);
    },
    listen: (listener) => {
      const off = this.#hub.add(listener);
      this.#listen();
      return off;
    },
  };

  async listening(): Promise<void> {
    try {
      await this.#listen().ready();
    } catch (error) {
      throw storeError(error, this.#where);
    }
  }

  /** The listening connection, opened on first need and kept until close (it costs one idle connection). */
  #listen(): Listener {
    this.#listener ??= new Listener({
      config: {
        connectionString: this.#options.connectionString,
        application_name: `underway listener ${this.#t.schema}`,
      },
      channel: this.#t.channelIdentifier,
      onPayload: (text) => this.#receive(text),
      onCatchUp: (snapshot) => this.#catchUp(snapshot),
      onState: this.#options.onListenerState,
      minDelayMs: this.#options.reconnectDelayMs,
    });
    return this.#listener;
  }

  #receive(text: string): void {
    if (this.#isOwn(text)) return;
    const payload = parsePayload(text);
    if (!payload || payload.o === this.#origin || this.#closed) return;
    this.#inbox = this.#inbox.then(async () => {
      for (const item of payload.e as WireItem[]) {
        if (item.type !== 'ref') {
          this.#deliverRemote(item);
          continue;
        }
        // Too big to notify (a large result): read it, as it is now.
        const job = await this.get(item.jobId).catch(() => null);
        if (job) this.#deliverRemote(statusEvent(job));
      }
    }, warnInbox);
  }

  /**
   * This store's own NOTIFYs, told without parsing them: a worker hears one per job it finishes,
   * and parsing each only to skip it was ~2 % of a draining worker's CPU. The publisher writes the
   * origin first; the trigger's jsonb text has it last (jsonb orders keys by length, then bytes).
   */
  #isOwn(text: string): boolean {
    return text.startsWith(this.#ownHead) || text.endsWith(this.#ownTail);
  }

  /** Another process's event, in the order heard; the Jobs layer drops what arrives after a job's end (LateEvents). */
  #deliverRemote(event: JobEvent): void {
    this.#hub.deliver(event);
  }

  /** After a reconnect: the status of every job changed while the listener was away, as synthetic events. */
  async #catchUp(snapshot: string): Promise<void> {
    const rows = await this.#query<JobRow>(this.#sql.changedSince, [snapshot]);
    this.#inbox = this.#inbox.then(() => {
      for (const row of rows) this.#deliverRemote(statusEvent(toJob(row)));
    }, warnInbox);
    await this.#inbox;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#finishes.settled();
    await this.#settlements.settled();
    await this.#publisher.flush();
    await this.#listener?.close();
    await this.#inbox.catch(() => {});
    // Waits for task transactions still open to give their connections back.
    await this.#taskPool?.end().catch(() => {});
    await this.#pool.end().catch((error: unknown) => {
      process.emitWarning(`underway: closing the PostgreSQL pool failed: ${toError(error).message}`);
    });
  }
}

interface ScheduleRow {
  name: string;
  task: string;
  cron: string | null;
  every_seconds: number | null;
  timezone: string | null;
  params: unknown;
  owner: string | null;
  priority: number;
  catch_up_seconds: number;
  next_at: Date;
  last_tick_at: Date | null;
  source: 'config' | 'runtime';
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

function toSchedule(row: ScheduleRow): Schedule {
  return {
    name: row.name,
    task: row.task,
    cron: row.cron,
    everySeconds: row.every_seconds,
    timezone: row.timezone,
    params: row.params,
    owner: row.owner,
    priority: row.priority,
    catchUpSeconds: row.catch_up_seconds,
    nextAt: row.next_at.toISOString(),
    lastTickAt: row.last_tick_at ? row.last_tick_at.toISOString() : null,
    source: row.source,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

interface QueueUsageRow {
  due: number;
  running: number;
  running_with_key: number;
  started_in_window: number;
  started_with_key_in_window: number;
  oldest_due_at: Date | null;
}

interface PauseRow {
  kind: Pause['kind'];
  name: string;
  paused_by: string | null;
  reason: string | null;
  paused_at: Date;
}

function toPause(row: PauseRow): Pause {
  return { kind: row.kind, name: row.name, by: row.paused_by, reason: row.reason, at: row.paused_at.toISOString() };
}

function warnInbox(error: unknown): void {
  process.emitWarning(`underway: delivering another process's event failed: ${toError(error).message}`);
}
