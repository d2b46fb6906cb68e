import type { Command } from 'commander';
import { isTerminal, type Job } from '../../core/job.ts';
import type { Jobs } from '../../jobs/jobs.ts';
import type { JobEvent } from '../../store/store.ts';
import { type GlobalOptions, openSession } from '../context.ts';
import { CliError, EXIT } from '../errors.ts';
import { endLine, printable, progressLine } from '../terminal.ts';

/** `underway watch <id>`: a live progress bar until the job ends; the exit code says how it ended. */
export function registerWatchCommand(program: Command): void {
  program
    .command('watch <id>')
    .description('show a live progress bar until the job ends (exit 0 succeeded, 1 failed, 3 cancelled)')
    .option('--logs', "print the job's log lines as they come")
    .action(async (id: string, options: { logs?: boolean }, command: Command) => {
      const session = await openSession(command.optsWithGlobals<GlobalOptions>());
      try {
        const job = await watchJob(session.jobs, id, { logs: options.logs === true, out: process.stdout });
        process.exitCode = exitCodeOf(job);
      } finally {
        await session.close();
      }
    });
}

export function exitCodeOf(job: Job): number {
  if (job.status === 'succeeded') return EXIT.ok;
  if (job.status === 'cancelled') return EXIT.jobCancelled;
  return EXIT.jobFailed;
}

interface Out {
  write(text: string): boolean;
  isTTY?: boolean;
}

/**
 * Follows one job until it ends and returns it as it ended. On a terminal the bar is redrawn in
 * place (at most 10 times a second); elsewhere (a CI log) a line is written per status change
 * and at most every 5 s for progress.
 */
export async function watchJob(jobs: Jobs, id: string, options: { logs: boolean; out: Out }): Promise<Job> {
  const { out } = options;
  const tty = out.isTTY === true;
  let job = await jobs.get(id);
  if (!job) throw new CliError(`There is no job ${id}.`, EXIT.badInput);
  out.write(`${printable(job.task)} ${job.id}\n`);
  let lastDraw = 0;
  let drawn = false;
  const draw = (force = false) => {
    if (!job) return;
    const now = Date.now();
    if (!force && now - lastDraw < (tty ? 100 : 5_000)) return;
    lastDraw = now;
    const line = `${job.status.padEnd(9)} ${progressLine(job.progress, 30, now, job.status)}`;
    if (tty) out.write(`\r\u001b[2K${line.slice(0, (process.stdout.columns || 120) - 1)}`);
    else out.write(`${line}\n`);
    drawn = true;
  };
  const clearLine = () => {
    if (tty && drawn) out.write('\r\u001b[2K');
  };

  let off = () => {};
  let tick: NodeJS.Timeout | undefined;
  const ended = new Promise<Job>((resolve, reject) => {
    const check = () =>
      jobs.get(id).then((latest) => {
        if (!latest) return reject(new CliError(`Job ${id} was deleted while being watched.`, EXIT.badInput));
        job = latest;
        draw(true);
        if (isTerminal(latest.status)) resolve(latest);
      }, reject);
    const onEvent = (event: JobEvent) => {
      if (event.jobId !== id || !job) return;
      if (event.type === 'progress') {
        job = { ...job, progress: event.progress };
        draw();
      } else if (event.type === 'log' && options.logs) {
        clearLine();
        out.write(`${event.stream === 'stderr' ? '! ' : '  '}${printable(event.line)}\n`);
        draw(true);
      } else if (event.type === 'status') {
        void check();
      }
    };
    off = jobs.subscribe(onEvent);
    // An indeterminate bar moves even when no event comes.
    tick = setInterval(() => draw(), tty ? 150 : 5_000);
    void check();
  });
  let final: Job;
  try {
    final = await ended;
  } finally {
    off();
    clearInterval(tick);
  }
  clearLine();
  if (tty) out.write(`${final.status.padEnd(9)} ${progressLine(final.progress, 30, Date.now(), final.status)}\n`);
  out.write(`${endLine(final)}\n`);
  return final;
}
