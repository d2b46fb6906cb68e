import { isWaitingForChildren } from '../core/children.ts';
import { ConflictError, NotFoundError, TooLargeError, toError, ValidationError } from '../core/errors.ts';
import { newJobId } from '../core/ids.ts';
import { type Job, MAX_PRIORITY, MIN_PRIORITY, toIso } from '../core/job.ts';
import { TaskRegistry } from '../core/registry.ts';
import { refuseEnvelopes, resealSecrets, SecretError, type SecretKeySource, sealSecrets } from '../core/secrets.ts';
import {
  type AnyTask,
  DEFAULT_MAX_ATTEMPTS,
  isPriority,
  isTask,
  type Task,
  type TaskJob,
  type TaskParamsInput,
} from '../core/task.ts';
import { Jobs } from '../jobs/jobs.ts';
import { secretKey } from '../secret-key.ts';
import type {
  EnqueueInput,
  JobFilter,
  JobPage,
  Pause,
  PauseTarget,
  QueueLimit,
  QueueUsage,
  Store,
  TransactionClient,
} from '../store/store.ts';
import { type QueueLimits, queueLimitList } from './limits.ts';
import { childrenWaiting, type JobWaiting, needsUsage, usageRequestFor, waitingOf } from './waiting.ts';

/** What `pause` and `resume` act on: a task (or its name), or a whole queue. */
export type PauseSubject = AnyTask | string | { queue: string };

/** A queue as an operator sees it: its tasks, limits, pause and how full it is now. */
export interface QueueView {
  name: string;
  /** The tasks whose jobs wait in it. */
  tasks: string[];
  /** Its limits, or null when nothing limits it. */
  limit: QueueLimit | null;
  paused: Pause | null;
  usage: QueueUsage;
}

/** How to start a job. Every option may be `undefined`, meaning the default: handy with values that may be absent. */
export interface StartOptions {
  /** Who started it; decides who may see it. */
  owner?: string | null | undefined;
  /** While a queued or running job holds this key, starting another returns that job instead. */
  dedupeKey?: string | null | undefined;
  /** Start no earlier than this many seconds from now. */
  delaySeconds?: number | undefined;
  /** Start no earlier than this moment. */
  runAt?: Date | string | undefined;
  /** Attempts in all; default the task's (3). */
  maxAttempts?: number | undefined;
  /** Time limit for each attempt; default the task's. */
  timeoutSeconds?: number | undefined;
  /**
   * Claimed before due jobs of lower priority: a whole number from -1000 to 1000; default the
   * task's, else 0. Among equal priorities, the earliest `runAt` first.
   */
  priority?: number | undefined;
  /**
   * The key this job counts under for its queue's `concurrencyPerKey` limit (a customer, a
   * user); default what the task's `concurrencyKey` makes of the params, else none.
   */
  concurrencyKey?: string | undefined;
  /**
   * The app's own PostgreSQL client (a `pg` `Client` or `PoolClient`) between its BEGIN and
   * COMMIT: the job is added in that transaction, so it exists, and workers hear of it, only if
   * the transaction commits (docs/postgres.md#transactional-start). A TypeError on a store that
   * cannot join the app's transaction (SQLite), and for a `pg.Pool` (not one transaction).
   */
  client?: TransactionClient | undefined;
}

/**
 * What starting a job answers. `T` is the task started: the job's params and result are typed
 * from it (see `TaskJob`); for a task given by name they are `unknown`.
 */
export interface Started<T = AnyTask> {
  job: TaskJob<T>;
  /** False when a job with the same dedupe key was already queued or running (and is returned). */
  created: boolean;
}

/**
 * The app-facing side of underway: start, look at and steer jobs. The HTTP API, the CLI and
 * a host app's own route handlers all go through it, so validation and sealing live in one place;
 * it changes jobs through the Jobs layer (`jobs`), which holds the rules for cancel and remove.
 */
