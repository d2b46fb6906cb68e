import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** Running from the TypeScript sources (this repository's tests and demo), not from the built package. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** The browser bundle's entry: the SDK, the web components and the dashboard's page script. */
export const CLIENT_ENTRY = fileURLToPath(new URL('../../client/bundle.ts', import.meta.url));
/** Where `npm run build` writes the bundle: beside the compiled client, in the package's dist/. */
export const CLIENT_BUILT = fileURLToPath(
  new URL(FROM_SOURCE ? '../../../dist/client/underway-client.js' : '../../client/underway-client.js', import.meta.url),
);

export interface ClientBundle {
  text: string;
  etag: string;
}

/**
 * Bundles src/client into one minified ES module with esbuild (a development dependency). The
 * build (scripts/build.ts) runs it once; from the sources it runs on first use (~20 ms), so a
 * change to src/client shows without a build step.
 */
export async function buildClientBundle(): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [CLIENT_ENTRY],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    write: false,
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild wrote no output for the client bundle.');
  return file.text;
}

let cached: Promise<ClientBundle> | null = null;

/** The bundle, read once per process: the prebuilt file in the package, built in memory from the sources. */
export function clientBundle(): Promise<ClientBundle> {
  cached ??= (FROM_SOURCE ? buildClientBundle() : readFile(CLIENT_BUILT, 'utf8')).then((text) => ({
    text,
    etag: `"${createHash('sha256').update(text).digest('base64url').slice(0, 22)}"`,
  }));
  // A failed read is not kept: the next request tries again.
  cached.catch(() => {
    cached = null;
  });
  return cached;
}
