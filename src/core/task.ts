import type { Readable } from 'node:stream';
import type { z } from 'zod';
import type { Backoff } from './backoff.ts';
import type { ChildJob, ChildOutcome, SpawnOptions } from './children.ts';
import { type ArtifactInfo, type Job, MAX_PRIORITY, MIN_PRIORITY } from './job.ts';

/** What an artifact can be written from. `{ path }` copies (moves, when it can) a finished file. */
export type ArtifactSource = string | Uint8Array | Readable | AsyncIterable<Uint8Array> | { path: string };

/** What task code gets besides its params: progress, cancellation, logs, result files. */
export interface TaskContext {
  /** Which job this is. `owner` is who started it (null when started without a user): a task that acts on other jobs' data checks it. */
  readonly job: {
    readonly id: string;
    readonly task: string;
    readonly attempt: number;
    readonly maxAttempts: number;
    readonly owner: string | null;
  };
  /** Aborts when the job is cancelled, times out, stalls or the worker shuts down. */
  readonly signal: AbortSignal;
  /**
   * Reports progress: `current` of `total` (omit or null `total` for an indeterminate bar), with an
   * optional caption. Cheap: call it as often as you like, updates are coalesced.
   */
  progress(current: number, total?: number | null, message?: string): void;
  /** Changes the caption and keeps the numbers. */
  message(text: string): void;
  /** Writes a line to the job's log (stored, streamed live). Arguments are formatted like console.log. */
  log(...args: unknown[]): void;
  /** Throws the abort reason if the job was cancelled (or timed out); call it between steps. */
  throwIfCancelled(): void;
  /** Stores a file the job produced, downloadable as `/api/jobs/:id/artifacts/:name`. */
  artifact(name: string, source: ArtifactSource, options?: { contentType?: string | undefined }): Promise<ArtifactInfo>;
  /**
   * Runs a program (no shell) and waits for it: what it prints goes to the job's log line by line,
   * and comes back in the result. A non-zero exit is not an error: check `code`. When the job is
   * cancelled, the program's whole process tree is ended and the promise rejects with the reason.
   *
   * @example
   * const { code, stderr } = await ctx.exec('tar', ['-czf', out, dir]);
   * if (code !== 0) throw new Error(`tar failed: ${stderr.trim()}`);
   */
  exec(command: string, args?: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /**
   * Runs `fn` once per job rather than once per attempt: its result is recorded durably when it
   * returns, and a later attempt of the job (after a crash, a timeout, an error) gets the recorded
   * result back without running `fn` again. The job's progress is recorded with it, so a later
   * attempt's bar starts there, not at 0. See docs/steps.md.
   *
   * - The name (1 to 200 characters) is the step's identity within the job: in a loop, number it.
   *   The same name twice in one attempt is a TypeError.
   * - The result goes through JSON, on the attempt that ran `fn` too: a Date comes back as its ISO
   *   string, `undefined` as null, a class instance as a plain object. At most 256 KiB of JSON
   *   (a RangeError past it); save larger data as an artifact and return its name.
   * - Recorded only when `fn` returns: a crash between `fn`'s effect and the record runs the step
   *   again in the next attempt. Make effects idempotent (or commit them with the job's end: `transaction`).
   * - A cancelled attempt starts no more steps: `ctx.step` throws the abort reason first.
   *
   * @example
   * const files = await ctx.step('list', () => listFiles(dir)); // the same list on every attempt
   * for (const [i, file] of files.entries()) {
   *   ctx.progress(i, files.length, `Uploading ${file}`);
   *   await ctx.step(`upload-${i}`, () => upload(file)); // done files are not uploaded again
   * }
   */
  step<T>(name: string, fn: () => T | Promise<T>): Promise<T>;
  /**
   * Runs `fn` in a transaction on the job's PostgreSQL database and, in that same transaction,
   * ends the job succeeded with what `fn` returns: the task's own writes and its job's success
   * commit together, or neither does. Fenced by the job's lease: if this worker has lost the job
   * (it stalled past its lease and the job went to another worker), everything `fn` wrote is
   * rolled back and the attempt stops without recording anything. So a worker killed at any moment
   * never leaves the writes done and the job to be run again.
   *
   * - A throw in `fn` rolls back and fails the attempt like any throw (retried while attempts remain).
   * - Once it resolves, the job has succeeded: return its value from `run` (the pattern below).
   *   What `run` does after that is ignored; a second call throws.
   * - Log lines and progress reported before the commit are stored before it.
   * - Needs the PostgreSQL store, and the task's tables in the store's database; on SQLite it
   *   throws a PermanentJobError (code TRANSACTION_UNSUPPORTED). `fn` must not COMMIT or ROLLBACK.
   *
   * The client is a `pg` PoolClient: type the parameter as one to use more than `query`.
   *
   * @example
   * async run({ orderId }, ctx) {
   *   const pdf = await renderInvoice(orderId); // the slow part, outside the transaction
   *   return ctx.transaction(async (client) => {
   *     await client.query('INSERT INTO invoices (order_id, pdf) VALUES ($1, $2)', [orderId, pdf]);
   *     return { orderId };
   *   });
   * }
   */
  transaction<T, Client extends TaskTransactionClient = TaskTransactionClient>(
    fn: (client: Client) => Promise<T>,
  ): Promise<T>;
  /**
   * Starts a child job: an ordinary job of `task`, owned by this job's owner, whose results
   * `ctx.wait` gives back (docs/children.md). Idempotent: its identity within this job is its name
   * (`options.name`, else `child-<n>` for this attempt's n-th spawn), so a run of this job that
   * spawns again (a later attempt, or the run after a wait) gets the same child back, never a
   * second one. Its params are checked against its task's schema, as a start's are.
   *
   * @example
   * const children = await Promise.all(files.map((file) => ctx.spawn(thumbnail, { file })));
   * const sizes = await ctx.wait(children); // [123, 456, …], in the order given
   */
  spawn<Input, Result>(
    task: SpawnableTask<Input, Result> | string,
    params: NoInfer<Input>,
    options?: SpawnOptions,
  ): Promise<ChildJob<Result>>;
  /**
   * The children's results, in the order given, once they have all succeeded. While one is
   * unfinished, the job gives its worker slot back: this run stops here (the wait throws
   * `WaitingForChildren`: let it through), and the job runs again, from the start, once every
   * child has ended (or one failed); then its spawns return the same children and the wait returns at once. Code
   * before the wait runs again: put it in `ctx.step`s to run it once. A child that failed or was
   * cancelled makes the wait throw a `ChildJobError` (the job fails unless it catches it); with
   * `{ settle: true }` it gives each child's outcome instead, failures included.
   */
  wait<const C extends readonly ChildJob[]>(children: C): Promise<ChildResults<C>>;
  wait<const C extends readonly ChildJob[]>(children: C, options: { settle: true }): Promise<ChildOutcomes<C>>;
}

/**
 * A task as `ctx.spawn` takes it, as much as types its child's params and result. Written out
 * rather than as `Task`: a TaskContext must fit the TaskContext of another copy of underway (a task
 * module built against the package, run by a worker of the sources), and a generic method typed
 * through `Task`'s conditional types (TaskParamsInput) would not, as `Task` holds a TaskContext.
 */
export interface SpawnableTask<Input, Result> {
  readonly kind: 'underway.task';
  readonly name: string;
  readonly params: { readonly _zod: { readonly input: Input } };
  run(params: never, ctx: never): Result | PromiseLike<Result>;
}

/** What `ctx.wait(children)` resolves to: each child's result, in order. */
export type ChildResults<C extends readonly ChildJob[]> = {
  -readonly [K in keyof C]: C[K] extends ChildJob<infer R> ? R : never;
};

/** What `ctx.wait(children, { settle: true })` resolves to: each child's outcome, in order. */
export type ChildOutcomes<C extends readonly ChildJob[]> = {
  -readonly [K in keyof C]: C[K] extends ChildJob<infer R> ? ChildOutcome<R> : never;
};

/** The database client `ctx.transaction` gives a task, as far as underway types it (a `pg` PoolClient fits). */
export interface TaskTransactionClient {
  query<Row extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
  ): Promise<{ rows: Row[]; rowCount: number | null }>;
}

