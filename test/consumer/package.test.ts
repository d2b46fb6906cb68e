import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { NOT_SET_UP, REPO } from './harness.ts';

const setup = inject('underwayConsumer');
const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
};

/** Every file an `exports` entry points at, without the leading `./`. */
function exportTargets(): string[] {
  return Object.values(manifest.exports).flatMap((target) =>
    (typeof target === 'string' ? [target] : Object.values(target)).map((path) => path.replace(/^\.\//, '')),
  );
}

const files = setup?.tarballFiles ?? [];

describe.skipIf(!setup)(setup ? 'the tarball npm pack makes' : `the tarball (skipped: ${NOT_SET_UP})`, () => {
  it('ships the built package: dist/, the browser bundle, the licence', () => {
    for (const file of ['package.json', 'LICENSE', 'README.md', 'dist/index.js', 'dist/index.d.ts']) {
      expect(files, file).toContain(file);
    }
    expect(files).toContain('dist/client/underway-client.js');
  });

  it('has every file its exports map points at, for the subpaths apps import', () => {
    const missing = exportTargets().filter((file) => !files.includes(file));
    expect(missing).toEqual([]);
    for (const subpath of ['.', './http', './sqlite', './worker', './client', './fastify', './next']) {
      expect(Object.keys(manifest.exports), `exports["${subpath}"]`).toContain(subpath);
    }
  });

  it('ships no tests, benchmarks or CI files', () => {
    const unwanted = files.filter(
      (file) =>
        /^(test|tests|bench|\.ci|\.github|examples|scripts|coverage|test-results|data)\//.test(file) ||
        /\.test\.[cm]?[jt]sx?$/.test(file) ||
        /(^|\/)(vitest|biome|tsconfig)[^/]*\.json$|(^|\/)vitest\.[^/]*config\.ts$/.test(file),
    );
    expect(unwanted).toEqual([]);
  });
});
