/**
 * Finishes the package's dist/ after `tsc -p tsconfig.build.json` compiled src/ into it (ESM
 * JavaScript, declarations, source maps, the dashboard's JSX): declarations made loadable by any
 * consumer's compiler, and the browser bundle built with esbuild. `npm run build` runs both; it
 * runs before `npm pack` and `npm publish` (prepack) and after `npm ci` here (prepare).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildClientBundle, CLIENT_BUILT } from '../src/http/dashboard/client-bundle.ts';

const ROOT = resolve(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');

// tsc rewrites `.ts` specifiers in the JavaScript it emits but leaves them in declarations, where a
// consumer's compiler without allowImportingTsExtensions refuses them (TS5097): point them at .js.
let rewritten = 0;
for (const file of walk(DIST).filter((path) => path.endsWith('.d.ts'))) {
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(/((?:from\s+|import\()\s*['"])(\.{1,2}\/[^'"]+?)\.tsx?(['"])/g, '$1$2.js$3');
  if (fixed !== text) {
    writeFileSync(file, fixed);
    rewritten += 1;
  }
}

const started = performance.now();
const bundle = await buildClientBundle();
writeFileSync(CLIENT_BUILT, bundle);
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
console.log(
  `dist/: ${walk(DIST).length} files (${rewritten} declarations re-pointed at .js); ` +
    `${relative(ROOT, CLIENT_BUILT)}: ${kb(Buffer.byteLength(bundle))}, ` +
    `${kb(gzipSync(bundle, { level: 9 }).byteLength)} gzipped (${Math.round(performance.now() - started)} ms)`,
);

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(entry.parentPath ?? dirname(join(dir, entry.name)), entry.name);
    return entry.isDirectory() ? walk(path) : [path];
  });
}
