/** The medians of one row, as bench/run.ts keeps them. */
interface Medians {
  medians: Record<string, number>;
  notes: string[];
}

/** The three rows of one store at one connection count. */
export interface HttpRowSet {
  store: string;
  connections: number;
  underway: string;
  floor: string;
  rps: Medians;
  p50: Medians;
  p99: Medians;
  cpu: Medians;
}

/** Starts with this: the HTTP rows, printed by `httpSummary` rather than one block each. */
export const HTTP_ROW_PREFIX = 'HTTP start POST /api/jobs';

const num = (v: number | undefined, digits: number) =>
  v === undefined ? '—' : v >= 100 ? Math.round(v).toLocaleString('en') : v.toFixed(digits);
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? '—' : `${(a / b).toFixed(2)}x`;

/**
 * One table per store: requests/s, p50, p99 and server CPU per start of underway and of the floor
 * at each connection count, and underway ÷ floor for each (below 1 for requests/s and above 1 for
 * the others: slower).
 */
export function httpSummary(sets: readonly HttpRowSet[], reps: number): string[] {
  const lines: string[] = [];
  for (const store of [...new Set(sets.map((s) => s.store))]) {
    lines.push(`\n${HTTP_ROW_PREFIX}, ${store} (medians of ${reps}; ÷ is underway ÷ floor)`);
    lines.push(
      `  ${'conns'.padStart(5)}  ${'req/s: underway'.padStart(15)} ${'floor'.padStart(7)} ${'÷'.padStart(6)}  ${'p50 ms: underway'.padStart(16)} ${'floor'.padStart(7)} ${'÷'.padStart(6)}  ${'p99 ms: underway'.padStart(16)} ${'floor'.padStart(7)} ${'÷'.padStart(6)}  ${'CPU ms/start: underway'.padStart(22)} ${'floor'.padStart(7)} ${'÷'.padStart(6)}`,
    );
    for (const set of sets.filter((s) => s.store === store)) {
      const cells = ([set.rps, set.p50, set.p99, set.cpu] as const).map((r, i) => {
        const u = r.medians[set.underway];
        const f = r.medians[set.floor];
        const digits = i === 0 ? 1 : i === 3 ? 3 : 2;
        return `${num(u, digits).padStart([15, 16, 16, 22][i] as number)} ${num(f, digits).padStart(7)} ${ratio(u, f).padStart(6)}`;
      });
      lines.push(`  ${String(set.connections).padStart(5)}  ${cells.join('  ')}`);
      for (const note of new Set([...set.rps.notes, ...set.p50.notes, ...set.p99.notes, ...set.cpu.notes]))
        lines.push(`         note (${set.connections}): ${note}`);
    }
  }
  return lines;
}
