import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, copyApp, nodeTitle, rootsWith, run, startApp, stopAll } from './harness.ts';
import { alice, describeHost, runJob } from './host-suite.ts';

const setup = inject('underwayConsumer');
afterAll(stopAll);

const markerOf = (dir: string) => join(dir, 'data/worker-started.log');

// Next.js 16, App Router: a catch-all route handler at app/underway/[[...path]], the worker
// started from instrumentation's register(); built with `next build`, served by `next start`.
for (const root of rootsWith(setup, 'next')) {
  const next = join(root.dir, 'node_modules/next/dist/bin/next');
  describe(`Next.js 16 app (App Router), ${nodeTitle(root)}`, () => {
    it.skipIf(root.skip)(
      'builds with next build, which starts no worker',
      async () => {
        if (root.error) throw new Error(`The install for ${root.label} failed:\n${root.error}`);
        const dir = copyApp(root, 'next');
        const env = cleanEnv({ APP_DATA_DIR: join(dir, 'data') }, root.nodeBin);
        const built = await run(root.nodeBin, [next, 'build'], { cwd: dir, env });
        console.log(`[consumer] next build (${root.label}): ${built.seconds.toFixed(1)} s`);
        expect(built.code, built.output).toBe(0);
        expect(existsSync(markerOf(dir)), `next build started a worker:\n${built.output}`).toBe(false);
      },
      300_000,
    );

    describeHost('served by next start', {
      host: 'next',
      root,
      // next start ends itself with 128 + SIGTERM after its own graceful shutdown.
      exitCode: 143,
      start: (root) =>
        startApp(root, 'next', {
          args: [next, 'start', '-H', '127.0.0.1', '-p', '0'],
          ready: /Local:\s+(http:\/\/\S+)[\s\S]*Ready in/,
        }),
      more: (app) => {
        it('runs jobs on the one worker that instrumentation register() started', async () => {
          const job = await runJob(alice(app()), 1);
          expect(job.status).toBe('succeeded');
          const lines = readFileSync(markerOf(app().dir), 'utf8').trim().split('\n');
          expect(lines, 'worker starts (pid, command)').toHaveLength(1);
        });
      },
    });
  });
}
