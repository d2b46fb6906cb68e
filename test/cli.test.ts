import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { exited, FIXTURE_CONFIG, killLeftovers, runCli, startCli } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

const dir = tempDir('underway-cli-');
afterAll(() => dir.cleanup());
afterEach(async () => {
  expect(await killLeftovers()).toBe(0);
});

let n = 0;
/** A fresh data folder per test, so each starts with an empty store. */
const env = () => ({ UNDERWAY_DATA_DIR: dir.file(`data-${++n}`) });
const cli = (args: string[], e: Record<string, string>) => runCli(['--config', FIXTURE_CONFIG, ...args], e);

describe('underway CLI, end to end in real processes', () => {
  it('start then watch until done, with the worker in another process', async () => {
    const e = env();
    const worker = await startCli(['--config', FIXTURE_CONFIG, 'worker'], e, 'underway worker running');
    const started = await cli(['start', 'steps', '--params', '{"steps": 20, "stepMs": 20}'], e);
    expect(started).toMatchObject({ code: 0, stderr: '' });
    const id = /Started: (\S+)/.exec(started.stdout)?.[1] as string;
    expect(id).toBeTruthy();
    const watched = await cli(['watch', id], e);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain('Succeeded: {"steps":20}');
    expect(watched.stdout).toMatch(/100\.0%\s+step 20 of 20/);
    const logs = await cli(['logs', id], e);
    expect(logs.stdout).toMatch(/stdout +did 20 steps/);
    const list = await cli(['list'], e);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+steps\\s+succeeded`));
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
  });

  it('start --watch exits 1 with the reason when the job fails', async () => {
    const e = env();
    const worker = await startCli(['--config', FIXTURE_CONFIG, 'worker'], e, 'underway worker running');
    const result = await cli(['start', 'broken', '--watch'], e);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Failed (TASK_ERROR): Nothing to do: the source is empty.');
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
  });

  it('cancel ends a queued job and watch then exits 3', async () => {
    const e = env();
    const started = await cli(['start', 'steps', '--params', '{"steps": 1}', '--json'], e);
    const job = JSON.parse(started.stdout) as { id: string; status: string };
    expect(job.status).toBe('queued');
    expect(await cli(['cancel', job.id], e)).toMatchObject({ code: 0, stdout: `Cancelled ${job.id}.\n` });
    expect((await cli(['watch', job.id], e)).code).toBe(3);
    const again = await cli(['cancel', job.id], e);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already ended \(cancelled\)/);
  });

  it('refuses bad input with a clear message and exit code 2, storing nothing', async () => {
    const e = env();
    const unknown = await cli(['start', 'nope'], e);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown task "nope". Known tasks: steps, effect, broken./);
    const invalid = await cli(['start', 'steps', '--params', '{"steps": "many"}'], e);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/params for task "steps" are not valid[\s\S]*params\.steps:/);
    const malformed = await cli(['start', 'steps', '--params', '{steps: 1'], e);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/--params is not valid JSON/);
    const status = await cli(['list', '--status', 'sleeping'], e);
    expect(status.code).toBe(2);
    for (const [args, message] of [
      [
        ['worker', '--concurrency', '0'],
        /'-n, --concurrency <n>' argument '0' is invalid. Expected a whole number >= 1/,
      ],
      [['worker', '--prefetch', '-1'], /'--prefetch <n>' argument '-1' is invalid. Expected a whole number >= 0/],
      [['serve', '--port', '70000'], /Expected a port number \(0-65535\), got "70000"/],
    ] as const) {
      const flag = await cli([...args], e);
      expect(flag.code).toBe(2);
      expect(flag.stderr).toMatch(message);
      expect(flag.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/); // a message, not a stack trace
    }
    expect((await cli(['watch', 'no-such-job'], e)).stderr).toMatch(/There is no job no-such-job/);
    expect((await cli(['list'], e)).stdout).toBe('No jobs.\n');
  });

  it('says so when the store file is not an underway database, and leaves the file alone', async () => {
    const e = env();
    const file = `${e.UNDERWAY_DATA_DIR}.txt`;
    writeFileSync(file, 'not a database');
    const result = await runCli(['--config', FIXTURE_CONFIG, 'list'], { UNDERWAY_DATA_DIR: file });
    // The data dir is a file: the database path under it cannot be opened.
    expect(result.code).toBe(4);
    const dirAsDb = dir.file(`data-${++n}`);
    mkdirSync(dirAsDb);
    writeFileSync(`${dirAsDb}/underway.db`, 'my notes, not a database'.repeat(100));
    const notDb = await runCli(['--config', FIXTURE_CONFIG, 'list'], { UNDERWAY_DATA_DIR: dirAsDb });
    expect(notDb.code).toBe(4);
    expect(notDb.stderr).toMatch(/is not a SQLite database/);
  });

  it('names a missing or broken config', async () => {
    const missing = await runCli(['--config', dir.file('none.config.ts'), 'list']);
    expect(missing).toMatchObject({ code: 5 });
    expect(missing.stderr).toMatch(/does not exist/);
    const broken = dir.file('broken.config.mts');
    writeFileSync(broken, 'export default { tasks: 3 };');
    expect((await runCli(['--config', broken, 'list'])).stderr).toMatch(/must export default defineConfig/);
  });

  it('migrate and cleanup report what they did', async () => {
    const e = env();
    expect((await cli(['migrate'], e)).stdout).toBe('The sqlite store is up to date.\n');
    expect((await cli(['cleanup'], e)).stdout).toMatch(/^Removed 0 finished jobs \(kept: succeeded 7 days/);
  });
});
