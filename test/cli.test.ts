import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import {
  exited,
  FIXTURE_CONFIG,
  killLeftovers,
  outputOf,
  ROOT,
  runCli,
  runCliClosingStdout,
  startCli,
  waitForOutput,
} from './helpers/cli.ts';
import { createTestDatabase } from './helpers/postgres.ts';
import { tempDir } from './helpers/temp.ts';

/** For tests that start many CLI processes one after another: each start takes seconds on a loaded machine. */
const MANY_PROCESSES = 120_000;
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

  it(
    'pause, paused and resume: who paused a task and why; an unknown task exits 2',
    async () => {
      const e = env();
      const paused = await cli(['pause', 'steps', '--reason', 'disk swap'], e);
      expect(paused.code).toBe(0);
      expect(paused.stdout).toMatch(
        /^steps is paused since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by cli:\S+ \(disk swap\)\.\n$/,
      );
      const listed = await cli(['paused', '--json'], e);
      expect(JSON.parse(listed.stdout)).toMatchObject({ kind: 'task', name: 'steps', reason: 'disk swap' });
      expect((await cli(['paused'], e)).stdout).toMatch(/^KIND +NAME +BY +SINCE \(UTC\) +REASON\ntask +steps +cli:/);
      expect(await cli(['resume', 'steps'], e)).toMatchObject({ code: 0, stdout: 'steps is resumed.\n' });
      expect(await cli(['resume', 'steps'], e)).toMatchObject({ code: 0, stdout: 'steps was not paused.\n' });
      expect((await cli(['paused'], e)).stdout).toBe('Nothing is paused.\n');
      const unknown = await cli(['pause', 'nope'], e);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/Unknown task "nope"/);
    },
    MANY_PROCESSES,
  );

  it(
    'pause --queue and queues: a whole queue paused, listed with its counts; bad usage exits 2',
    async () => {
      const e = env();
      const paused = await cli(['pause', '--queue', 'steps', '--reason', 'quota'], e);
      expect(paused).toMatchObject({ code: 0 });
      expect(paused.stdout).toMatch(/^Queue steps is paused since .* \(quota\)\.\n$/);
      expect(JSON.parse((await cli(['paused', '--json'], e)).stdout)).toMatchObject({ kind: 'queue', name: 'steps' });
      const queues = await cli(['queues', '--json'], e);
      const steps = queues.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
        .find((queue: { name: string }) => queue.name === 'steps');
      expect(steps).toMatchObject({ tasks: ['steps'], limit: null, paused: { kind: 'queue', reason: 'quota' } });
      expect(steps.usage).toMatchObject({ due: 0, running: 0 });
      expect((await cli(['queues'], e)).stdout).toMatch(/^QUEUE +TASKS +LIMITS +RUNNING +DUE +STATE\n/m);
      expect(await cli(['resume', '--queue', 'steps'], e)).toMatchObject({
        code: 0,
        stdout: 'Queue steps is resumed.\n',
      });
      for (const args of [['pause'], ['pause', 'steps', '--queue', 'steps']]) {
        const bad = await cli(args, e);
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(/Name a task, or a queue with --queue/);
      }
      const unknown = await cli(['pause', '--queue', 'nope'], e);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/There is no queue "nope"/);
    },
    MANY_PROCESSES,
  );

  it("answers bad input from the config's own store with 400, not 500: the config and the CLI share one underway", async () => {
    // Loaded in a tsx namespace, the config got its own copy of underway, so the ValidationError
    // its store threw was not the class the HTTP layer checks: a bad cursor answered 500.
    const server = await startCli(['--config', FIXTURE_CONFIG, 'serve', '--port', '0'], env(), 'running at');
    const url = /running at (http:\/\/[\d.:]+)/.exec(outputOf(server))?.[1];
    const answer = await fetch(`${url}/api/jobs?cursor=not-a-cursor`);
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
    server.kill('SIGTERM');
    expect(await exited(server)).toBe(0);
  });

  // Ten CLI processes, each loading a TypeScript config: started together, not one after
  // another (at load 20+ one after another took over 30 s), with room for a slow machine.
  it('refuses bad input with a clear message and exit code 2, storing nothing', { timeout: 120_000 }, async () => {
    const e = env();
    const flags = [
      [
        ['worker', '--concurrency', '0'],
        /'-n, --concurrency <n>' argument '0' is invalid. Expected a whole number >= 1/,
      ],
      [['worker', '--prefetch', '-1'], /'--prefetch <n>' argument '-1' is invalid. Expected a whole number >= 0/],
      [['serve', '--port', '70000'], /Expected a port number \(0-65535\), got "70000"/],
    ] as const;
    const [unknown, invalid, malformed, status, watched, ...flagged] = await Promise.all([
      cli(['start', 'nope'], e),
      cli(['start', 'steps', '--params', '{"steps": "many"}'], e),
      cli(['start', 'steps', '--params', '{steps: 1'], e),
      cli(['list', '--status', 'sleeping'], e),
      cli(['watch', 'no-such-job'], e),
      ...flags.map(([args]) => cli([...args], e)),
    ]);
    expect(unknown?.code).toBe(2);
    expect(unknown?.stderr).toMatch(/Unknown task "nope". Known tasks: steps, effect, broken./);
    expect(invalid?.code).toBe(2);
    expect(invalid?.stderr).toMatch(/params for task "steps" are not valid[\s\S]*params\.steps:/);
    expect(malformed?.code).toBe(2);
    expect(malformed?.stderr).toMatch(/--params is not valid JSON/);
    expect(status?.code).toBe(2);
    expect(watched?.stderr).toMatch(/There is no job no-such-job/);
    flags.forEach(([, message], i) => {
      const flag = flagged[i];
      expect(flag?.code).toBe(2);
      expect(flag?.stderr).toMatch(message);
      expect(flag?.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/); // a message, not a stack trace
    });
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

/** A config whose store the test picks: TEST_PG_URL (PostgreSQL) or the default SQLite. */
const STORE_CONFIG = join(ROOT, 'test/fixtures/cli-store/underway.config.ts');
/** Nothing listens there: connecting is refused at once. */
const NOWHERE_PG = 'postgres://postgres@127.0.0.1:1/underway';
/** A stack frame, as in "    at foo (file.js:1:2)": what a one-line message must not hold. */
const STACK_FRAME = /\n\s+at .+:\d+:\d+/;

describe('underway CLI: flags, help, pipes and logs', () => {
  it('--version and -V print the version in package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      expect(await runCli([flag])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('--help names the exit codes and the environment variables it reads', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const text of [
      'Exit codes:',
      '1  the job failed',
      '2  bad input',
      '3  the job was cancelled',
      '4  the store cannot be used',
      '5  the config cannot be loaded',
      'UNDERWAY_DATA_DIR',
      'UNDERWAY_SECRET_KEY',
      'UNDERWAY_SECRET_KEY_FILE',
      'UNDERWAY_LOG_LEVEL',
      'UNDERWAY_LOG_FORMAT',
      'PORT',
      '--log-format <format>',
    ]) {
      expect(help.stdout).toContain(text);
    }
    expect((await runCli(['worker', '--help'])).stdout).toMatch(/--wait-for-store/);
    expect((await runCli(['serve', '--help'])).stdout).toMatch(/--wait-for-store[\s\S]*\/healthz answers 503/);
  });

  it(
    'refuses a bad value of any numeric or enum flag at parse time: exit 2, commander names the flag',
    async () => {
      const e = env();
      for (const [args, message] of [
        [
          ['list', '--limit', 'abc'],
          /'-l, --limit <n>' argument 'abc' is invalid. Expected a whole number from 1 to 200/,
        ],
        [['list', '--limit', '0'], /'-l, --limit <n>' argument '0' is invalid/],
        [['list', '--limit', '201'], /'-l, --limit <n>' argument '201' is invalid/],
        [['list', '--status', 'sleeping'], /argument 'sleeping' is invalid. Allowed choices are queued, running/],
        [['start', 'steps', '--delay', 'soon'], /'--delay <seconds>' argument 'soon' is invalid/],
        [['start', 'steps', '--delay', '-1'], /Expected a number of seconds >= 0, got "-1"/],
        [['start', 'steps', '--max-attempts', '1.5'], /'--max-attempts <n>' argument '1.5' is invalid/],
        [['start', 'steps', '--timeout', '0'], /Expected a number of seconds > 0, got "0"/],
        [['worker', '--concurrency', 'lots'], /'-n, --concurrency <n>' argument 'lots' is invalid/],
        [['serve', '--port', '-3'], /Expected a port number \(0-65535\), got "-3"/],
        [
          ['--log-format', 'xml', 'worker'],
          /'--log-format <format>' argument 'xml' is invalid. Allowed choices are json, pretty/,
        ],
      ] as const) {
        const result = await cli([...args], e);
        expect(result.code, args.join(' ')).toBe(2);
        expect(result.stderr).toMatch(message);
        expect(result.stderr).not.toMatch(STACK_FRAME);
      }
      // Refused before anything was opened: not even the data folder was made.
      expect(existsSync(e.UNDERWAY_DATA_DIR)).toBe(false);
    },
    MANY_PROCESSES,
  );

  it('serve on a port in use: one line and exit 2', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const result = await runCli(['--config', STORE_CONFIG, 'serve', '--port', String(port)], env());
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toMatch(
        new RegExp(`\nunderway: Cannot listen on 127\\.0\\.0\\.1:${port}: another process listens there`),
      );
      expect(result.stderr).not.toMatch(STACK_FRAME);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('ends quietly when the reader of its output goes away (underway logs ID | head -1)', async () => {
    const e = env();
    // More than a pipe holds (64 KiB), so the CLI is still writing when the reader leaves.
    const store = sqliteStore({ file: join(e.UNDERWAY_DATA_DIR, 'underway.db') });
    const pad = 'x'.repeat(2_000);
    const jobs = await store.enqueueMany(
      Array.from({ length: 200 }, () => ({ task: 'steps', params: { steps: 1, pad }, maxAttempts: 1 })),
    );
    const id = jobs[0]?.job.id as string;
    const at = new Date().toISOString();
    const lines = Array.from({ length: 3_000 }, (_, i) => ({
      stream: 'stdout' as const,
      at,
      line: `line ${i} ${pad}`,
    }));
    await store.appendLogs(id, lines, 10_000);
    await store.close();

    const logs = await runCliClosingStdout(['--config', FIXTURE_CONFIG, 'logs', id], e);
    expect(logs.stdout).toMatch(/stdout +line 0 x+\n$/);
    expect(logs).toMatchObject({ code: 0, stderr: '' });
    for (const args of [
      ['list', '--json', '--limit', '200'],
      ['list', '--limit', '200'],
    ]) {
      const list = await runCliClosingStdout(['--config', FIXTURE_CONFIG, ...args], e);
      expect(list.stdout).not.toBe('');
      expect(list).toMatchObject({ code: 0, stderr: '' });
    }
  });

  it('logs JSON lines when not on a terminal, readable lines with --log-format pretty or UNDERWAY_LOG_FORMAT', async () => {
    const e = env();
    const json = await startCli(['--config', STORE_CONFIG, 'worker'], e, 'underway worker running');
    // The ready text may arrive before the rest of its line: wait for the whole line.
    await waitForOutput(json, /underway worker running.*\n/);
    const line = outputOf(json)
      .split('\n')
      .find((l) => l.includes('underway worker running')) as string;
    expect(JSON.parse(line)).toMatchObject({ level: 30, msg: 'underway worker running', store: 'sqlite' });
    json.kill('SIGTERM');
    expect(await exited(json)).toBe(0);

    const readable = /^\d\d:\d\d:\d\d\.\d{3} INFO {2}underway worker running {2}store=sqlite config=\S+$/m;
    const flag = await startCli(['--config', STORE_CONFIG, '--log-format', 'pretty', 'worker'], e, 'worker running');
    await waitForOutput(flag, /worker running.*\n/);
    expect(outputOf(flag)).toMatch(readable);
    expect(outputOf(flag)).not.toContain('\u001b['); // No colours: stderr is not a terminal.
    flag.kill('SIGTERM');
    await waitForOutput(flag, /INFO {2}worker stopped/);
    expect(await exited(flag)).toBe(0);

    const fromEnv = await startCli(
      ['--config', STORE_CONFIG, 'worker'],
      { ...e, UNDERWAY_LOG_FORMAT: 'pretty' },
      'worker running',
    );
    await waitForOutput(fromEnv, /worker running.*\n/);
    expect(outputOf(fromEnv)).toMatch(readable);
    fromEnv.kill('SIGTERM');
    expect(await exited(fromEnv)).toBe(0);

    const wrong = await runCli(['--config', STORE_CONFIG, 'worker'], { ...e, UNDERWAY_LOG_FORMAT: 'yaml' });
    expect(wrong).toMatchObject({
      code: 2,
      stderr: 'underway: UNDERWAY_LOG_FORMAT must be json or pretty, not "yaml".\n',
    });
  });
});

