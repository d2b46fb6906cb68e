import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The browser bundle's entry: the SDK, the web components and the dashboard's page script. */
export const CLIENT_ENTRY = fileURLToPath(new URL('../../client/bundle.ts', import.meta.url));
/** Where `scripts/build-client.ts` writes it, and where a server without esbuild looks for it. */
export const CLIENT_BUILT = fileURLToPath(new URL('../../../dist/client/underway-client.js', import.meta.url));

export interface ClientBundle {
  text: string;
  etag: string;
}

/**
 * Bundles src/client into one minified ES module with esbuild (installed with tsx). It takes
 * about 20 ms, so servers build it on first use instead of needing a build step before `npm start`.
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

/** The bundle, built once per process (or read from dist/ when esbuild is not installed). */
export function clientBundle(): Promise<ClientBundle> {
  cached ??= buildClientBundle()
    .catch(async (error: unknown) => {
      try {
        return await readFile(CLIENT_BUILT, 'utf8');
      } catch {
        throw error;
      }
    })
    .then((text) => ({ text, etag: `"${createHash('sha256').update(text).digest('base64url').slice(0, 22)}"` }));
  // A failed build is not kept: the next request tries again.
  cached.catch(() => {
    cached = null;
  });
  return cached;
}
