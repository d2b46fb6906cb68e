/**
 * Hand-written SVG charts for the Overview page: server-rendered, no script, no library. Each chart
 * is an `<svg role="img">` named by its `<title>` and summed up by its `<desc>`, followed by its
 * numbers as a table inside `<details>` (for screen readers, and for anyone who wants the figures).
 * Colours come from the pages' stylesheet (classes, `currentColor`), so dark mode and the CSP (no
 * inline style) need nothing here; the failed line is dashed, so the lines differ without colour.
 * Every text is JSX, escaped like the rest of the page.
 */

/** One line of a chart. */
export interface ChartSeries {
  /** Its class suffix (`uw-series-<key>`) and `data-series`. */
  key: string;
  label: string;
  /** Null where nothing was measured: the line breaks there, and the table says "—". */
  values: readonly (number | null)[];
}

export interface LineChartProps {
  /** Unique on the page: the ids of the title and description derive from it. */
  id: string;
  title: string;
  /** One label per bucket, for the table ("12:05"). */
  labels: readonly string[];
  /** A few labels along the x axis: [bucket index, text]. */
  ticks: readonly (readonly [number, string])[];
  series: readonly ChartSeries[];
  /** The unit of a bucket, for the description and the table's header ("minute"). */
  per: string;
  /** The description, when totals per bucket mean nothing (levels, not counts). */
  summary?: string;
}

// The drawing's own units; the SVG scales to its box (width 100 %), keeping its proportions.
export const WIDTH = 640;
export const HEIGHT = 220;
export const PAD = { left: 44, right: 14, top: 14, bottom: 30 };

/** Tenths are enough for a drawing 640 units wide. */
export const round = (n: number) => Math.round(n * 10) / 10;

/** The runs of consecutive measured points, each one polyline's `points`. */
export function segments(points: readonly (readonly [number, number] | null)[]): string[] {
  const runs: string[][] = [];
  let run: string[] | null = null;
  for (const point of points) {
    if (!point) {
      run = null;
      continue;
    }
    if (!run) {
      run = [];
      runs.push(run);
    }
    run.push(`${round(point[0])},${round(point[1])}`);
  }
  return runs.map((r) => r.join(' '));
}

/** A round top for the y axis: 1, 2, 4, 6, 8 or 10 × 10^n at or above the largest value, at least 4: its half is whole too. */
export function niceMax(value: number): number {
  if (value <= 4) return 4;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 4, 6, 8]) if (step * power >= value) return step * power;
  return 10 * power;
}

/** A line chart of counts per bucket, with its numbers in a table below. */
export function LineChart({ id, title, labels, ticks, series, per, summary }: LineChartProps) {
  const count = labels.length;
  const measured = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const top = niceMax(Math.max(0, ...measured));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (count <= 1 ? 0 : (i * plotWidth) / (count - 1));
  const y = (v: number) => PAD.top + plotHeight - (v / top) * plotHeight;
  const totals = series
    .map((s) => `${s.label.toLowerCase()} ${s.values.reduce<number>((a, b) => a + (b ?? 0), 0)}`)
    .join(', ');
  const peak = Math.max(0, ...measured);
  return (
    <figure class="uw-chart" id={id}>
      <svg
        class="uw-chart-svg"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-labelledby={`${id}-title`}
        aria-describedby={`${id}-desc`}
        data-top={String(top)}
      >
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-desc`}>{summary ?? `In total: ${totals}. At most ${peak} in one ${per}.`}</desc>
        <g class="uw-chart-grid">
          {[0, top / 2, top].map((v) => (
            <>
              <line x1={PAD.left} x2={WIDTH - PAD.right} y1={round(y(v))} y2={round(y(v))} />
              <text x={PAD.left - 6} y={round(y(v)) + 4} text-anchor="end">
                {String(v)}
              </text>
            </>
          ))}
          {ticks.map(([i, text]) => (
            <text x={round(x(i))} y={HEIGHT - 8} text-anchor={i === 0 ? 'start' : i === count - 1 ? 'end' : 'middle'}>
              {text}
            </text>
          ))}
        </g>
        {series.flatMap((s) =>
          segments(s.values.map((v, i) => (v === null ? null : [x(i), y(v)]))).map((points) => (
            <polyline class={`uw-series uw-series-${s.key}`} data-series={s.key} fill="none" points={points} />
          )),
        )}
      </svg>
      <figcaption>
        <ul class="uw-legend">
          {series.map((s) => (
            <li>
              <svg class="uw-legend-key" viewBox="0 0 24 8" aria-hidden="true">
                <line class={`uw-series uw-series-${s.key}`} x1="0" x2="24" y1="4" y2="4" />
              </svg>
              {s.label}
            </li>
          ))}
        </ul>
        <details class="uw-chart-numbers">
          <summary>{`The numbers per ${per}`}</summary>
          <div class="uw-table-scroll">
            <table class="uw-figures" data-chart={id}>
              <caption class="uw-sr">{title}</caption>
              <thead>
                <tr>
                  <th scope="col">{per[0]?.toUpperCase() + per.slice(1)}</th>
                  {series.map((s) => (
                    <th scope="col">{s.label}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {labels.map((label, i) => (
                  <tr>
                    <th scope="row">{label}</th>
                    {series.map((s) => (
                      <td data-series={s.key}>{String(s.values[i] ?? '—')}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      </figcaption>
    </figure>
  );
}
