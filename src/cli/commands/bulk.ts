import { Argument, type Command, InvalidArgumentError } from 'commander';
import { isJobStatus, JOB_STATUSES, type JobStatus } from '../../core/job.ts';
import {
  BULK_ACTIONS,
  BULK_STATUSES,
  type BulkAction,
  type BulkRequest,
  type BulkSkip,
  bulk,
  MAX_BULK_LIMIT,
  planBulk,
} from '../../queue/bulk.ts';
import { type GlobalOptions, openSession } from '../context.ts';
import { wholeNumber } from '../options.ts';
import { printable } from '../terminal.ts';

interface BulkOptions {
  task?: string;
  status?: JobStatus[];
  before?: string;
  after?: string;
  owner?: string;
  limit?: number;
  yes?: boolean;
  json?: boolean;
}

const DONE: Record<BulkAction, string> = { cancel: 'Cancelled', retry: 'Retried', delete: 'Deleted' };

/** Skip reasons printed in the summary line; the rest are counted. */
const SHOWN_SKIPS = 3;

/** `underway bulk cancel|retry|delete`: act on every job matching a filter, counting first unless --yes. */
export function registerBulkCommand(program: Command): void {
  program
    .command('bulk')
    .description('cancel, retry or delete every job matching a filter (only counts them without --yes)')
    .addArgument(new Argument('<action>', 'what to do to each job').choices(BULK_ACTIONS))
    .option('-t, --task <task>', 'only jobs of this task')
    .option(
      '-s, --status <statuses>',
      `only jobs with these statuses, comma-separated (default: ${Object.entries(BULK_STATUSES)
        .map(([action, statuses]) => `${action} ${statuses.join('+')}`)
        .join('; ')})`,
      parseStatuses,
    )
    .option('--before <time>', 'only jobs created before this ISO 8601 time', parseMoment)
    .option('--after <time>', 'only jobs created after this ISO 8601 time', parseMoment)
    .option('--owner <id>', 'only jobs of this owner')
    .option('-l, --limit <n>', 'act on at most this many jobs (default: all that match)', wholeNumber(1))
    .option('-y, --yes', 'act on them; without it, only count what would be acted on')
    .option('--json', 'print the outcome as one JSON object')
    .action(async (action: BulkAction, options: BulkOptions, command: Command) => {
      const filter = {
        task: options.task,
        status: options.status,
        createdBefore: options.before,
        createdAfter: options.after,
        owner: options.owner,
      };
      // A status the action cannot apply to, --after later than --before: exit 2 before the store is opened.
      planBulk({ action, filter });
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const dryRun = !options.yes;
        const total = { matched: 0, done: [] as string[], skipped: [] as BulkSkip[], more: false };
        let cursor: string | null = null;
        do {
          const left = options.limit === undefined ? MAX_BULK_LIMIT : options.limit - total.matched;
          const request: BulkRequest = { action, filter, dryRun, cursor, limit: Math.min(MAX_BULK_LIMIT, left) };
          const result = await bulk(session.queue, request);
          total.matched += result.matched;
          total.done.push(...result.done);
          total.skipped.push(...result.skipped);
          cursor = result.nextCursor;
        } while (cursor !== null && (options.limit === undefined || total.matched < options.limit));
        // Stopped by --limit with more possibly left.
        total.more = cursor !== null;

        if (options.json) {
          const { matched, done, skipped, more } = total;
          const out = dryRun ? { action, dryRun, matched, more } : { action, dryRun, matched, done, skipped, more };
          process.stdout.write(`${JSON.stringify(out)}\n`);
        } else {
          process.stdout.write(`${summary(action, dryRun, total)}\n`);
        }
      } finally {
        await session.close();
      }
    });
}

/** "Would cancel 12 jobs (run again with --yes).", "Cancelled 12 jobs; skipped 1 (ID: reason)." */
function summary(
  action: BulkAction,
  dryRun: boolean,
  total: { matched: number; done: string[]; skipped: BulkSkip[]; more: boolean },
): string {
  const more = total.more ? ', the --limit; more may match' : '';
  if (total.matched === 0) return `No jobs to ${action}.`;
  if (dryRun) return `Would ${action} ${jobs(total.matched)}${more} (run again with --yes).`;
  let line = `${DONE[action]} ${jobs(total.done.length)}`;
  if (total.skipped.length > 0) {
    const shown = total.skipped.slice(0, SHOWN_SKIPS).map((skip) => `${skip.id}: ${printable(skip.reason, 200)}`);
    const rest = total.skipped.length - shown.length;
    line += `; skipped ${total.skipped.length} (${shown.join('; ')}${rest > 0 ? `; and ${rest} more` : ''})`;
  }
  return `${line}${more}.`;
}

const jobs = (n: number) => `${n} job${n === 1 ? '' : 's'}`;

function parseStatuses(value: string): JobStatus[] {
  const statuses = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = statuses.filter((s) => !isJobStatus(s));
  if (statuses.length === 0 || bad.length > 0) {
    throw new InvalidArgumentError(
      `Expected statuses among ${JOB_STATUSES.join(', ')}, comma-separated, got "${value}".`,
    );
  }
  return statuses as JobStatus[];
}

function parseMoment(value: string): string {
  // A date alone, or a date and time with an offset or Z: what Date.parse reads the same everywhere.
  const iso = /^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:?\d\d))?$/i;
  if (!iso.test(value.trim()) || Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError(
      `Expected an ISO 8601 time such as 2026-01-31 or 2026-01-31T18:00:00Z, got "${value}".`,
    );
  }
  return new Date(Date.parse(value)).toISOString();
}
