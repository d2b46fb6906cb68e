/**
 * What the sandbox costs per job: the warm pool against a fresh process per job (the old
 * "fork a daemon" way) and against running in-process. Runners are called directly, without a
 * store, so only the runner's overhead is measured.
 *
 *   node --import tsx bench/sandbox.ts [rounds=5]
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Job } from '../src/core/job.ts';
import { inProcessRunner } from '../src/worker/in-process-runner.ts';
import type { Execution, JobRunner } from '../src/worker/runner.ts';
import { sandboxRunner } from '../src/worker/sandbox/index.ts';
import { tasks } from '../test/fixtures/sandbox/tasks.ts';

const MODULE = fileURLToPath(new URL('../test/fixtures/sandbox/tasks.ts', import.meta.url));
const CONCURRENCY = 4;
const rounds = Number(process.argv[2] ?? 5);
const noop = tasks.find((task) => task.name === 'noop');
if (!noop) throw new Error('The fixture module has no noop task.');

let seq = 0;
function execution(): Execution {
  const id = `bench-${++seq}`;
  const job = { id, task: 'noop', attempt: 1, maxAttempts: 1 } as Job;
  return {
    job,
    task: noop as Execution['task'],
    params: {},
    signal: new AbortController().signal,
    killAfterMs: 10_000,
    report: {
      progress() {},
      message() {},
      log() {},
      artifact: () => Promise.reject(new Error('no artifacts here')),
      recallStep: async () => null,
      recordStep: () => Promise.reject(new Error('no steps here')),
      spawn: () => Promise.reject(new Error('no child jobs here')),
      wait: () => Promise.reject(new Error('no child jobs here')),
    },
  };
}

/** Runs `jobs` jobs, CONCURRENCY at a time; returns jobs per second. */
async function measure(runner: JobRunner, jobs: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < jobs) {
      next++;
      const result = await runner.run(execution());
      if (!result.ok) throw new Error(`A bench job failed: ${result.error.message}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  return jobs / ((performance.now() - started) / 1000);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

const pool = (maxJobsPerChild: number) => () => sandboxRunner({ module: MODULE, size: CONCURRENCY, maxJobsPerChild });
const modes: { name: string; jobs: number; make(): JobRunner }[] = [
  { name: 'in-process', jobs: 2_000, make: () => inProcessRunner() },
  { name: 'warm pool', jobs: 400, make: pool(Number.POSITIVE_INFINITY) },
  // Replacing a child every 100 jobs (the default is 1,000): 1% of jobs pay for a fork.
  { name: 'pool, recycle every 100', jobs: 400, make: pool(100) },
  { name: 'fork per job', jobs: 8, make: pool(1) },
];

console.log(`node ${process.version}, ${availableParallelism()} CPUs, ${CONCURRENCY} jobs at a time, ${rounds} rounds`);
const results = new Map<string, number>();
for (const mode of modes) {
  const runner = mode.make();
  await measure(runner, CONCURRENCY); // Warm-up: children started, module loaded, code compiled.
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) samples.push(await measure(runner, mode.jobs));
  await runner.close();
  results.set(mode.name, median(samples));
  console.log(
    `${mode.name.padEnd(24)} median ${median(samples).toFixed(1).padStart(8)} jobs/s  (${samples.map((s) => s.toFixed(0)).join(', ')})`,
  );
}
const ratio = (a: string, b: string) => ((results.get(a) as number) / (results.get(b) as number)).toFixed(1);
console.log(`warm pool / fork per job: ${ratio('warm pool', 'fork per job')}x`);
console.log(`recycling pool / fork per job: ${ratio('pool, recycle every 100', 'fork per job')}x`);
console.log(`in-process / warm pool: ${ratio('in-process', 'warm pool')}x`);
