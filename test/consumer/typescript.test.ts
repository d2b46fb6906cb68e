import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, copyApp, nodeTitle, rootsWith, run, runOk, startApp, stopAll } from './harness.ts';
import { API, alice, describeHost } from './host-suite.ts';
import { EventStream, type JobJson, readJson } from './http.ts';

const setup = inject('underwayConsumer');
afterAll(stopAll);

// TypeScript compiled by tsc (tsc --init's defaults, strict, exactOptionalPropertyTypes, the
// package's own .d.ts checked: skipLibCheck off), then run by node.
for (const root of rootsWith(setup, 'ts')) {
  describe(`TypeScript app on node:http, ${nodeTitle(root)}`, () => {
    it.skipIf(root.skip)(
      'compiles with tsc with zero errors, params typed by the task',
      async () => {
        if (root.error) throw new Error(`The install for ${root.label} failed:\n${root.error}`);
        const dir = copyApp(root, 'ts');
        const tsc = join(root.dir, 'node_modules/typescript/bin/tsc');
        const env = cleanEnv({}, root.nodeBin);
        // The app's tsconfig extends what `tsc --init` writes for a new project.
        const init = join(dir, 'init');
        mkdirSync(init);
        await runOk(root.nodeBin, [tsc, '--init'], { cwd: init, env });
        renameSync(join(init, 'tsconfig.json'), join(dir, 'tsconfig.init.json'));
        rmSync(init, { recursive: true });
        const compiled = await run(root.nodeBin, [tsc, '-p', 'tsconfig.json'], { cwd: dir, env });
        console.log(`[consumer] tsc (${root.label}): ${compiled.seconds.toFixed(1)} s`);
        // The app has a @ts-expect-error on a wrong param: were params `any`, that line would fail too.
        expect(compiled.output.trim()).toBe('');
        expect(compiled.code).toBe(0);
      },
      120_000,
    );

    describeHost('runs the compiled app with node', {
      host: 'typescript',
      root,
      worker: 'in-process',
      start: (root) => startApp(root, 'ts', { args: ['dist/main.js'] }),
      more: (app) => {
        it('ran the job its startup code started with typed params', async () => {
          const id = /^started at boot (\S+)$/m.exec(app().output())?.[1];
          expect(id, app().output()).toBeTruthy();
          const session = alice(app());
          const stream = await EventStream.open(session, `${API}/jobs/${id}/events`);
          await stream.rest();
          const job = await readJson<JobJson>(await session.fetch(`${API}/jobs/${id}`), 200);
          expect(job).toMatchObject({ status: 'succeeded', result: { counted: 3 } });
        });
      },
    });
  });
}
