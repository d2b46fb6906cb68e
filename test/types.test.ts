/**
 * The types a user gets: test/types/consumer (a project at `tsc --init` defaults, skipLibCheck
 * off, exactOptionalPropertyTypes on) is compiled against the built package as npm would install
 * it, and must compile with no error at all, in its own code or in any declaration it loads.
 *
 * The consumer sits in a temp folder outside this repository, so that nothing resolves through
 * our node_modules: its node_modules holds a copy of the package's declarations (dist/**\/*.d.ts
 * and package.json, so `exports` resolve as for a user), a link to each of underway's
 * `dependencies` and to the consumer's own. A declaration that needs one of our devDependencies
 * (`@types/pg`, say) fails here as it would for a user.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/temp.ts';

const ROOT = join(import.meta.dirname, '..');
const FIXTURE = join(import.meta.dirname, 'types', 'consumer');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface PackageJson {
  exports: Record<string, unknown>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as PackageJson;

const dir = tempDir('underway-types-');
afterAll(() => dir.cleanup());

describe('the published types', () => {
  it('compile in a strict consumer project that imports every entry point', async () => {
    const staleness = checkBuilt();
    const own = readJson(join(ROOT, 'package.json'));
    const consumer = readJson(join(FIXTURE, 'package.json'));
    const source = readFileSync(join(FIXTURE, 'index.ts'), 'utf8');
    const entries = Object.keys(own.exports).filter((key) => key !== './package.json');
    const missing = entries.map((key) => `underway${key.slice(1)}`).filter((name) => !source.includes(`'${name}'`));
    expect(missing, 'test/types/consumer/index.ts must import every entry point').toEqual([]);

    const project = dir.path;
    const modules = join(project, 'node_modules');
    cpSync(FIXTURE, project, { recursive: true });
    const underway = join(modules, 'underway');
    cpSync(join(ROOT, 'package.json'), join(underway, 'package.json'));
    cpSync(join(ROOT, 'dist'), join(underway, 'dist'), {
      recursive: true,
      filter: (path) => statSync(path).isDirectory() || path.endsWith('.d.ts'),
    });
    const linked = new Set([
      ...Object.keys(own.dependencies ?? {}),
      ...Object.keys({ ...consumer.dependencies, ...consumer.devDependencies }).filter((name) => name !== 'underway'),
    ]);
    for (const name of linked) {
      mkdirSync(dirname(join(modules, name)), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
    }

    const { code, output } = await run(process.execPath, [TSC, '-p', project, '--pretty', 'false'], project);
    expect(output.replaceAll(project, '<consumer>'), `tsc found errors in the consumer project${staleness}`).toBe('');
    expect(code).toBe(0);
  }, 120_000); // tsc takes about 4 s alone, longer beside the rest of the suite
});

/**
 * Fails, saying what to do, when dist/ is missing (`npm test` builds it first). A dist/ older than
 * a source file is checked all the same (the test must not rebuild what other test files may be
 * running), and named in the failure message in case that is why it failed.
 */
function checkBuilt(): string {
  let builtAt: number;
  try {
    builtAt = statSync(join(ROOT, 'dist', 'index.d.ts')).mtimeMs;
  } catch {
    throw new Error('dist/ is missing: run `npm run build` first (`npm test` does).');
  }
  const sources = (readdirSync(join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }) as string[])
    .filter((path) => /\.tsx?$/.test(path) && !path.endsWith('.test.ts'))
    .map((path) => join(ROOT, 'src', path));
  const newer = sources.find((path) => statSync(path).mtimeMs > builtAt);
  return newer ? ` (dist/ is older than ${relative(ROOT, newer)}: run \`npm run build\` and try again)` : '';
}

async function run(command: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(command, args, { cwd, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}