export interface Queue {
  readonly store: Store;
  /** The layer every caller changes jobs through (jobs/jobs.ts): `jobs.onEnded(listener)` hears of every end. */
  readonly jobs: Jobs;
  readonly tasks: TaskRegistry;
  /**
   * Validates the params against the task's schema and enqueues a job; never waits for the job.
   * Given the task itself, the job is typed from it (`TaskJob<typeof task>`: its params as stored,
   * its result, null until it succeeds); given a task name, it is a plain `Job`.
   *
   * With `client`, the job is added inside the app's own transaction; everything else is checked
   * first, so a ValidationError leaves that transaction untouched.
   *
   * @example
   * const { job } = await queue.start(backup, { dir: '/srv/site' }, { owner: user.id });
   * return Response.redirect(`/jobs/${job.id}`, 303);
   *
   * @example
   * await client.query('BEGIN');
   * const { rows } = await client.query('INSERT INTO orders (total) VALUES ($1) RETURNING id', [total]);
   * await queue.start(invoice, { order: rows[0].id }, { client }); // gone if the transaction rolls back
   * await client.query('COMMIT');
   */
  start<T extends AnyTask>(
    task: T | string,
    params: NoInfer<TaskParamsInput<T>>,
    options?: StartOptions,
  ): Promise<Started<T>>;
  /**
   * Everything `start` checks, without adding the job: the params validated and their secrets
   * sealed, the options checked (a ValidationError or TypeError now, as `start` would throw).
   * `add()` then adds the job, once; `input` is what it would add (for a store call that adds it
   * with other writes, as a schedule's tick does). For a caller that decides something between the two (the
   * HTTP API takes a rate-limit token only for a start that can succeed) without validating twice.
   *
   * @example
   * const start = queue.prepare(report, params, { owner: user.id }); // throws on a typo
   * limiter.take(user.id);
   * const { job } = await start.add();
   */
  prepare<T extends AnyTask>(
    task: T | string,
    params: NoInfer<TaskParamsInput<T>>,
    options?: StartOptions,
  ): { readonly input: EnqueueInput; add(): Promise<Started<T>> };
  /**
   * Starts many jobs of one task with one store call (one statement on PostgreSQL): all are
   * validated first, and one bad item rejects the batch, naming it; then all are added or none.
   * With `options.client`, all are added inside the app's own transaction (as `start` does).
   *
   * @example
   * await queue.startMany(thumbnail, photos.map((photo) => ({ params: { photo: photo.id }, owner: user.id })));
   */
  startMany<T extends AnyTask>(
    task: T | string,
    items: readonly (Omit<StartOptions, 'client'> & { params: NoInfer<TaskParamsInput<T>> })[],
    options?: Pick<StartOptions, 'client'>,
  ): Promise<Started<T>[]>;
  get(id: string): Promise<Job | null>;
  list(filter?: JobFilter): Promise<JobPage>;
  /** Asks a queued or running job to stop; a ConflictError when it already ended. */
  cancel(id: string): Promise<Job>;
  /**
   * Starts a failed or cancelled job again, as a new job with the same params, its secret params
   * sealed again for the new job; a ConflictError for any other job, or one whose secrets were
   * sealed in the unbound format of earlier versions (v1). Given the job already read (a route
   * that checked who may retry it), it is not read again.
   */
  retry(id: string | Job, options?: { owner?: string | null | undefined }): Promise<Job>;
  /** Forgets a finished job with its logs and artifacts; a ConflictError while it is unfinished. */
  remove(id: string): Promise<void>;
  /**
   * Pauses a task, or a whole queue (`{ queue: 'exports' }`: every task whose jobs wait in it), in
   * every process sharing the store: running jobs finish, queued and new jobs wait until `resume`
   * (starting them still works). Pausing what is paused keeps the first pause (who and when). An
   * unknown task or queue is a NotFoundError.
   *
   * @example
   * await queue.pause('export', { by: user.id, reason: 'warehouse maintenance until 14:00' });
   * await queue.pause({ queue: 'emails' }, { by: user.id });
   */
  pause(subject: PauseSubject, options?: { by?: string | null; reason?: string | null }): Promise<Pause>;
  /** Ends a task's or queue's pause (false when it was not paused): workers take its jobs again within their poll interval. */
  resume(subject: PauseSubject): Promise<boolean>;
  /** The pauses in force, oldest first. */
  pauses(): Promise<Pause[]>;
  /**
   * Why a queued job has not started: "waiting: queue full (2 of 2 running)", a pause, a rate
   * limit, a later `runAt`, or only a free worker; null for a job that is not queued. Read now,
   * from the store: the next claim may already have taken it.
   */
  waiting(job: Job): Promise<JobWaiting | null>;
  /** As `waiting`, for many jobs (a page of a list), reading each queue's counts once. Keyed by job id; only queued jobs. */
  waitingOf(jobs: readonly Job[]): Promise<Map<string, JobWaiting>>;
  /** Every queue the tasks use or the limits name, with its limits, pause and counts now. */
  queues(): Promise<QueueView[]>;
}

