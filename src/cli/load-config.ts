import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { UnderwayConfig } from '../config/config.ts';
import { toError } from '../core/errors.ts';
import { isTask } from '../core/task.ts';
import { CliError, EXIT } from './errors.ts';

const CONFIG_NAMES = [
  'underway.config.ts',
  'underway.config.mts',
  'underway.config.cts',
  'underway.config.js',
  'underway.config.mjs',
  'underway.config.cjs',
];

/**
 * Finds and imports the config module; its default export (or `config` export) is the config.
 * A config that cannot be loaded is reported as file:line:col and the real message, exit 5.
 */
export async function loadConfig(configOption: string | undefined): Promise<{ config: UnderwayConfig; path: string }> {
  const path = configOption
    ? resolve(configOption)
    : CONFIG_NAMES.map((name) => resolve(name)).find((candidate) => existsSync(candidate));
  if (!path) {
    throw new CliError(
      `No config found: create underway.config.ts here (export default defineConfig({ tasks: [...] })) or pass --config <file>.`,
      EXIT.badConfig,
    );
  }
  if (!existsSync(path)) throw new CliError(`The config file ${path} does not exist.`, EXIT.badConfig);
  let module: Record<string, unknown>;
  try {
    module = (await importConfig(path)) as Record<string, unknown>;
  } catch (error) {
    const why = await describeLoadError(toError(error), path);
    throw new CliError(`The config file ${shown(path)} could not be loaded: ${why}`, EXIT.badConfig);
  }
  const config = configOf(module);
  if (!config || !Array.isArray(config.tasks) || !config.tasks.every(isTask)) {
    throw new CliError(
      `The config file ${shown(path)} must export default defineConfig({ tasks: [...] }) with tasks made by defineTask.`,
      EXIT.badConfig,
    );
  }
  return { config, path };
}

/**
 * TypeScript loads through tsx (a dependency of the CLI for this), JavaScript as it is. Both follow
 * Node's rules: in a project whose package.json has no `"type": "module"` (npm init's default), a
 * `.ts` file is CommonJS. tsx is registered for the whole process, not in a namespace of its own
 * (`tsImport`): a namespace loads a second copy of every module the config imports, `underway`
 * included, so an error class the config's store threw was not the one the CLI and the HTTP layer
 * check with instanceof (a ValidationError answered 500). Registered, the config and the CLI share
 * one copy. Source maps stay on, so an error thrown in the config names its own line.
 */
async function importConfig(path: string): Promise<unknown> {
  if (!/\.[cm]?tsx?$/.test(path)) return import(pathToFileURL(path).href);
  if (isCommonJs(path)) {
    const { register } = await import('tsx/cjs/api');
    register();
    return createRequire(import.meta.url)(path);
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import(pathToFileURL(path).href);
}

/** `.cts`, or `.ts` under a package.json without `"type": "module"` (the nearest one decides, as in Node). */
function isCommonJs(path: string): boolean {
  if (/\.ctsx?$/.test(path)) return true;
  if (/\.mtsx?$/.test(path)) return false;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        return (JSON.parse(readFileSync(file, 'utf8')) as { type?: unknown }).type !== 'module';
      } catch {
        return true;
      }
    }
    if (dirname(dir) === dir) return true;
  }
}

/**
 * The config among the module's exports: default, `config`, or either inside a CommonJS module's
 * exports (`module.exports = { default: config }`, as TypeScript's `export default` compiles).
 */
function configOf(module: Record<string, unknown>): UnderwayConfig | undefined {
  const candidates = [module.default, module.config];
  for (const value of [module.default, module['module.exports']]) {
    if (typeof value === 'object' && value !== null) {
      candidates.push((value as Record<string, unknown>).default, (value as Record<string, unknown>).config);
    }
  }
  const found = candidates.find(
    (value) => typeof value === 'object' && value !== null && 'tasks' in (value as Record<string, unknown>),
  );
  return (found ?? module.default ?? module.config) as UnderwayConfig | undefined;
}

/**
 * What went wrong, as `file:line:col: message` (columns from 1, as editors count them). esbuild
 * (through tsx) names the place of a TypeScript syntax error in its message; Node names that of a
 * CommonJS one in the first line of the stack, and that of an ES module's nowhere we can read, so
 * esbuild parses the files again to find it. An error thrown while the config was imported is
 * placed at its first frame in the user's own files (not node_modules, not Node's insides).
 */
async function describeLoadError(error: Error, entry: string): Promise<string> {
  const esbuild = /^(.+?):(\d+):(\d+): ERROR: (.+)$/m.exec(error.message);
  if (esbuild) return `${shown(esbuild[1] as string)}:${esbuild[2]}:${Number(esbuild[3]) + 1}: ${esbuild[4]}`;
  const message = clean(error.message);
  const arrow = error.name === 'SyntaxError' ? /^(\S+):(\d+)\n/.exec(error.stack ?? '') : null;
  if (arrow) return `${shown(pathOf(arrow[1] as string))}:${arrow[2]}: ${message}`;
  const name = error.name === 'Error' ? '' : `${error.name}: `;
  const frame = userFrame(error.stack ?? '');
  if (frame) return `${frame}: ${name}${message}`;
  // A SyntaxError with no frame of the user's is a parse error (one thrown by JSON.parse has one).
  const located = error.name === 'SyntaxError' ? await locateSyntaxError(entry) : null;
  return located ?? `${name}${message}`;
}

/** underway's own code: a frame there is where underway noticed, not where the user's code broke. */
const OWN = ['dist', 'src'].map((folder) => fileURLToPath(new URL(`../../${folder}/`, import.meta.url)));

/** The first stack frame in the user's own files, as `file:line:col`. */
function userFrame(stack: string): string | null {
  for (const line of stack.split('\n').slice(1)) {
    const match = /^at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/.exec(line.trim());
    const where = match ? clean(match[1] as string) : '';
    if (!/^(?:file:\/\/|\/|[A-Za-z]:\\)/.test(where)) continue; // node:internal, data: URLs
    const path = pathOf(where);
    if (/[\\/]node_modules[\\/]/.test(path) || OWN.some((own) => path.startsWith(own))) continue;
    return `${shown(path)}:${match?.[2]}:${match?.[3]}`;
  }
  return null;
}

/**
 * Parses the config and the files it imports with esbuild (tsx's own parser, so present wherever
 * tsx is) without running anything, to name where an ES module's syntax error is.
 */
async function locateSyntaxError(entry: string): Promise<string | null> {
  try {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    const esbuildPath = createRequire(tsx).resolve('esbuild');
    const esbuild = (await import(pathToFileURL(esbuildPath).href)) as typeof import('esbuild');
    await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      logLevel: 'silent',
    });
    return null;
  } catch (thrown) {
    const errors = (
      thrown as { errors?: { text: string; location?: { file: string; line: number; column: number } }[] }
    ).errors;
    const first = errors?.[0];
    if (!first?.location) return null;
    const { file, line, column } = first.location;
    return `${shown(resolve(file))}:${line}:${column + 1}: ${first.text}`;
  }
}

/** tsx marks the URLs it loads with a query (`?tsx-namespace=…`): noise in a message. */
function clean(text: string): string {
  return text.replace(/\?(?:tsx-)?namespace=[\w-]+/g, '');
}

function pathOf(location: string): string {
  return location.startsWith('file://') ? fileURLToPath(location) : location;
}

/** A path relative to here when it is below here, absolute otherwise. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}