describe('underway serve and worker when the store cannot be used', () => {
  it('exit 4 with one line naming the store and why, before saying they run', async () => {
    const blocked = dir.file(`blocked-${++n}`);
    writeFileSync(blocked, 'a file where the data folder should be');
    for (const command of [['worker'], ['serve', '--port', '0']]) {
      const pgDown = await runCli(['--config', STORE_CONFIG, ...command], {
        TEST_PG_URL: NOWHERE_PG,
        UNDERWAY_LOG_LEVEL: 'info',
      });
      expect(pgDown.code).toBe(4);
      expect(pgDown.stdout).toBe('');
      expect(pgDown.stderr).toMatch(
        /^underway: The postgres store cannot be used: PostgreSQL at 127\.0\.0\.1:1\/underway cannot be reached: connect ECONNREFUSED .*--wait-for-store.*\n$/,
      );
      const sqliteDown = await runCli(['--config', STORE_CONFIG, ...command], {
        UNDERWAY_DATA_DIR: join(blocked, 'data'),
        UNDERWAY_LOG_LEVEL: 'info',
      });
      expect(sqliteDown.code).toBe(4);
      expect(sqliteDown.stdout).toBe('');
      expect(sqliteDown.stderr).toMatch(/^underway: The sqlite store cannot be used: .*ENOTDIR.*\n$/);
    }
  });

  it('serve --wait-for-store listens at once, /healthz 503, and starts when the store can be opened', async () => {
    const blocked = dir.file(`blocked-${++n}`);
    writeFileSync(blocked, 'a file where the data folder should be');
    const server = await startCli(
      ['--config', STORE_CONFIG, 'serve', '--port', '0', '--wait-for-store'],
      { UNDERWAY_DATA_DIR: join(blocked, 'data') },
      'waiting for the store',
    );
    const url = ((await waitForOutput(server, /underway listening on (http:\/\/\S+)/)) as RegExpExecArray)[1];
    const down = await fetch(`${url}/healthz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } });
    expect((await fetch(`${url}/api/jobs`)).status).toBe(503);
    expect(outputOf(server)).not.toMatch(/underway is running at/);

    rmSync(blocked); // The data folder can be made now: the next try opens the store.
    await waitForOutput(server, /store available again after \d+ failures?/);
    await waitForOutput(server, `underway is running at ${url}`);
    const up = await fetch(`${url}/healthz`);
    expect(await up.json()).toEqual({ status: 'ok', store: 'sqlite' });
    expect(outputOf(server).match(/store unavailable/g)).toHaveLength(1);
    server.kill('SIGTERM');
    expect(await exited(server)).toBe(0);
  });

  it('worker --wait-for-store logs the outage once, without a stack, and stops on SIGTERM while waiting', async () => {
    const worker = await startCli(
      ['--config', STORE_CONFIG, 'worker', '--wait-for-store'],
      { TEST_PG_URL: NOWHERE_PG },
      'waiting for the store',
    );
    const out = outputOf(worker);
    expect(out.match(/store unavailable/g)).toHaveLength(1);
    expect(out).toMatch(/"code":"STORE_UNREACHABLE"/);
    expect(out).not.toMatch(/"stack"|underway worker running/);
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
  });

  it('a worker that loses its database logs it once and once more when it is back, not every poll', async () => {
    const db = await createTestDatabase();
    const name = new URL(db.url).pathname.slice(1);
    const admin = new URL(db.url);
    admin.pathname = '/postgres';
    const allowConnections = async (allow: boolean) => {
      const client = new pg.Client({ connectionString: admin.toString() });
      await client.connect();
      try {
        await client.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${allow}`);
        if (!allow)
          await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
      } finally {
        await client.end();
      }
    };
    try {
      const worker = await startCli(
        ['--config', STORE_CONFIG, 'worker'],
        { TEST_PG_URL: db.url, UNDERWAY_LOG_LEVEL: 'debug' },
        'worker running',
      );
      await allowConnections(false);
      // The first failure is either the pooled connection the test terminated or a new one refused.
      await waitForOutput(
        worker,
        /store unavailable: PostgreSQL at .+ (is not currently accepting connections|terminating connection)/,
      );
      // Polls go on (every 200 ms, backing off) while the database refuses them: each is a debug
      // line, not another warning.
      await waitForOutput(worker, /"failures":4,"msg":"store still unavailable/);
      await allowConnections(true);
      await waitForOutput(worker, /store available again after \d+ failures? in/);
      const out = outputOf(worker);
      expect(out.match(/store unavailable/g)).toHaveLength(1);
      expect(out).not.toMatch(/"stack"/);
      worker.kill('SIGTERM');
      expect(await exited(worker)).toBe(0);
    } finally {
      await allowConnections(true);
      await db.drop();
    }
  });
});

