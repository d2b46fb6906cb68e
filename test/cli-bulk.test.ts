import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Job, JobStatus } from '../src/core/job.ts';
import { Jobs } from '../src/jobs/jobs.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import { FIXTURE_CONFIG, runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

/** These tests start several processes one after another: each start takes seconds on a loaded machine. */
const MANY_PROCESSES = 120_000;
const dir = tempDir('underway-cli-bulk-');
afterAll(() => dir.cleanup());

let n = 0;
/** A fresh data folder per test, so each starts with an empty store. */
const env = () => ({ UNDERWAY_DATA_DIR: dir.file(`data-${++n}`) });
const cli = (args: string[], e: Record<string, string>) => runCli(['--config', FIXTURE_CONFIG, ...args], e);
const STACK_FRAME = /\n\s+at /;

/**
 * Adds jobs to the folder's store as the CLI will find it, `count` of each status asked for
 * (the fixture's `steps` task, or `task`), and closes it again; returns them newest first.
 */
async function seed(e: { UNDERWAY_DATA_DIR: string }, wanted: Partial<Record<JobStatus, number>>, task = 'steps') {
  const store = sqliteStore({ file: join(e.UNDERWAY_DATA_DIR, 'underway.db') });
  const jobs = Jobs.of(store);
  const made: Record<string, Job[]> = {};
  try {
    for (const [status, count] of Object.entries(wanted) as [JobStatus, number][]) {
      const started = await jobs.enqueueMany(
        Array.from({ length: count }, () => ({ task, params: { steps: 1 }, maxAttempts: 1, priority: 1_000 })),
      );
      if (status !== 'queued') {
        const claimed = await jobs.claim({ workerId: 'test', tasks: [task], limit: count, leaseMs: 60_000 });
        expect(claimed).toHaveLength(count);
        for (const { lease } of claimed) {
          if (status === 'failed') await jobs.finish(lease, { status, error: { message: 'x', code: 'TASK_ERROR' } });
          if (status === 'cancelled') await jobs.finish(lease, { status, error: { message: 'x', code: 'CANCELLED' } });
          if (status === 'succeeded') await jobs.finish(lease, { status, result: null });
        }
      }
      made[status] = started.map(({ job }) => job).reverse();
    }
  } finally {
    await store.close();
  }
  return made;
}

/** How many jobs of each status the folder's store holds now. */
async function counts(e: { UNDERWAY_DATA_DIR: string }): Promise<Record<string, number>> {
  const store = sqliteStore({ file: join(e.UNDERWAY_DATA_DIR, 'underway.db') });
  try {
    const out: Record<string, number> = {};
    for (const { status, count } of await store.counts()) out[status] = (out[status] ?? 0) + count;
    return out;
  } finally {
    await store.close();
  }
}

describe('underway bulk', () => {
  it(
    'counts without --yes; acts with it, on the filter given',
    async () => {
      const e = env();
      await seed(e, { queued: 4 });
      await seed(e, { queued: 2 }, 'broken');

      const dry = await cli(['bulk', 'cancel'], e);
      expect(dry).toMatchObject({ code: 0, stdout: 'Would cancel 6 jobs (run again with --yes).\n', stderr: '' });
      expect(await counts(e)).toEqual({ queued: 6 });
      const dryJson = await cli(['bulk', 'cancel', '--task', 'broken', '--json'], e);
      expect(JSON.parse(dryJson.stdout)).toEqual({ action: 'cancel', dryRun: true, matched: 2, more: false });

      const done = await cli(['bulk', 'cancel', '--task', 'steps', '--status', 'queued,running', '--yes'], e);
      expect(done).toMatchObject({ code: 0, stdout: 'Cancelled 4 jobs.\n', stderr: '' });
      expect(await counts(e)).toEqual({ queued: 2, cancelled: 4 });
      expect((await cli(['bulk', 'cancel', '--task', 'steps', '--yes'], e)).stdout).toBe('No jobs to cancel.\n');
      // Nothing of theirs was created before 2000, nor after the year 3000.
      expect((await cli(['bulk', 'cancel', '--before', '2000-01-01'], e)).stdout).toBe('No jobs to cancel.\n');
      expect((await cli(['bulk', 'cancel', '--after', '3000-01-01T00:00:00Z'], e)).stdout).toBe('No jobs to cancel.\n');
      expect((await cli(['bulk', 'cancel', '--owner', 'ann'], e)).stdout).toBe('No jobs to cancel.\n');
    },
    MANY_PROCESSES,
  );

  it(
    'stops at --limit, saying more may match; retries failed jobs, with --json',
    async () => {
      const e = env();
      const made = await seed(e, { succeeded: 3, failed: 2 });
      const dry = await cli(['bulk', 'delete', '--limit', '2'], e);
      expect(dry.stdout).toBe('Would delete 2 jobs, the --limit; more may match (run again with --yes).\n');
      const deleted = await cli(['bulk', 'delete', '--status', 'succeeded', '--limit', '2', '--yes'], e);
      expect(deleted).toMatchObject({ code: 0, stdout: 'Deleted 2 jobs, the --limit; more may match.\n' });
      expect(await counts(e)).toEqual({ succeeded: 1, failed: 2 });

      const retried = await cli(['bulk', 'retry', '--yes', '--json'], e);
      expect(retried.code).toBe(0);
      expect(JSON.parse(retried.stdout)).toEqual({
        action: 'retry',
        dryRun: false,
        matched: 2,
        done: made.failed?.map((job) => job.id),
        skipped: [],
        more: false,
      });
      expect(await counts(e)).toEqual({ succeeded: 1, failed: 2, queued: 2 });
    },
    MANY_PROCESSES,
  );

  it(
    'exits 2 on a bad action, status, time or limit, before opening the store',
    async () => {
      const e = env();
      const cases: [string[], RegExp][] = [
        [['bulk', 'restart'], /'restart' is invalid for argument 'action'. Allowed choices are cancel, retry, delete/],
        [['bulk'], /missing required argument 'action'/],
        [['bulk', 'cancel', '--status', 'done'], /Expected statuses among queued, running/],
        [['bulk', 'cancel', '--status', 'succeeded'], /Cancel applies to queued and running jobs, not succeeded/],
        [['bulk', 'retry', '--status', 'failed,queued'], /not queued/],
        [['bulk', 'cancel', '--before', 'yesterday'], /Expected an ISO 8601 time/],
        [['bulk', 'cancel', '--after', '2026-01-31T18:00'], /Expected an ISO 8601 time/],
        [['bulk', 'cancel', '--after', '2026-02-01', '--before', '2026-01-01'], /createdAfter must be earlier/],
        [['bulk', 'cancel', '--limit', '0'], /Expected a whole number >= 1, got "0"/],
        [['bulk', 'cancel', '--limit', 'many'], /--limit/],
      ];
      for (const [args, message] of cases) {
        const result = await cli(args, e);
        expect(result.code, args.join(' ')).toBe(2);
        expect(result.stderr, args.join(' ')).toMatch(message);
        expect(result.stderr).not.toMatch(STACK_FRAME);
        expect(result.stdout).toBe('');
      }
      // Never opened: the default store would have made its folder.
      expect(existsSync(e.UNDERWAY_DATA_DIR)).toBe(false);
    },
    MANY_PROCESSES,
  );
});
