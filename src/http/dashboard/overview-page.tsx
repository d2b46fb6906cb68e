import { humanDuration } from '../../core/format.ts';
import { JOB_STATUSES } from '../../core/job.ts';
import type { RunTimes } from '../../store/store.ts';
import type { DepthSeriesJson, OverviewJson, SeriesJson, WorkerJson } from '../overview.ts';
import { LineChart } from './charts.tsx';
import { Layout } from './layout.tsx';
import type { PageFrame } from './page-context.ts';
import { Ago, StatusBadge } from './parts.tsx';

/**
 * The operators' Overview (admins): jobs per task and status, started/succeeded/failed over the
 * last hour and day, run times, the queues' depth and the workers alive with what each runs. The
 * figures are `GET /stats`'s (overview.ts). A plain page without JavaScript; with it, the page
 * script redraws `#uw-overview` from this same URL every 10 s and when a job starts or ends.
 */
export function OverviewPage({ frame, overview }: { frame: PageFrame; overview: OverviewJson }) {
  const jobPath = (id: string) => `${frame.pagesPath}/jobs/${encodeURIComponent(id)}`;
  return (
    <Layout frame={frame} title="Overview" page="overview">
      <h1>Overview</h1>
      <div id="uw-overview" data-at={overview.at}>
        <p class="uw-muted">
          As of <time datetime={overview.at}>{`${overview.at.slice(11, 19)} UTC`}</time>
        </p>
        <section aria-labelledby="uw-counts-title">
          <h2 id="uw-counts-title">Jobs per task</h2>
          <div class="uw-table-scroll">
            <table class="uw-figures uw-counts" id="uw-counts">
              <thead>
                <tr>
                  <th scope="col">Task</th>
                  {JOB_STATUSES.map((status) => (
                    <th scope="col">
                      <StatusBadge status={status} />
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {overview.counts.map((row) => (
                  <tr data-task={row.task}>
                    <th scope="row">{row.task}</th>
                    {JOB_STATUSES.map((status) => (
                      <td data-status={status}>{String(row[status])}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
        <section aria-labelledby="uw-activity-title">
          <h2 id="uw-activity-title">Started, succeeded and failed</h2>
          <div class="uw-charts">
            <Activity id="uw-chart-hour" title="Jobs per minute, last hour" series={overview.lastHour} per="minute" />
            <Activity
              id="uw-chart-day"
              title="Jobs per 30 minutes, last day"
              series={overview.lastDay}
              per="30 minutes"
            />
          </div>
        </section>
        <section aria-labelledby="uw-runtimes-title">
          <h2 id="uw-runtimes-title">Run times</h2>
          <div class="uw-charts">
            <RunTimesTable id="uw-runtimes-hour" caption="Last hour" rows={overview.lastHour.runTimes} />
            <RunTimesTable id="uw-runtimes-day" caption="Last day" rows={overview.lastDay.runTimes} />
          </div>
        </section>
        <section aria-labelledby="uw-depth-title">
          <h2 id="uw-depth-title">Queues</h2>
          <div class="uw-charts">
            <Depth
              id="uw-chart-depth-hour"
              title="Queue depth per minute, last hour"
              series={overview.depth.lastHour}
              per="minute"
            />
            <Depth
              id="uw-chart-depth-day"
              title="Queue depth per 30 minutes, last day (highest)"
              series={overview.depth.lastDay}
              per="30 minutes"
            />
          </div>
          <div class="uw-table-scroll">
            <table class="uw-figures" id="uw-depth">
              <thead>
                <tr>
                  <th scope="col">Queue</th>
                  <th scope="col">Waiting</th>
                  <th scope="col">Running</th>
                  <th scope="col">Oldest waiting</th>
                </tr>
              </thead>
              <tbody>
                {overview.queues.map((queue) => (
                  <tr data-queue={queue.name}>
                    <th scope="row">
                      {queue.name}
                      {queue.paused && <span class="uw-muted"> (paused)</span>}
                    </th>
                    <td data-field="due">{String(queue.usage.due)}</td>
                    <td data-field="running">{String(queue.usage.running)}</td>
                    <td>
                      <Ago iso={queue.usage.oldestDueAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
        <section aria-labelledby="uw-workers-title">
          <h2 id="uw-workers-title">Workers</h2>
          <Workers workers={overview.workers} jobPath={jobPath} />
        </section>
      </div>
    </Layout>
  );
}

/**
 * Waiting and running jobs of every queue together, as sampled by the workers each minute; a
 * minute no worker sampled (none ran) is a gap in the line, not a zero.
 */
function Depth({ id, title, series, per }: { id: string; title: string; series: DepthSeriesJson; per: string }) {
  const count = series.buckets.length;
  const measured = series.buckets.filter((b) => b.due !== null);
  const peak = (key: 'due' | 'running') => Math.max(0, ...measured.map((b) => b[key] ?? 0));
  const last = measured.at(-1);
  const summary =
    measured.length === 0
      ? 'No samples: no worker ran in this time.'
      : `At most ${peak('due')} waiting and ${peak('running')} running; ${last?.due} waiting and ${last?.running} running at ${last?.at.slice(11, 16)} UTC. Sampled in ${measured.length} of ${count} ${per === 'minute' ? 'minutes' : 'half hours'}.`;
  return (
    <LineChart
      id={id}
      title={title}
      per={per}
      summary={summary}
      labels={series.buckets.map((b) => `${b.at.slice(11, 16)} UTC`)}
      ticks={ticksOf(series.bucketMs, count)}
      series={[
        { key: 'due', label: 'Waiting', values: series.buckets.map((b) => b.due) },
        { key: 'running', label: 'Running', values: series.buckets.map((b) => b.running) },
      ]}
    />
  );
}

/** "−60 min", "−45 min", …, "now" along the x axis of a chart of `count` buckets. */
function ticksOf(bucketMs: number, count: number): [number, string][] {
  const minutes = (bucketMs * count) / 60_000;
  const ago = (i: number) => {
    const left = ((count - i) * minutes) / count;
    return left >= 120 ? `${Math.round(left / 60)} h` : `${Math.round(left)} min`;
  };
  const ticks = [0, 0.25, 0.5, 0.75].map((f): [number, string] => [
    Math.round(f * count),
    `−${ago(Math.round(f * count))}`,
  ]);
  return [...ticks, [count - 1, 'now']];
}

function Activity({ id, title, series, per }: { id: string; title: string; series: SeriesJson; per: string }) {
  return (
    <LineChart
      id={id}
      title={title}
      per={per}
      labels={series.buckets.map((b) => `${b.at.slice(11, 16)} UTC`)}
      ticks={ticksOf(series.bucketMs, series.buckets.length)}
      series={[
        { key: 'started', label: 'Started', values: series.buckets.map((b) => b.started) },
        { key: 'succeeded', label: 'Succeeded', values: series.buckets.map((b) => b.succeeded) },
        { key: 'failed', label: 'Failed', values: series.buckets.map((b) => b.failed) },
      ]}
    />
  );
}

/** "340 ms", "2 s", "3 min 5 s". */
export function runTime(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : humanDuration(ms / 1000);
}

function RunTimesTable({ id, caption, rows }: { id: string; caption: string; rows: readonly RunTimes[] }) {
  return (
    <div class="uw-table-scroll">
      <table class="uw-figures" id={id}>
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">Runs</th>
            <th scope="col">p50</th>
            <th scope="col">p95</th>
            <th scope="col">p99</th>
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 && (
            <tr>
              <td colspan={5} class="uw-muted">
                No job ended.
              </td>
            </tr>
          )}
          {rows.map((row) => (
            <tr data-task={row.task}>
              <th scope="row">{row.task}</th>
              <td data-field="count">{String(row.count)}</td>
              <td data-field="p50" data-ms={String(row.p50)}>
                {runTime(row.p50)}
              </td>
              <td data-field="p95" data-ms={String(row.p95)}>
                {runTime(row.p95)}
              </td>
              <td data-field="p99" data-ms={String(row.p99)}>
                {runTime(row.p99)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Workers({ workers, jobPath }: { workers: readonly WorkerJson[]; jobPath: (id: string) => string }) {
  const alive = workers.filter((w) => w.alive).length;
  return (
    <>
      <p class="uw-muted" id="uw-workers-alive" data-alive={String(alive)}>
        {alive === 1 ? '1 worker alive' : `${alive} workers alive`}
        {workers.length > alive && `, ${workers.length - alive} not heard from lately`}
      </p>
      <ul class="uw-workers">
        {workers.map((worker) => (
          <li class="uw-card" data-worker={worker.id} data-alive={String(worker.alive)}>
            <h3>{worker.id}</h3>
            <dl class="uw-facts">
              <dt>State</dt>
              <dd>{worker.alive ? 'Alive' : 'Not heard from (stopped or stuck)'}</dd>
              <dt>Host</dt>
              <dd>{`${worker.host}, pid ${worker.pid}`}</dd>
              <dt>Last seen</dt>
              <dd>
                <Ago iso={worker.seenAt} />
              </dd>
              <dt>Started</dt>
              <dd>
                <Ago iso={worker.startedAt} />
              </dd>
              <dt>Tasks</dt>
              <dd>{worker.tasks.join(', ')}</dd>
              <dt>Running</dt>
              <dd data-field="running" data-count={String(worker.running.length)}>
                {`${worker.running.length} of ${worker.concurrency}`}
                {worker.running.length > 0 && (
                  <ul class="uw-running">
                    {worker.running.map((job) => (
                      <li>
                        <a href={jobPath(job.id)}>{job.task}</a> <Ago iso={job.startedAt} />
                      </li>
                    ))}
                  </ul>
                )}
              </dd>
            </dl>
          </li>
        ))}
      </ul>
    </>
  );
}