export function createQueue(options: {
  store: Store;
  tasks: readonly AnyTask[] | TaskRegistry;
  /**
   * Seals the params a task's schema marks `secret(...)`, and opens them again for a retry.
   * Default: UNDERWAY_SECRET_KEY_FILE, UNDERWAY_SECRET_KEY or the data folder's key file (see secret-key.ts).
   */
  secretKey?: SecretKeySource | undefined;
  /**
   * The queues' limits, as the workers are given them (the config's `queues`): only read here, to
   * say why a job waits and how full a queue is. Workers enforce them.
   */
  queues?: Readonly<Record<string, QueueLimits>> | undefined;
}): Queue {
  const { store } = options;
  const jobs = Jobs.of(store);
  const tasks = options.tasks instanceof TaskRegistry ? options.tasks : new TaskRegistry(options.tasks);
  const limits = new Map(queueLimitList(options.queues ?? {}).map((limit) => [limit.queue, limit]));
  const limitOf = (queueName: string): QueueLimit | null => limits.get(queueName) ?? null;

  /** Every queue name in use: the tasks' (their `queue`, else their name) and the limited ones. */
  const queueNames = (): Map<string, string[]> => {
    const names = new Map<string, string[]>();
    for (const task of tasks.all()) {
      const name = task.queue ?? task.name;
      names.set(name, [...(names.get(name) ?? []), task.name]);
    }
    for (const name of limits.keys()) if (!names.has(name)) names.set(name, []);
    return names;
  };

  const pauseTargetOf = (subject: PauseSubject): PauseTarget => {
    // A task has a `queue` too: a plain `{ queue }` is what names a queue.
    if (typeof subject === 'object' && subject !== null && !isTask(subject)) {
      if (!queueNames().has(subject.queue)) {
        throw new NotFoundError(`There is no queue ${JSON.stringify(subject.queue)}: no task's jobs wait in it.`);
      }
      return { kind: 'queue', name: subject.queue };
    }
    return { kind: 'task', name: taskOf(subject as AnyTask | string).name };
  };

  /** The waiting reasons of the queued ones among `list`, each distinct (queue, key) counted once. */
  const waitingMany = async (list: readonly Job[]): Promise<Map<string, JobWaiting>> => {
    const queued = list.filter((job) => job.status === 'queued');
    const result = new Map<string, JobWaiting>();
    if (queued.length === 0) return result;
    const now = Date.now();
    const pauses = await jobs.pauses();
    const usages = new Map<string, Promise<QueueUsage>>();
    for (const job of queued) {
      const limit = limitOf(job.queue);
      let usage: QueueUsage | null = null;
      if (needsUsage(job, limit, now)) {
        const request = usageRequestFor(job, limit);
        const cacheKey = JSON.stringify([request.queue, request.key]);
        let pending = usages.get(cacheKey);
        if (!pending) {
          pending = jobs.queueUsage(request);
          usages.set(cacheKey, pending);
        }
        usage = await pending;
      }
      const waiting = isWaitingForChildren(job)
        ? childrenWaiting(await jobs.childSummary(job.id))
        : waitingOf(job, pauses, limit, usage, now);
      if (waiting) result.set(job.id, waiting);
    }
    return result;
  };

  const taskOf = (taskOrName: AnyTask | string): AnyTask =>
    tasks.require(typeof taskOrName === 'string' ? taskOrName : (taskOrName as Task).name);

  /**
   * What the store gets for one start: params validated and their secrets sealed, options checked.
   * The job's id is chosen here, so that its secrets are sealed for it (and its owner) alone.
   */
  const toInput = (task: AnyTask, params: unknown, startOptions: StartOptions): EnqueueInput => {
    // An envelope in input would be opened for this job: Bob could send one of Alice's, seen in a
    // log or a shared job. Checked in what was sent and in what the schema made of it (a trim, a
    // transform), which is what is stored.
    refuseEnvelopes(params);
    const parsed = tasks.parseParams(task, params);
    refuseEnvelopes(parsed);
    const id = newJobId();
    const owner = startOptions.owner ?? null;
    const sealed = sealSecrets(task.params, parsed, { jobId: id, owner }, () => secretKey(options.secretKey));
    checkStorable(sealed);
    return {
      id,
      task: task.name,
      params: sealed,
      owner,
      dedupeKey: startOptions.dedupeKey ?? null,
      runAt: runAtOf(startOptions),
      maxAttempts: positiveInt('maxAttempts', startOptions.maxAttempts) ?? task.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      timeoutSeconds: positive('timeoutSeconds', startOptions.timeoutSeconds) ?? null,
      priority: priorityOf(startOptions.priority) ?? task.priority ?? 0,
      queue: task.queue ?? task.name,
      concurrencyKey: keyOf(startOptions.concurrencyKey ?? task.concurrencyKey?.(parsed)),
    };
  };

  /** The old job's params with its secrets sealed for the new job: envelopes are never copied. */
  const reseal = (old: Job, next: { jobId: string; owner: string | null }): unknown => {
    try {
      return resealSecrets(old.params, { jobId: old.id, owner: old.owner }, next, () => secretKey(options.secretKey));
    } catch (error) {
      // Its values are gone for good (docs/sandbox.md, "Upgrading"): not a server fault, a 409.
      if (error instanceof SecretError && error.reason === 'legacy') {
        throw new ConflictError(`Job ${old.id} cannot be retried: ${error.message}`);
      }
      throw error;
    }
  };

  /**
   * The app's client for a start inside its transaction, checked before anything else: a mistake
   * here must not leave a job that outlives the app's rollback, nor a failed query in its transaction.
   */
  const clientOf = (client: TransactionClient | undefined): TransactionClient | undefined => {
    if (client === undefined) return undefined;
    if (typeof client !== 'object' || client === null || typeof client.query !== 'function') {
      throw new TypeError('options.client must be a pg Client or PoolClient inside an open transaction.');
    }
    // A pg.Pool has query() too, but runs each query on whichever connection is free, outside
    // the app's transaction: the job would outlive a rollback. pg documents these two counters.
    if ('totalCount' in client && 'idleCount' in client) {
      throw new TypeError(
        'options.client is a pg.Pool, whose queries run outside your transaction: pass the client from pool.connect() that ran BEGIN.',
      );
    }
    if (!store.joinsTransactions) {
      throw new TypeError(
        `The ${store.kind} store cannot add a job inside your own transaction (options.client is for the PostgreSQL store, docs/postgres.md#transactional-start): start the job after your commit instead.`,
      );
    }
    return client;
  };

  function prepare<T extends AnyTask>(taskOrName: T | string, params: unknown, startOptions: StartOptions = {}) {
    const client = clientOf(startOptions.client);
    const input = toInput(taskOf(taskOrName), params, startOptions);
    let added = false;
    return {
      input,
      async add() {
        if (added) throw new Error('This prepared start was added already.');
        added = true;
        // The job holds what the task's schema made of these params: typed as the task's (Started<T>).
        return (await jobs.enqueue(input, client ? { client } : undefined)) as Started<T>;
      },
    };
  }

  return {
    store,
    jobs,
    tasks,
    // Async: a start that fails its checks is a rejected promise, never a throw.
    start: async <T extends AnyTask>(taskOrName: T | string, params: unknown, startOptions: StartOptions = {}) =>
      prepare<T>(taskOrName, params, startOptions).add(),
    prepare,
    async startMany<T extends AnyTask>(
      taskOrName: T | string,
      items: readonly (Omit<StartOptions, 'client'> & { params: NoInfer<TaskParamsInput<T>> })[],
      manyOptions: Pick<StartOptions, 'client'> = {},
    ) {
      const client = clientOf(manyOptions.client);
      const task = taskOf(taskOrName);
      const inputs = items.map(({ params, ...startOptions }, index) => {
        // One transaction for the whole batch: a client per item would be ignored, and its job
        // would outlive that item's rollback.
        if ((startOptions as StartOptions).client !== undefined) {
          throw new TypeError(
            `Job ${index + 1} of ${items.length} has a client: give it once, as startMany's third argument.`,
          );
        }
        try {
          return toInput(task, params, startOptions);
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          throw new ValidationError(`Job ${index + 1} of ${items.length}: ${error.message}`, error.issues);
        }
      });
      return (await jobs.enqueueMany(inputs, client ? { client } : undefined)) as Started<T>[];
    },
    get: (id) => jobs.get(id),
    list: (filter) => jobs.list(filter),
    cancel: (id) => jobs.cancel(id),
    async retry(id, retryOptions = {}) {
      const old = typeof id === 'string' ? await jobs.require(id) : id;
      if (old.status !== 'failed' && old.status !== 'cancelled') {
        throw new ConflictError(`Only a failed or cancelled job can be retried; job ${old.id} is ${old.status}.`);
      }
      tasks.require(old.task);
      const next = { jobId: newJobId(), owner: retryOptions.owner === undefined ? old.owner : retryOptions.owner };
      const { job } = await jobs.enqueue({
        id: next.jobId,
        task: old.task,
        params: reseal(old, next),
        owner: next.owner,
        maxAttempts: old.maxAttempts,
        timeoutSeconds: old.timeoutSeconds,
        priority: old.priority,
        queue: taskOf(old.task).queue ?? old.task,
        concurrencyKey: old.concurrencyKey,
        retryOf: old.id,
      });
      return job;
    },
    remove: (id) => jobs.remove(id),
    async pause(subject, pauseOptions = {}) {
      const reason = pauseOptions.reason ?? null;
      if (reason !== null && (typeof reason !== 'string' || reason.length > MAX_PAUSE_REASON)) {
        throw new ValidationError(`A pause's reason is text of at most ${MAX_PAUSE_REASON} characters.`);
      }
      return jobs.pause({ ...pauseTargetOf(subject), by: pauseOptions.by ?? null, reason });
    },
    resume: async (subject) => jobs.resume(pauseTargetOf(subject)),
    pauses: () => jobs.pauses(),
    async waiting(job) {
      return (await waitingMany([job])).get(job.id) ?? null;
    },
    waitingOf: waitingMany,
    async queues() {
      const pauses = await jobs.pauses();
      return Promise.all(
        [...queueNames()].map(async ([name, taskNames]) => {
          const limit = limitOf(name);
          return {
            name,
            tasks: taskNames,
            limit,
            paused: pauses.find((pause) => pause.kind === 'queue' && pause.name === name) ?? null,
            usage: await jobs.queueUsage({
              queue: name,
              key: null,
              rateSeconds: limit?.rate?.perSeconds ?? null,
              keyRateSeconds: null,
            }),
          };
        }),
      );
    },
  };
}

