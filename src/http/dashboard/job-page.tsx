import { type AttemptView, attemptHistory } from '../../core/attempts.ts';
import { logAttemptTitle, NOTHING_PRINTED } from '../../core/format.ts';
import { isTerminal, type ProgressSample } from '../../core/job.ts';
import type { StepSummary } from '../../core/steps.ts';
import type { LogLine } from '../../store/store.ts';
import type { JobJson } from '../job-json.ts';
import type { WebhookDelivery } from '../webhook-log.ts';
import { Children, type ChildrenView } from './children.tsx';
import { Attempts, DurationFacts, Timeline } from './job-history.tsx';
import { Layout } from './layout.tsx';
import { homePath, type PageFrame } from './page-context.ts';
import { Ago, humanBytes, JsonView, ProgressBar, StatusBadge, Waiting } from './parts.tsx';
import { ProgressChart } from './progress-chart.tsx';
import { ResultView } from './result-view.tsx';

export interface JobPageProps {
  frame: PageFrame;
  job: JobJson;
  logs: LogLine[];
  /** Its progress over time (the chart shows from two samples on). */
  progressSamples: readonly ProgressSample[];
  /** Owner or admin: may cancel, retry, delete (a share link may only look). */
  canChange: boolean;
  /** The job's webhook deliveries, for its owner and admins (none, or not given: no section). */
  webhooks?: readonly WebhookDelivery[] | undefined;
  /** The child jobs it started (ctx.spawn); none, or not given: no section. */
  children?: ChildrenView | undefined;
}

/** Seconds between reloads of an unfinished job's page in a browser without JavaScript. */
export const NO_SCRIPT_REFRESH_SECONDS = 2;

/**
 * A job's own page, bookmarkable and shareable: status, bar, actions, error, result, files,
 * facts and the log tail. Everything it shows is what the server knows now; with JavaScript the
 * bar is live and the log grows, and when the job ends the page redraws itself from the server.
 */
export function JobPage({ frame, job, logs, progressSamples, canChange, webhooks, children }: JobPageProps) {
  const unfinished = !isTerminal(job.status);
  const attempts = attemptHistory(job);
  return (
    <Layout
      frame={frame}
      title={`${job.task} ${job.status}`}
      page="job"
      refresh={unfinished ? NO_SCRIPT_REFRESH_SECONDS : undefined}
    >
      <p>
        <a href={homePath(frame.pagesPath)}>← All jobs</a>
      </p>
      <div
        id="uw-job"
        data-live-region=""
        data-job={job.id}
        data-status={job.status}
        data-cancelling={String(job.cancelRequested && !isTerminal(job.status))}
      >
        <h1>
          {job.task} <StatusBadge status={job.status} cancelRequested={job.cancelRequested} />
        </h1>
        <div class="uw-card">
          <ProgressBar job={job} live events={job.urls.events} />
          {job.waiting && <Waiting waiting={job.waiting} />}
          {canChange && <Actions frame={frame} job={job} />}
        </div>
        {job.error && <ErrorCard job={job} />}
        {job.status === 'succeeded' && (
          <section class="uw-card" aria-labelledby="uw-result-title">
            <h2 id="uw-result-title">Result</h2>
            {job.result === null ? <p class="uw-muted">No result value.</p> : <ResultView value={job.result} />}
          </section>
        )}
        {job.artifacts.length > 0 && (
          <section class="uw-card" aria-labelledby="uw-files-title">
            <h2 id="uw-files-title">Files</h2>
            <ul>
              {job.artifacts.map((file) => (
                <li>
                  <a href={file.url} download={file.name}>
                    Download {file.name}
                  </a>{' '}
                  <span class="uw-muted">
                    ({humanBytes(file.size)}, {file.contentType})
                  </span>
                </li>
              ))}
            </ul>
          </section>
        )}
        {progressSamples.length >= 2 && (
          <section class="uw-card" aria-labelledby="uw-progress-title">
            <h2 id="uw-progress-title">Progress over time</h2>
            <ProgressChart samples={progressSamples} />
          </section>
        )}
        {children && <Children view={children} />}
        <Attempts attempts={attempts} maxAttempts={job.maxAttempts} />
        <Timeline job={job} attempts={attempts} />
        <Facts job={job} attempts={attempts} />
        <Deliveries title="Webhooks" id="uw-webhooks-title" deliveries={webhooks?.filter((d) => !isEmail(d))} />
        <Deliveries title="E-mail" id="uw-email-title" deliveries={webhooks?.filter(isEmail)} />
      </div>
      <section class="uw-card" aria-labelledby="uw-log-title">
        <h2 id="uw-log-title">Log</h2>
        <LogGroups job={job} logs={logs} />
        {logs.length === 0 && (
          <p class="uw-muted uw-log-empty">{unfinished ? 'Nothing printed yet.' : NOTHING_PRINTED}</p>
        )}
      </section>
    </Layout>
  );
}