/** Options of `ctx.exec`; `undefined` means the default. */
export interface ExecOptions {
  cwd?: string | undefined;
  /** The program's environment. Default: the task's own (in the sandbox, its clean environment). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Written to the program's stdin, which is then closed. Default: stdin is empty. */
  input?: string | Uint8Array | undefined;
  /** Characters of each stream kept in the result (the log gets everything). Default 1 MiB. */
  maxOutput?: number | undefined;
  /** False: do not copy the program's output to the job's log. Default true. */
  log?: boolean | undefined;
}

/** How a program run by `ctx.exec` ended. */
export interface ExecResult {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Where a task's code runs. By default each job runs in a pooled child process (see
 * docs/sandbox.md); `false` runs it in the worker's own process, for tests and trivial tasks.
 */
export type SandboxOptions =
  | false
  | {
      /** V8 heap limit of the child, in MB (`--max-old-space-size`); past it the job fails CRASHED. */
      heapMb?: number | undefined;
      /**
       * Memory limit of the job, in MB: what its child's resident memory grows by while it runs, plus
       * the processes it starts. Buffers and native memory count (they are outside `heapMb`). Past
       * it the job fails MEMORY_LIMIT, not retried, and the child is replaced. Default: the runner's.
       */
      rssMb?: number | undefined;
      /** Names of environment variables this task needs, copied from the worker's environment. */
      env?: readonly string[] | undefined;
    };

