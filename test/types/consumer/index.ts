/**
 * A user's program, written the way README.md and docs/ show the API, compiled by
 * test/types.test.ts against the built package. Never run: it only has to type-check, with no
 * error, and each `@ts-expect-error` line proves a type is checked (an `any` would let it pass,
 * and then the unused directive is itself an error).
 */
import { createServer } from 'node:http';
import express from 'express';
import {
  type AnyTask,
  ChildJobError,
  createQueue,
  createWorker,
  defineTask,
  type Job,
  PermanentJobError,
  type Started,
  type StartOptions,
  secret,
  type TaskJob,
  type TaskParams,
  type TaskResult,
} from 'underway';
import { cancel, createClient, defineElements, start, watch } from 'underway/client';
import { defineConfig, openStore } from 'underway/config';
import { type FastifyInstanceLike, underwayFastify } from 'underway/fastify';
import { createUnderway, serveHttp } from 'underway/http';
import { isNextBuild, nextRouteHandlers } from 'underway/next';
import { postgresStore } from 'underway/postgres';
import { sqliteStore } from 'underway/sqlite';
import { createWorker as createWorkerFromWorker, sandboxRunner } from 'underway/worker';
import { z } from 'zod';

/** Compiles only when `A` and `B` are the same type (`any` is the same as nothing else). */
type Equals<A, B> = (<V>() => V extends A ? 1 : 2) extends <V>() => V extends B ? 1 : 2 ? true : false;
function expectType<A>(_value: A): { toBe<B>(..._proof: Equals<A, B> extends true ? [] : [never]): void } {
  return { toBe: () => {} };
}

declare function loadDays(month: string): Promise<{ date: string }[]>;
declare function summarise(day: { date: string }): Promise<void>;
declare function toCsv(days: readonly { date: string }[]): string;
declare function sessionUser(request: Request): { id: string; roles: string[] } | null;
declare const maybeOwner: string | undefined;
declare const maybeDelay: number | undefined;
declare const maybeDir: string | undefined;

// 3. Define a task (README).
export const report = defineTask({
  name: 'report.monthly',
  params: z.object({
    month: z.string().regex(/^\d{4}-\d{2}$/),
    format: z.enum(['csv', 'pdf']).default('csv'),
    apiKey: secret(z.string()).optional(),
  }),
  timeoutSeconds: 600,
  async run({ month, format }, ctx) {
    expectType(format).toBe<'csv' | 'pdf'>();
    const days = await loadDays(month);
    if (days.length === 0) throw new PermanentJobError(`No data for ${month}.`);
    for (const [i, day] of days.entries()) {
      ctx.throwIfCancelled();
      ctx.progress(i, days.length, `Summing ${day.date}`);
      await summarise(day);
    }
    await ctx.artifact('report.csv', toCsv(days));
    const { code, stderr } = await ctx.exec('true', [], { cwd: maybeDir, input: undefined });
    if (code !== 0) throw new Error(stderr);
    return { days: days.length, format };
  },
});

const ping = defineTask({
  name: 'ping',
  params: z.object({}),
  sandbox: false,
  timeoutSeconds: maybeDelay, // settings may come from values that may be absent
  run: () => 'pong' as const,
});

export default defineConfig({
  tasks: [report, ping],
  store: () => sqliteStore({ file: './data/underway.db' }),
  worker: { concurrency: 8, prefetch: maybeDelay },
  retention: { succeededDays: 7, failedDays: maybeDelay },
  http: { basePath: '/api' },
});

// 4. Start it from your app and mount the API (README).
const store = sqliteStore({ file: './data/underway.db' });
const underway = createUnderway({
  store,
  tasks: [report],
  auth: { authenticate: (req) => sessionUser(req) },
});
const app = express();
app.use(underway.nodeHandler);
app.post('/reports', async (req, res) => {
  const { job } = await underway.queue.start(report, { month: '2026-10' }, { owner: req.header('x-user') });
  res.redirect(303, `/jobs/${job.id}`);
});
createWorker({ store: underway.store, tasks: [report] }).start();
createServer(underway.nodeHandler);
await serveHttp(underway, { port: 3000, host: '127.0.0.1' });

// Fastify and Next.js (docs/http.md).
declare const fastify: FastifyInstanceLike;
underwayFastify(fastify, { underway }, () => {});
export const { GET, POST } = nextRouteHandlers(() => underway);
isNextBuild();

