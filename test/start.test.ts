import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

/**
 * The README's first command: `npm start` serves the backup console on embedded SQLite, with no
 * set-up. This runs it exactly so (through npm), in a fresh data folder.
 */
const dir = tempDir('underway-start-');
afterAll(() => dir.cleanup());
let app: ChildProcess | null = null;
afterEach(async () => {
  // npm runs the server in a child; they share the process group started here.
  if (app && app.exitCode === null && app.signalCode === null) {
    process.kill(-(app.pid as number), 'SIGKILL');
    await new Promise((resolve) => app?.once('exit', resolve));
  }
  app = null;
});

function waitForUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /underway is running at (http:\/\/\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`npm start exited (${code}) before it served:\n${out}`)));
  });
}

describe('npm start', () => {
  it('serves the backup console on embedded SQLite and stops cleanly on SIGTERM', async () => {
    app = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, PORT: '0', UNDERWAY_DATA_DIR: dir.file('data'), UNDERWAY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    app.stderr?.resume();
    const url = await waitForUrl(app);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const tasks = (await (await fetch(`${url}/api/tasks`)).json()) as { tasks: { name: string }[] };
    expect(tasks.tasks.map((t) => t.name)).toEqual(expect.arrayContaining(['backup.create', 'backup.restore']));
    const exited = new Promise<string>((resolve) =>
      app?.once('exit', (code, signal) => resolve(signal ?? String(code))),
    );
    // The whole group (npm and the server) gets the signal, as from Ctrl+C or a process manager.
    process.kill(-(app.pid as number), 'SIGTERM');
    expect(['0', 'SIGTERM']).toContain(await exited);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