/** How long finished jobs are kept; a field left out (or `undefined`) keeps the default. */
export interface Retention {
  /** Days a succeeded job is kept. */
  succeededDays?: number | undefined;
  /** Days a failed or cancelled job is kept (longer: someone may want to know why). */
  failedDays?: number | undefined;
}

/** What `defineTask` takes. An optional setting left out or `undefined` takes its default. */
export interface TaskOptions<Schema extends z.ZodType, Result> {
  /** Unique, stable name, e.g. `backup.create`. Jobs refer to it, so renaming orphans them. */
  name: string;
  /** Shown in the dashboard and `GET /api/tasks`. */
  description?: string | undefined;
  /** The params, as a zod schema: validated on enqueue, published as JSON Schema. */
  params: Schema;
  /** Does the work. Return = success; throw = retry while attempts remain. */
  run(params: z.output<Schema>, ctx: TaskContext): Promise<Result> | Result;
  /** Whole-attempt time limit. Default: none. */
  timeoutSeconds?: number | undefined;
  /** Fail the attempt (STALLED) when it reports no progress for this long. Default: none. */
  stallSeconds?: number | undefined;
  /** Attempts in all, including the first. Default 3. */
  maxAttempts?: number | undefined;
  /**
   * The queue its jobs wait in; default the task's name. Limits are set per queue, in the
   * config's `queues` (e.g. at most 2 running at once across every worker): tasks sharing a
   * queue share its limit.
   */
  queue?: string | undefined;
  /**
   * The key a job counts under for its queue's `concurrencyPerKey` limit, from its params (a
   * customer, a user); a start's own `concurrencyKey` wins. Null or undefined: no key.
   */
  concurrencyKey?: ((params: z.output<Schema>) => string | null | undefined) | undefined;
  /**
   * Its jobs' priority unless a start says otherwise: a whole number from -1000 to 1000; due jobs
   * of higher priority are claimed first, then the earliest. Default 0.
   */
  priority?: number | undefined;
  backoff?: Backoff | undefined;
  retention?: Retention | undefined;
  /**
   * Start this task's jobs on a schedule: a cron expression (with a time zone) or an interval,
   * fired exactly once per tick by whichever worker gets there first (docs/scheduling.md).
   *
   * @example
   * schedule: { cron: '0 3 * * *', timezone: 'Europe/Paris', params: { dir: '/srv' } }
   */
  schedule?: TaskSchedule | readonly TaskSchedule[] | undefined;
  /** Sandbox settings for this task's jobs, or `false` to run them in-process. Default: sandboxed. */
  sandbox?: SandboxOptions | undefined;
  /**
   * Who is told when its jobs end. `email: true` e-mails each job's owner, when the HTTP options
   * configure `email` (docs/http.md#e-mail). Default: nobody (webhooks, when configured, hear every task).
   */
  notify?: TaskNotify | undefined;
}

/** Who is told when a task's jobs end (see `TaskOptions.notify`). */
export interface TaskNotify {
  /** E-mail the job's owner when it succeeds, fails or is cancelled (the endings `email.events` names). */
  email?: boolean | undefined;
}

/** A recurring start of a task's jobs (see `TaskOptions.schedule` and the config's `schedules`). */
export interface TaskSchedule {
  /** Unique among schedules; default the task's name (give one to each of several schedules of a task). */
  name?: string | undefined;
  /** A cron expression, 5 fields (minute first) or 6 (seconds first). Give this or `everySeconds`. */
  cron?: string | undefined;
  /** An interval in whole seconds; ticks fall on multiples of it since 1970-01-01 UTC. */
  everySeconds?: number | undefined;
  /** The IANA time zone the cron expression is read in (daylight saving included). Default UTC. */
  timezone?: string | undefined;
  /** The params of every job it starts, checked against the task's schema when it is saved. */
  params?: unknown;
  /** Who its jobs belong to. Default: nobody (admins see them). */
  owner?: string | null | undefined;
  /** Its jobs' priority. Default the task's. */
  priority?: number | undefined;
  /**
   * Ticks missed by more than this many seconds, while no worker ran, are skipped; ticks that are
   * late by less still run, each once. Default 60. A large value catches up everything missed.
   */
  catchUpSeconds?: number | undefined;
}