/**
 * The log tail, one block per attempt under its own heading once the job has been tried more than
 * once (lines carry the attempt that printed them). The last block is `#uw-log`, where the page's
 * script appends live lines, opening a new block when a line of a new attempt arrives.
 */
function LogGroups({ job, logs }: { job: JobJson; logs: readonly LogLine[] }) {
  const groups: { attempt: number | null; lines: LogLine[] }[] = [];
  for (const line of logs) {
    const last = groups.at(-1);
    if (last && last.attempt === line.attempt) last.lines.push(line);
    else groups.push({ attempt: line.attempt, lines: [line] });
  }
  if (groups.length === 0) groups.push({ attempt: job.attempt, lines: [] });
  const headed = groups.length > 1 || job.attempt > 1;
  return (
    <>
      {groups.map((group, i) => {
        const live = i === groups.length - 1;
        return (
          <>
            {headed && (
              <h3 class="uw-log-attempt" id={group.attempt === null ? undefined : `uw-log-attempt-${group.attempt}`}>
                {logAttemptTitle(group.attempt)}
              </h3>
            )}
            <pre
              class="uw-log"
              id={live ? 'uw-log' : undefined}
              data-logs={live ? job.urls.logs : undefined}
              data-next={live ? String(logs.at(-1)?.seq ?? 0) : undefined}
              data-attempt={group.attempt === null ? '' : String(group.attempt)}
              tabindex={0}
            >
              {group.lines
                .map((l) => `${l.at.slice(11, 19)} ${l.stream === 'stdout' ? '' : `[${l.stream}] `}${l.line}\n`)
                .join('')}
            </pre>
          </>
        );
      })}
    </>
  );
}

function Actions({ frame, job }: { frame: PageFrame; job: JobJson }) {
  const base = `${frame.pagesPath}/jobs/${encodeURIComponent(job.id)}`;
  const hidden = <input type="hidden" name="_csrf" value={frame.csrf} />;
  const unfinished = !isTerminal(job.status);
  return (
    <div class="uw-actions">
      {unfinished && (
        <form method="post" action={`${base}/cancel`}>
          {hidden}
          {job.cancelRequested ? (
            <button type="submit" class="uw-danger" disabled aria-live="polite">
              Cancelling…
            </button>
          ) : (
            <button type="submit" class="uw-danger">
              Cancel
            </button>
          )}
        </form>
      )}
      {(job.status === 'failed' || job.status === 'cancelled') && (
        <form method="post" action={`${base}/retry`}>
          {hidden}
          <button type="submit">Retry</button>
        </form>
      )}
      {!unfinished && (
        <form method="post" action={`${base}/delete`}>
          {hidden}
          <button type="submit" class="uw-secondary" data-confirm="Delete this job, its log and its files?">
            Delete
          </button>
        </form>
      )}
    </div>
  );
}

function ErrorCard({ job }: { job: JobJson }) {
  const error = job.error;
  if (!error) return null;
  const title =
    job.status === 'cancelled' ? 'Cancelled' : job.status === 'failed' ? 'It failed' : 'Last attempt failed';
  return (
    <section
      class="uw-card uw-error"
      role={job.status === 'failed' ? 'alert' : undefined}
      aria-labelledby="uw-error-title"
    >
      <h2 id="uw-error-title">{title}</h2>
      <p class="uw-error-message">{error.message}</p>
      <p class="uw-muted">
        Code {error.code}
        {job.status === 'queued' ? `, attempt ${job.attempt} of ${job.maxAttempts}: it will be tried again.` : ''}
      </p>
      {error.detail && (
        <details>
          <summary>Details</summary>
          <pre>{error.detail}</pre>
        </details>
      )}
    </section>
  );
}