function runAtOf(options: StartOptions): string | null {
  if (options.runAt !== undefined && options.delaySeconds !== undefined) {
    throw new ValidationError('Give either runAt or delaySeconds, not both.');
  }
  if (options.delaySeconds !== undefined) {
    const delay = positive('delaySeconds', options.delaySeconds, true) ?? 0;
    return toIso(Date.now() + delay * 1000);
  }
  if (options.runAt !== undefined) {
    const at = new Date(options.runAt);
    if (Number.isNaN(at.getTime())) throw new ValidationError(`runAt ${JSON.stringify(options.runAt)} is not a date.`);
    return toIso(at);
  }
  return null;
}

function positive(name: string, value: number | undefined, allowZero = false): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ValidationError(`${name} must be a number ${allowZero ? '>= 0' : '> 0'}.`);
  }
  return value;
}

/** Longest concurrency key. */
const MAX_KEY_LENGTH = 200;

function keyOf(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    throw new ValidationError(`A concurrency key is text of 1 to ${MAX_KEY_LENGTH} characters.`);
  }
  return value;
}

function priorityOf(value: number | undefined): number | undefined {
  if (value === undefined || isPriority(value)) return value;
  throw new ValidationError(`priority must be a whole number from ${MIN_PRIORITY} to ${MAX_PRIORITY}.`);
}