/** A task as the worker and the HTTP layer see it, params and result types erased. */
export interface Task<Schema extends z.ZodType = z.ZodType, Result = unknown> extends TaskOptions<Schema, Result> {
  readonly kind: 'underway.task';
}

// biome-ignore lint/suspicious/noExplicitAny: the erased form must accept every task's params type.
export type AnyTask = Task<z.ZodType, any>;

/** The params a caller passes when starting a job of this task (before defaults apply). */
export type TaskParamsInput<T> = T extends Task<infer S, unknown> ? z.input<S> : never;
/**
 * The params of this task's jobs as stored: the schema's output (defaults applied). Secret fields
 * are stored sealed, as `"[redacted:v1:…]"` strings, which this type does not show (see `Job.params`).
 */
export type TaskParams<T> = T extends Task<infer S, unknown> ? z.output<S> : never;
/** What the task's `run` resolves to; `unknown` for a task whose type was erased (`AnyTask`). */
export type TaskResult<T> = T extends Task<z.ZodType, infer R> ? (0 extends 1 & R ? unknown : Awaited<R>) : never;
/**
 * A job of this task, with its params and result typed: what `queue.start(task, …)` returns.
 * A job read by id is a plain `Job`; a caller that knows its task may narrow it to this.
 *
 * @example
 * const job = (await queue.get(id)) as TaskJob<typeof report> | null;
 * if (job?.status === 'succeeded') console.log(job.result?.days);
 */
export type TaskJob<T> = Job<TaskParams<T>, TaskResult<T>>;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/**
 * Defines a task once, typed from its schema.
 *
 * @example
 * export const backup = defineTask({
 *   name: 'backup.create',
 *   params: z.object({ dir: z.string() }),
 *   async run({ dir }, ctx) {
 *     const files = await list(dir);
 *     for (const [i, file] of files.entries()) {
 *       ctx.throwIfCancelled();
 *       ctx.progress(i, files.length, `Adding ${file}`);
 *       await add(file);
 *     }
 *     return { files: files.length };
 *   },
 * });
 */
export function defineTask<Schema extends z.ZodType, Result>(
  options: TaskOptions<Schema, Result>,
): Task<Schema, Result> {
  if (!NAME.test(options.name)) {
    throw new TypeError(
      `Task name "${options.name}" is not valid: use letters, digits and . _ : - (at most 128 characters).`,
    );
  }
  if (options.maxAttempts !== undefined && (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1)) {
    throw new TypeError(`Task ${options.name}: maxAttempts must be a whole number >= 1.`);
  }
  const heapMb = options.sandbox ? options.sandbox.heapMb : undefined;
  if (heapMb !== undefined && (!Number.isInteger(heapMb) || heapMb < 16)) {
    throw new TypeError(`Task ${options.name}: sandbox.heapMb must be a whole number >= 16.`);
  }
  const rssMb = options.sandbox ? options.sandbox.rssMb : undefined;
  if (rssMb !== undefined && (!Number.isInteger(rssMb) || rssMb < 1)) {
    throw new TypeError(`Task ${options.name}: sandbox.rssMb must be a whole number >= 1.`);
  }
  if (options.priority !== undefined && !isPriority(options.priority)) {
    throw new TypeError(
      `Task ${options.name}: priority must be a whole number from ${MIN_PRIORITY} to ${MAX_PRIORITY}.`,
    );
  }
  for (const key of ['timeoutSeconds', 'stallSeconds'] as const) {
    const value = options[key];
    if (value !== undefined && !(value > 0)) throw new TypeError(`Task ${options.name}: ${key} must be > 0.`);
  }
  return Object.freeze({ ...options, kind: 'underway.task' as const });
}

export function isTask(value: unknown): value is AnyTask {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'underway.task';
}

export const DEFAULT_MAX_ATTEMPTS = 3;

export function isPriority(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= MIN_PRIORITY && (value as number) <= MAX_PRIORITY;
}