function Facts({ job, attempts }: { job: JobJson; attempts: readonly AttemptView[] }) {
  return (
    <section class="uw-card" aria-labelledby="uw-facts-title">
      <h2 id="uw-facts-title">About this job</h2>
      <dl class="uw-facts">
        <dt>Id</dt>
        <dd>{job.id}</dd>
        <dt>Attempt</dt>
        <dd>
          {job.attempt} of {job.maxAttempts}
        </dd>
        {job.steps && job.steps.recorded > 0 && <dt>Steps</dt>}
        {job.steps && job.steps.recorded > 0 && <dd data-steps="">{stepsText(job.steps)}</dd>}
        <dt>Created</dt>
        <dd>
          <Ago iso={job.createdAt} />
        </dd>
        <dt>Started</dt>
        <dd>
          <Ago iso={job.startedAt} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <Ago iso={job.finishedAt} />
        </dd>
        <DurationFacts job={job} attempts={attempts} />
        {job.owner !== null && <dt>Owner</dt>}
        {job.owner !== null && <dd>{job.owner}</dd>}
        {job.parentId && <dt>Child of</dt>}
        {job.parentId && (
          <dd>
            <a href={job.urls.page.replace(encodeURIComponent(job.id), encodeURIComponent(job.parentId))}>
              {job.parentId}
            </a>{' '}
            <span class="uw-muted">as {job.childName}</span>
          </dd>
        )}
        {job.retryOf && <dt>Retry of</dt>}
        {job.retryOf && (
          <dd>
            <a href={job.urls.page.replace(encodeURIComponent(job.id), encodeURIComponent(job.retryOf))}>
              {job.retryOf}
            </a>
          </dd>
        )}
      </dl>
      <h3>Params</h3>
      <JsonView value={job.params} label="Params" />
    </section>
  );
}

/** "Attempt 2 resumed after step file-11 (12 steps recorded)", or how many are recorded. */
function stepsText({ recorded, resumed }: StepSummary): string {
  const count = (n: number) => `${n} step${n === 1 ? '' : 's'} recorded`;
  if (!resumed) return count(recorded);
  const detail =
    recorded > resumed.recorded ? `${resumed.recorded} recorded before it, ${recorded} in all` : count(recorded);
  return `Attempt ${resumed.attempt} resumed after step ${resumed.afterStep} (${detail})`;
}

const DELIVERY_WORDS: Record<WebhookDelivery['state'], string> = {
  pending: 'Sending',
  delivered: 'Delivered',
  failed: 'Given up',
};

/** An e-mail to the owner (`mailto:`), beside the webhooks in the same outbox. */
const isEmail = (d: WebhookDelivery) => d.url.startsWith('mailto:');

/**
 * Who was told of the job's end, and how it went: one row per receiver (a webhook's origin, for an
 * owner; the address an e-mail went to). Nothing when there is none.
 */
function Deliveries({
  title,
  id,
  deliveries,
}: {
  title: string;
  id: string;
  deliveries?: WebhookDelivery[] | undefined;
}) {
  if (!deliveries?.length) return null;
  return (
    <section class="uw-card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <table class="uw-jobs">
        <thead>
          <tr>
            <th scope="col">Receiver</th>
            <th scope="col">State</th>
            <th scope="col">Tries</th>
            <th scope="col">Last answer</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.map((d) => (
            <tr data-delivery={d.id} data-state={d.state}>
              <td class="uw-summary">
                {isEmail(d) ? d.url.slice('mailto:'.length) || 'the owner' : d.url}{' '}
                <span class="uw-muted">{d.type}</span>
              </td>
              <td>
                {DELIVERY_WORDS[d.state]}
                {d.state === 'pending' && d.nextAttemptAt && (
                  <span class="uw-muted">
                    {' '}
                    (next try <time datetime={d.nextAttemptAt}>{d.nextAttemptAt.slice(11, 19)} UTC</time>)
                  </span>
                )}
              </td>
              <td>{d.attempts}</td>
              <td class="uw-summary">
                {d.attempts === 0 ? (
                  <span class="uw-muted">—</span>
                ) : (
                  (d.lastError ?? `${isEmail(d) ? 'SMTP' : 'HTTP'} ${d.lastStatus}`) +
                  (d.log.at(-1) ? ` (${d.log.at(-1)?.ms} ms)` : '')
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
