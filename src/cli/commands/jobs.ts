import { type Command, Option } from 'commander';
import { JOB_STATUSES, type JobStatus, MAX_PRIORITY, MIN_PRIORITY } from '../../core/job.ts';
import { MAX_LIST_LIMIT } from '../../store/store.ts';
import { type GlobalOptions, openSession, parseJsonOption } from '../context.ts';
import { CliError, EXIT } from '../errors.ts';
import { seconds, wholeNumber } from '../options.ts';
import { endLine, printable, progressLine, table } from '../terminal.ts';
import { exitCodeOf, watchJob } from './watch.ts';

/** `start`, `list`, `cancel`, `logs`: the everyday commands on jobs. */
export function registerJobCommands(program: Command): void {
  program
    .command('start <task>')
    .description('start a job of a task and print its id')
    .option('--params <json>', 'the params, as JSON', '{}')
    .option('--delay <seconds>', 'start no earlier than this many seconds from now', seconds(true))
    .option('--dedupe-key <key>', 'return the queued or running job with this key instead of starting another')
    .option('--max-attempts <n>', 'attempts in all', wholeNumber(1))
    .option('--timeout <seconds>', 'time limit for each attempt', seconds(false))
    .option(
      '--priority <n>',
      `claimed before due jobs of lower priority (${MIN_PRIORITY} to ${MAX_PRIORITY}; default the task's, else 0)`,
      wholeNumber(MIN_PRIORITY, MAX_PRIORITY, `a whole number from ${MIN_PRIORITY} to ${MAX_PRIORITY}`),
    )
    .option('--concurrency-key <key>', "the key it counts under for its queue's per-key limit")
    .option('-w, --watch', 'then watch it until it ends (exit code by outcome)')
    .option('--json', 'print the job as JSON')
    .action(async (task: string, options: StartOptions, command: Command) => {
      const params = parseJsonOption('--params', options.params);
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const { job, created } = await session.queue.start(task, params as never, {
          delaySeconds: options.delay,
          dedupeKey: options.dedupeKey,
          maxAttempts: options.maxAttempts,
          timeoutSeconds: options.timeout,
          priority: options.priority,
          concurrencyKey: options.concurrencyKey,
        });
        if (options.json) process.stdout.write(`${JSON.stringify(job)}\n`);
        else process.stdout.write(`${created ? 'Started' : 'Already running (same dedupe key)'}: ${job.id}\n`);
        if (options.watch) {
          const final = await watchJob(session.jobs, job.id, { logs: false, out: process.stdout });
          process.exitCode = exitCodeOf(final);
        }
      } finally {
        await session.close();
      }
    });

  program
    .command('list')
    .description('list jobs, newest first')
    .addOption(new Option('-s, --status <status>', 'only jobs with this status').choices(JOB_STATUSES))
    .option('-t, --task <task>', 'only jobs of this task')
    .option(
      '-l, --limit <n>',
      `at most this many (<= ${MAX_LIST_LIMIT})`,
      wholeNumber(1, MAX_LIST_LIMIT, `a whole number from 1 to ${MAX_LIST_LIMIT}`),
      20,
    )
    .option('--json', 'print JSON, one job per line')
    .action(async (options: { status?: JobStatus; task?: string; limit: number; json?: boolean }, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const { status, task, limit } = options;
        const { jobs } = await session.jobs.list({ status, task, limit });
        // Why the queued ones wait ("waiting: queue full (2 of 2 running)"), each queue counted once.
        const waiting = await session.queue.waitingOf(jobs);
        if (options.json) {
          for (const job of jobs) {
            const why = job.status === 'queued' ? { waiting: waiting.get(job.id) ?? null } : {};
            process.stdout.write(`${JSON.stringify({ ...job, ...why })}\n`);
          }
          return;
        }
        if (jobs.length === 0) {
          process.stdout.write('No jobs.\n');
          return;
        }
        const rows = jobs.map((job) => [
          job.id,
          printable(job.task, 40),
          job.status,
          job.createdAt.replace('T', ' ').slice(0, 19),
          job.status === 'running'
            ? progressLine(job.progress, 10)
            : job.status === 'queued'
              ? printable(waiting.get(job.id)?.text ?? '', 80)
              : endLine(job).slice(0, 80),
        ]);
        process.stdout.write(`${table([['ID', 'TASK', 'STATUS', 'CREATED (UTC)', ''], ...rows])}\n`);
      } finally {
        await session.close();
      }
    });

  program
    .command('cancel <id>')
    .description('ask a queued or running job to stop')
    .action(async (id: string, _options: unknown, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const job = await session.queue.cancel(id);
        process.stdout.write(
          job.status === 'cancelled' ? `Cancelled ${id}.\n` : `Asked ${id} to stop; it is ending.\n`,
        );
      } finally {
        await session.close();
      }
    });

  program
    .command('logs <id>')
    .description('print what a job wrote, with timestamps')
    .option('-f, --follow', 'keep printing new lines until the job ends')
    .action(async (id: string, options: { follow?: boolean }, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        if (!(await session.jobs.get(id))) throw new CliError(`There is no job ${id}.`, EXIT.badInput);
        let after = 0;
        const print = async () => {
          for (const line of await session.jobs.readLogs(id, { after })) {
            process.stdout.write(`${line.at} ${line.stream.padEnd(6)} ${printable(line.line, 10_000)}\n`);
            after = line.seq;
          }
        };
        await print();
        if (options.follow) {
          await watchJob(session.jobs, id, { logs: false, out: { write: () => true } });
          await print();
        }
      } finally {
        await session.close();
      }
    });
}

interface StartOptions {
  params: string;
  delay?: number;
  dedupeKey?: string;
  maxAttempts?: number;
  timeout?: number;
  priority?: number;
  concurrencyKey?: string;
  watch?: boolean;
  json?: boolean;
}