// The job `start` answers is typed from the task: params as stored (defaults applied), the result.
const queue = createQueue({ store, tasks: [report, ping] });
const started = await queue.start(report, { month: '2026-10' }, { owner: maybeOwner, delaySeconds: maybeDelay });
expectType(started).toBe<Started<typeof report>>();
expectType(started.job.params.month).toBe<string>();
expectType(started.job.params.format).toBe<'csv' | 'pdf'>();
expectType(started.job.result).toBe<{ days: number; format: 'csv' | 'pdf' } | null>();
// Stored sealed: at run time this is a "[redacted:v1:…]" envelope, not the key (see Job.params).
expectType(started.job.params.apiKey).toBe<string | undefined>();
const typedJob: TaskJob<typeof report> = started.job;
const plainJob: Job = started.job; // a typed job is still a Job
if (typedJob.status === 'succeeded' && typedJob.result) {
  expectType(typedJob.result.days).toBe<number>();
  // @ts-expect-error: the task's result has no such field.
  typedJob.result.pages;
}
expectType<TaskParams<typeof report>['month']>('').toBe<string>();
expectType<TaskResult<typeof ping>>('pong').toBe<'pong'>();
expectType<TaskResult<AnyTask>>(null).toBe<unknown>();

// @ts-expect-error: month must be a string.
await queue.start(report, { month: 202610 });
// @ts-expect-error: month is required.
await queue.start(report, {});
// @ts-expect-error: format is one of csv, pdf.
await queue.start(report, { month: '2026-10', format: 'doc' });
// @ts-expect-error: options are checked too.
await queue.start(report, { month: '2026-10' }, { owner: 42 });

// Many at once (README): each item's params typed, each job typed.
const months = ['2026-09', '2026-10'];
const many = await queue.startMany(
  report,
  months.map((month) => ({ params: { month }, owner: maybeOwner })),
);
expectType(many[0]?.job.params.month).toBe<string | undefined>();
// @ts-expect-error: month must be a string.
await queue.startMany(report, [{ params: { month: 1 } }]);

// By name, or read back by id, the job is untyped: `unknown`, never `any`.
const byName = await queue.start('report.monthly', { month: '2026-10' });
expectType(byName.job).toBe<Job>();
expectType(byName.job.params).toBe<unknown>();
// @ts-expect-error: unknown params must be narrowed first.
byName.job.params.month;
const read = await queue.get(started.job.id);
expectType(read).toBe<Job | null>();
const narrowed = read as TaskJob<typeof report> | null;
expectType(narrowed?.result?.days).toBe<number | undefined>();
await queue.cancel(plainJob.id);
await queue.retry(plainJob.id, { owner: maybeOwner });

// Options filled from values that may be absent (exactOptionalPropertyTypes).
const options: StartOptions = { owner: maybeOwner, dedupeKey: undefined, runAt: undefined };
await queue.start(ping, {}, options);

// startOrWait (docs/dashboard.md).
await underway.startOrWait({
  task: report,
  params: { month: '2026-10' },
  waitMs: 500,
  owner: 'ann',
  redirectTo: '/reports/{id}',
  done: (job) => Response.json(job),
});

// The worker entry point and the sandbox (docs/sandbox.md).
createWorkerFromWorker({
  store,
  tasks: [report],
  runner: sandboxRunner({ module: new URL('./underway.config.ts', import.meta.url) }),
}).start();

// 6. Move to PostgreSQL (README, docs/postgres.md).
// Options filled from possibly-unset values compile under exactOptionalPropertyTypes (README's line).
postgresStore({ connectionString: process.env.DATABASE_URL });
const databaseUrl = process.env.DATABASE_URL;
const pgStore = postgresStore(databaseUrl === undefined ? {} : { connectionString: databaseUrl });
await pgStore.listening();
openStore({ store: pgStore });

// 5. The browser SDK (docs/dashboard.md).
defineElements();
const job = await start('report.build', { month: '2026-05' });
for await (const { job: now } of watch(job.id)) {
  expectType(now.progress?.percent).toBe<number | null | undefined>();
}
await cancel(job.id);
createClient({ basePath: '/underway/api', headers: { authorization: 'Bearer …' } });

// Child jobs (docs/children.md): the child's params are checked, its result typed through the wait.
export const album = defineTask({
  name: 'photos.album',
  params: z.object({ photos: z.array(z.string()) }),
  async run({ photos }, ctx) {
    const children = await Promise.all(photos.map((photo) => ctx.spawn(report, { month: photo })));
    // @ts-expect-error the child task's params are checked
    await ctx.spawn(report, { month: 12 });
    const results = await ctx.wait(children);
    expectType(results).toBe<{ days: number; format: 'csv' | 'pdf' }[]>();
    const [pong, byName] = await ctx.wait([await ctx.spawn(ping, {}), await ctx.spawn('ping', {}, { name: 'p' })]);
    expectType(pong).toBe<'pong'>();
    expectType(byName).toBe<unknown>();
    try {
      const outcomes = await ctx.wait(children, { settle: true });
      return outcomes.filter((o) => o.status === 'succeeded').length;
    } catch (error) {
      if (error instanceof ChildJobError) return error.child.name;
      throw error;
    }
  },
});