function positiveInt(name: string, value: number | undefined): number | undefined {
  const checked = positive(name, value);
  if (checked !== undefined && !Number.isInteger(checked)) throw new ValidationError(`${name} must be a whole number.`);
  return checked;
}

/** Longest reason a pause keeps. */
export const MAX_PAUSE_REASON = 500;

/** A job's params are stored whole and sent with every read of the job: at most this many bytes of JSON. */
export const MAX_PARAMS_BYTES = 256 * 1024;

/**
 * Refuses params that cannot be stored, before anything is: too large (a 150 MB form once made
 * every later list answer 500), too deep for JSON.stringify (5,000 levels overflowed the stack),
 * or holding a NUL character (PostgreSQL refuses it in jsonb).
 */
function checkStorable(params: unknown): void {
  let text: string;
  try {
    text = JSON.stringify(params) ?? 'null';
  } catch (error) {
    throw new ValidationError(`The params cannot be stored as JSON: ${toError(error).message}.`);
  }
  if (text.includes('\\u0000')) {
    throw new ValidationError('The params hold a NUL character (\\u0000), which cannot be stored.');
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_PARAMS_BYTES) {
    throw new TooLargeError(
      `The params are ${bytes} bytes of JSON; a job's params may be at most ${MAX_PARAMS_BYTES}.`,
    );
  }
}
