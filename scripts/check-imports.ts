/**
 * Checks the import graph of src/: no cycles, and dependencies pointing one way (STYLE.md):
 * core depends on nothing; store on core; jobs on store; worker and queue on jobs; http on those; only cli and
 * config may use everything. madge and dependency-cruiser need the TypeScript compiler API, which
 * TypeScript 7 no longer has, so this reads import statements itself.
 *
 * Run: node --import tsx scripts/check-imports.ts
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(import.meta.dirname, '../src');

/** What each top-level part may import from (besides itself): parts, or single files. Parts not listed may import anything. */
const ALLOWED: Record<string, string[]> = {
  core: [],
  store: ['core'],
  // The one layer every caller changes jobs through (src/jobs/jobs.ts).
  jobs: ['core', 'store'],
  // Recurring schedules: checked through the queue, fired through the store's compare-and-set.
  schedule: ['core', 'store', 'jobs', 'queue', 'logger.ts', 'secret-key.ts'],
  worker: ['core', 'store', 'jobs', 'queue', 'schedule', 'logger.ts', 'secret-key.ts'],
  // secret-key.ts: where the key for core/secrets.ts comes from (the environment, key files).
  queue: ['core', 'store', 'jobs', 'secret-key.ts'],
  // Prometheus metrics a server and a worker process both have, and the worker's own small server.
  metrics: ['core', 'store', 'jobs', 'logger.ts'],
  http: ['core', 'store', 'jobs', 'queue', 'schedule', 'logger.ts', 'worker', 'metrics'],
  // The browser bundle: only core's pure, Node-free word helpers (core/format.ts).
  client: ['core/format.ts'],
};

/** Type-only imports a part may make beyond ALLOWED: erased at build, so they add no runtime dependency. */
const TYPES_ALLOWED: Record<string, string[]> = {
  // The browser's types are the API's own (job JSON, statuses), so they cannot drift from it.
  client: ['core', 'http'],
};

const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s(type\s)?[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return files(path);
    return /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

const part = (file: string) => relative(SRC, file).split('/')[0] as string;
const graph = new Map<string, string[]>();
const problems: string[] = [];

for (const file of files(SRC)) {
  const text = readFileSync(file, 'utf8');
  const targets: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const typeOnly = match[1] !== undefined;
    const target = resolve(dirname(file), (match[2] ?? match[3]) as string);
    // Type-only imports vanish at run time: they cannot form a cycle that matters.
    if (!typeOnly) targets.push(target);
    const from = part(file);
    const to = part(target);
    const allowed = [...(ALLOWED[from] ?? []), ...(typeOnly ? (TYPES_ALLOWED[from] ?? []) : [])];
    if (from in ALLOWED && to !== from && !allowed.includes(to) && !allowed.includes(relative(SRC, target))) {
      problems.push(`${relative(SRC, file)} imports ${relative(SRC, target)}: ${from}/ may not depend on ${to}`);
    }
  }
  graph.set(file, targets);
}

// Cycles, by depth-first search with colours.
const state = new Map<string, 'open' | 'done'>();
const stack: string[] = [];
function visit(file: string): void {
  state.set(file, 'open');
  stack.push(file);
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === 'open') {
      const cycle = stack.slice(stack.indexOf(next)).concat(next);
      problems.push(`import cycle: ${cycle.map((f) => relative(SRC, f)).join(' -> ')}`);
    } else if (!state.has(next) && graph.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of graph.keys()) if (!state.has(file)) visit(file);

if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`imports: ${graph.size} files, no cycles, layers respected\n`);
