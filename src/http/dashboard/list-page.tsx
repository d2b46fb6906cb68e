import { humanDuration } from '../../core/format.ts';
import { JOB_STATUSES, type JobStatus } from '../../core/job.ts';
import type { AnyTask } from '../../core/task.ts';
import type { JobJson } from '../job-json.ts';
import { type FormState, StartForm } from './forms.tsx';
import { Layout } from './layout.tsx';
import { Operations, type OperationsProps } from './operations.tsx';
import { homePath, type PageFrame } from './page-context.ts';
import { Ago, humanBytes, ProgressBar, resultSummary, StatusBadge, Waiting } from './parts.tsx';

export interface ListPageProps {
  frame: PageFrame;
  jobs: JobJson[];
  /** Tasks this user may start, each with a form. */
  startable: AnyTask[];
  /** All task names, for the filter. */
  taskNames: string[];
  filter: { status: JobStatus | ''; task: string; q: string; cursor: string };
  nextCursor: string | null;
  /** What the last bulk action did, to say so above the list. */
  bulkDone?: BulkNotice | undefined;
  form?: FormState | undefined;
  /** For admins: the tasks with their pause state, and the schedules (operations.tsx). */
  operations?: Omit<OperationsProps, 'pagesPath' | 'csrf'> | undefined;
}

export interface BulkNotice {
  action: 'cancel' | 'retry' | 'delete';
  done: number;
  skipped: number;
}

const BULK_VERBS = { cancel: 'Cancelled', retry: 'Retried', delete: 'Deleted' } as const;

/**
 * The job list, newest first: filters, pages, a start form per task. Without JavaScript it is a
 * plain page (reload to see changes); with it, one `/api/events` stream moves the bars and the
 * list is redrawn from this same page when a job starts or ends.
 */
export function ListPage(props: ListPageProps) {
  const { frame, jobs, startable, taskNames, filter, nextCursor, form, operations, bulkDone } = props;
  const here = homePath(frame.pagesPath);
  const query = (cursor: string) => {
    const q = new URLSearchParams();
    if (filter.status) q.set('status', filter.status);
    if (filter.task) q.set('task', filter.task);
    if (filter.q) q.set('q', filter.q);
    if (cursor) q.set('cursor', cursor);
    const text = q.toString();
    return text ? `${here}?${text}` : here;
  };
  return (
    <Layout frame={frame} title="Jobs" page="list">
      <h1>Jobs</h1>
      {startable.length > 0 && (
        <section aria-labelledby="uw-start-title">
          <h2 id="uw-start-title">Start a job</h2>
          <div class="uw-tasks-row">
            {startable.map((task) => (
              <StartForm task={task} action={`${frame.pagesPath}/jobs`} csrf={frame.csrf} state={form} />
            ))}
          </div>
        </section>
      )}
      <section aria-labelledby="uw-list-title">
        <h2 id="uw-list-title">Earlier and current jobs</h2>
        <form method="get" action={here} class="uw-filters">
          <div>
            <label for="uw-filter-status">Status</label>
            <select id="uw-filter-status" name="status">
              <option value="">any</option>
              {JOB_STATUSES.map((s) => (
                <option value={s} selected={s === filter.status}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="uw-filter-task">Task</label>
            <select id="uw-filter-task" name="task">
              <option value="">any</option>
              {taskNames.map((t) => (
                <option value={t} selected={t === filter.task}>
                  {t}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="uw-filter-q">Search</label>
            <input id="uw-filter-q" name="q" type="search" value={filter.q} placeholder="id or params text" />
          </div>
          <div>
            <button type="submit" class="uw-secondary">
              Filter
            </button>
          </div>
        </form>
        {bulkDone && (
          <p role="status" class="uw-notice">
            {`${BULK_VERBS[bulkDone.action]} ${bulkDone.done} ${bulkDone.done === 1 ? 'job' : 'jobs'}`}
            {bulkDone.skipped > 0 &&
              `; ${bulkDone.skipped} skipped (ended, changed or not yours meanwhile, or not allowed)`}
            .
          </p>
        )}
        {jobs.length > 0 && (
          // The rows' boxes belong to this form through their form attribute: no form around the table.
          <form id="uw-bulk" method="post" action={`${frame.pagesPath}/jobs/bulk`} class="uw-inline-form">
            <input type="hidden" name="_csrf" value={frame.csrf} />
            <input type="hidden" name="back" value={query(filter.cursor)} />
            <label for="uw-bulk-action">With the selected jobs</label>
            <select id="uw-bulk-action" name="action">
              <option value="cancel">Cancel</option>
              <option value="retry">Retry</option>
              <option value="delete">Delete</option>
            </select>
            <button type="submit" class="uw-secondary">
              Apply
            </button>
          </form>
        )}
        <div id="uw-jobs" data-live-region="">
          {jobs.length === 0 ? (
            <p class="uw-muted">No jobs{filter.status || filter.task || filter.q ? ' match this filter' : ' yet'}.</p>
          ) : (
            <table class="uw-jobs">
              <thead>
                <tr>
                  <th scope="col">
                    <span class="uw-sr">Select</span>
                  </th>
                  <th scope="col">Job</th>
                  <th scope="col">Status</th>
                  <th scope="col">Progress or result</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {jobs.map((job) => (
                  <JobRow job={job} />
                ))}
              </tbody>
            </table>
          )}
          <nav class="uw-pager" aria-label="Pages">
            {filter.cursor && <a href={query('')}>Newest</a>}
            {nextCursor && <a href={query(nextCursor)}>Older jobs</a>}
          </nav>
        </div>
      </section>
      {operations && <Operations pagesPath={frame.pagesPath} csrf={frame.csrf} {...operations} />}
    </Layout>
  );
}

function JobRow({ job }: { job: JobJson }) {
  const unfinished = job.status === 'queued' || job.status === 'running';
  return (
    <tr data-job={job.id} data-status={job.status}>
      <td class="uw-select">
        <input type="checkbox" name="job" value={job.id} form="uw-bulk" aria-label={`Select ${job.task} ${job.id}`} />
      </td>
      <td>
        <a href={job.urls.page}>{job.task}</a>
        <div class="uw-muted uw-summary">{job.id.slice(0, 8)}</div>
      </td>
      <td>
        <StatusBadge status={job.status} cancelRequested={job.cancelRequested} />
      </td>
      <td>
        {unfinished ? (
          <>
            <ProgressBar job={job} />
            {job.waiting && <Waiting waiting={job.waiting} />}
          </>
        ) : (
          <div class="uw-summary">
            <span class="uw-result">{resultSummary(job)}</span>
            {job.artifacts.map((file) => (
              <div>
                <a href={file.url} download={file.name}>
                  Download {file.name}
                </a>{' '}
                <span class="uw-muted">({humanBytes(file.size)})</span>
              </div>
            ))}
          </div>
        )}
      </td>
      <td class="uw-when">
        <Ago iso={job.createdAt} />
        <RunTime job={job} />
      </td>
    </tr>
  );
}

/** How long it ran, once it has ended; when it started, while it runs. */
function RunTime({ job }: { job: JobJson }) {
  if (!job.startedAt) return null;
  if (job.status === 'running') {
    return (
      <div>
        started <Ago iso={job.startedAt} />
      </div>
    );
  }
  if (!job.finishedAt) return null;
  const seconds = (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000;
  return <div>ran {seconds < 1 ? 'under a second' : humanDuration(seconds)}</div>;
}
