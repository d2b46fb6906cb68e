import { humanDuration } from '../../core/format.ts';
import type { ProgressSample } from '../../core/job.ts';
import { HEIGHT, niceMax, PAD, round, segments, WIDTH } from './charts.tsx';

/**
 * A job's progress over time on its page, from the samples its progress writes kept (at most one
 * a second, halved when many: store.ts MAX_PROGRESS_SAMPLES). x is time since the first sample,
 * y the percent when every sample knew its total, else the count done. Each attempt is its own
 * line, so a retry shows where the bar fell back to and how it climbed again. Server-rendered
 * SVG with its numbers in a table, like the Overview's charts (charts.tsx).
 */
export function ProgressChart({ samples }: { samples: readonly ProgressSample[] }) {
  const id = 'uw-progress-chart';
  const start = Date.parse(samples[0]?.at ?? '');
  const end = Date.parse(samples.at(-1)?.at ?? '');
  const span = Math.max(1, end - start);
  const percent = samples.every((s) => s.total !== null && s.total > 0);
  const value = (s: ProgressSample) => (percent && s.total ? (s.current / s.total) * 100 : s.current);
  // The y axis says "100", not "100%": the title names the unit, and the label fits the margin on a phone.
  const top = percent ? 100 : niceMax(Math.max(0, ...samples.map(value)));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (s: ProgressSample) => PAD.left + ((Date.parse(s.at) - start) / span) * plotWidth;
  const y = (v: number) => PAD.top + plotHeight - (Math.min(v, top) / top) * plotHeight;
  const attempts = [...new Set(samples.map((s) => s.attempt))];
  const shown = (v: number) => (percent ? `${round(v)} %` : String(round(v)));
  const first = samples[0];
  const last = samples.at(-1);
  const elapsed = (s: ProgressSample) => {
    const ms = Date.parse(s.at) - start;
    return ms < 1000 ? '0 s' : humanDuration(ms / 1000);
  };
  const summary =
    first && last
      ? `From ${shown(value(first))} to ${shown(value(last))} in ${humanDuration(span / 1000)}` +
        (attempts.length > 1 ? `, over ${attempts.length} attempts.` : '.')
      : '';
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
        <title id={`${id}-title`}>{percent ? 'Percent done over time' : 'Done over time'}</title>
        <desc id={`${id}-desc`}>{summary}</desc>
        <g class="uw-chart-grid">
          {[0, top / 2, top].map((v) => (
            <>
              <line x1={PAD.left} x2={WIDTH - PAD.right} y1={round(y(v))} y2={round(y(v))} />
              <text x={PAD.left - 6} y={round(y(v)) + 4} text-anchor="end">
                {String(v)}
              </text>
            </>
          ))}
          <text x={PAD.left} y={HEIGHT - 8} text-anchor="start">
            0 s
          </text>
          <text x={WIDTH - PAD.right} y={HEIGHT - 8} text-anchor="end">
            {humanDuration(span / 1000)}
          </text>
        </g>
        {attempts.flatMap((attempt) =>
          segments(samples.filter((s) => s.attempt === attempt).map((s) => [x(s), y(value(s))] as const)).map(
            (points) => (
              <polyline
                class="uw-series uw-series-progress"
                data-series="progress"
                data-attempt={String(attempt)}
                fill="none"
                points={points}
              />
            ),
          ),
        )}
      </svg>
      <figcaption>
        <details class="uw-chart-numbers">
          <summary>The numbers</summary>
          <div class="uw-table-scroll">
            <table class="uw-figures" data-chart={id}>
              <caption class="uw-sr">Progress over time</caption>
              <thead>
                <tr>
                  <th scope="col">After</th>
                  <th scope="col">Attempt</th>
                  <th scope="col">Done</th>
                </tr>
              </thead>
              <tbody>
                {samples.map((s) => (
                  <tr>
                    <th scope="row">
                      <time datetime={s.at}>{elapsed(s)}</time>
                    </th>
                    <td>{String(s.attempt)}</td>
                    <td>{percent ? `${shown(value(s))} (${s.current} of ${s.total})` : String(s.current)}</td>
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
