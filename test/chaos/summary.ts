/**
 * vitest globalSetup of `npm run test:chaos`: prints the figures every test recorded
 * (recordFigures in fleet.ts) as one table at the end, the numbers docs/reliability.md quotes.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';

const file = () => process.env.UNDERWAY_CHAOS_FIGURES;

export function setup(): void {
  const path = file();
  if (path) rmSync(path, { force: true });
}

export function teardown(): void {
  const path = file();
  if (!path || !existsSync(path)) return;
  const rows = readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  rmSync(path, { force: true });
  const lines = rows.map(({ name, ...figures }) => {
    const text = Object.entries(figures)
      .map(([key, value]) => `${key} ${value}`)
      .join(', ');
    return `  ${String(name).padEnd(34)} ${text}`;
  });
  const sum = (key: string) =>
    rows.reduce((n, row) => n + (typeof row[key] === 'number' ? (row[key] as number) : 0), 0);
  process.stdout.write(
    `\nunderway reliability figures\n${lines.join('\n')}\n` +
      `  ${'total'.padEnd(34)} jobs ${sum('jobs')}, kills ${sum('kills')}, lost ${sum('lost')}, stuck ${sum('stuck')}, ` +
      `jobs done twice ${sum('jobsDoneTwice')}, fuzz cases ${sum('cases')}, 5xx ${sum('fiveXx')}\n\n`,
  );
}