describe('underway config loading in a project of its own', () => {
  const projects = tempDir('underway-project-');
  afterAll(() => projects.cleanup());

  /** A folder like `npm init` makes, with underway (this repository) and zod installed. */
  function project(packageJson: Record<string, unknown>, files: Record<string, string>): string {
    const root = projects.file(`p${++n}`);
    mkdirSync(join(root, 'node_modules'), { recursive: true });
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', ...packageJson }));
    symlinkSync(ROOT, join(root, 'node_modules/underway'), 'dir');
    symlinkSync(join(ROOT, 'node_modules/zod'), join(root, 'node_modules/zod'), 'dir');
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(root, name, '..'), { recursive: true });
      writeFileSync(join(root, name), text);
    }
    return root;
  }

  const HELLO_TASK = `import { z } from 'zod';
import { defineTask } from 'underway';

export const hello = defineTask({
  name: 'hello',
  params: z.object({ who: z.string().default('world') }),
  async run({ who }, ctx) {
    ctx.progress(1, 1, 'greeted');
    return { hello: who };
  },
});
`;
  const TS_CONFIG = `import { defineConfig } from 'underway/config';
import { hello } from './tasks/hello';

export default defineConfig({ tasks: [hello] });
`;

  it(
    'loads a TypeScript config with or without "type": "module", and runs its jobs',
    async () => {
      for (const type of [undefined, 'module', 'commonjs']) {
        const root = project(type ? { type } : {}, { 'underway.config.ts': TS_CONFIG, 'tasks/hello.ts': HELLO_TASK });
        const e = { UNDERWAY_DATA_DIR: join(root, 'data') };
        const listed = await runCli(['list'], e, root);
        expect(listed, `type: ${type}`).toMatchObject({ code: 0, stdout: 'No jobs.\n', stderr: '' });
        if (type === 'module') continue;
        // The worker's sandboxed children load the same config: the job runs there.
        const worker = await startCli(['worker'], e, 'underway worker running', root);
        const run = await runCli(['start', 'hello', '--params', '{"who":"npm init"}', '--watch'], e, root);
        expect(run.stdout).toContain('Succeeded: {"hello":"npm init"}');
        expect(run.code).toBe(0);
        worker.kill('SIGTERM');
        expect(await exited(worker)).toBe(0);
      }
    },
    MANY_PROCESSES,
  );

  it('loads .js, .mjs and .cjs configs', async () => {
    const esm = `import { z } from 'zod';
import { defineTask } from 'underway';
import { defineConfig } from 'underway/config';

export default defineConfig({ tasks: [defineTask({ name: 'esm', params: z.object({}), async run() {} })] });
`;
    const cjs = `const { z } = require('zod');
const { defineTask } = require('underway');
const { defineConfig } = require('underway/config');

module.exports = defineConfig({ tasks: [defineTask({ name: 'cjs', params: z.object({}), async run() {} })] });
`;
    const plain = project({}, { 'esm.config.mjs': esm, 'cjs.config.cjs': cjs, 'cjs.config.js': cjs });
    const typed = project({ type: 'module' }, { 'underway.config.js': esm });
    for (const [root, config, task] of [
      [plain, 'esm.config.mjs', 'esm'],
      [plain, 'cjs.config.cjs', 'cjs'],
      [plain, 'cjs.config.js', 'cjs'],
      [typed, 'underway.config.js', 'esm'],
    ] as const) {
      const e = { UNDERWAY_DATA_DIR: join(root, 'data') };
      const started = await runCli(['--config', config, 'start', task], e, root);
      expect(started, config).toMatchObject({ code: 0, stderr: '' });
      expect(started.stdout).toMatch(/^Started: \S+\n$/);
    }
  });

  it('shows where a broken config broke: file:line:col and the real message, exit 5', async () => {
    const root = project(
      {},
      {
        'underway.config.ts': `import { defineConfig } from 'underway/config';\n\nconst settings = {\n  a: 1\n  b: 2,\n};\nexport default defineConfig({ tasks: [] });\n`,
        'throws.config.ts': `import { defineConfig } from 'underway/config';\nimport './tasks/setup';\n\nexport default defineConfig({ tasks: [] });\n`,
        'tasks/setup.ts': `export const url = process.env.NOT_SET_ANYWHERE;\n\nif (!url) throw new TypeError('the database URL is missing');\n`,
        'nested.config.mjs': `import './lib/helpers.mjs';\nexport default { tasks: [] };\n`,
        'lib/helpers.mjs': `export const helpers = {\n  one: 1\n  two: 2,\n};\n`,
        'syntax.config.cjs': `module.exports = {\n  tasks: []\n  more: 1,\n};\n`,
        'json.config.ts': `const settings = JSON.parse(process.env.NOT_SET_ANYWHERE ?? '{oops');\n\nexport default { tasks: [], settings };\n`,
        'missing.config.ts': `import { defineConfig } from 'underway/config';\nimport { nothing } from './not-there';\n\nexport default defineConfig({ tasks: [nothing] });\n`,
      },
    );
    for (const [config, message] of [
      [
        [],
        /^underway: The config file underway\.config\.ts could not be loaded: underway\.config\.ts:5:3: Expected "}" but found "b"\n$/,
      ],
      [['--config', 'throws.config.ts'], /: tasks\/setup\.ts:3:17: TypeError: the database URL is missing\n$/],
      [['--config', 'nested.config.mjs'], /: lib\/helpers\.mjs:3:3: Expected "}" but found "two"\n$/],
      [['--config', 'syntax.config.cjs'], /: syntax\.config\.cjs:3: Unexpected identifier 'more'\n$/],
      [['--config', 'json.config.ts'], /: json\.config\.ts:1:\d+: SyntaxError: .+ in JSON at position 1\n$/],
      [['--config', 'missing.config.ts'], /Cannot find module '\.\/not-there'/],
    ] as const) {
      const result = await runCli([...config, 'list'], { UNDERWAY_DATA_DIR: join(root, 'data') }, root);
      expect(result.code, config.join(' ')).toBe(5);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(STACK_FRAME);
      expect(result.stderr).not.toMatch(/namespace=/);
    }
  });
});
