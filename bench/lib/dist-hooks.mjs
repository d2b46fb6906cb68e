/**
 * A module resolve hook (node:module register): an import that resolves to a file under src/
 * loads tsc's output for it under dist/ instead. The bench's own files stay TypeScript (run by
 * tsx), while underway runs as a user installs it. Plain JavaScript: hooks run on the loader's own
 * thread, before any TypeScript loader applies there.
 */
const SRC = new URL('../../src/', import.meta.url).href;
const DIST = new URL('../../dist/', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  // Modules only: anything else under src/ (a stylesheet read as a file) is not tsc's to emit.
  if (!resolved.url.startsWith(SRC) || !/\.tsx?$/.test(resolved.url)) return resolved;
  const path = resolved.url.slice(SRC.length).replace(/\.tsx?$/, '.js');
  return { url: `${DIST}${path}`, format: 'module', shortCircuit: true };
}
