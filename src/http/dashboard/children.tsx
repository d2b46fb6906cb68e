import type { Job } from '../../core/job.ts';
import { type AppContext, type Deps, jobJson } from '../context.ts';
import { childrenJson, type JobChildrenJson, type JobJson } from '../job-json.ts';
import { ProgressBar, StatusBadge } from './parts.tsx';

/** A job page's child jobs: the first ones read for the page, and how many there are in all. */
export interface ChildrenView {
  summary: JobChildrenJson;
  jobs: JobJson[];
}

/** Children listed on a job page at most; the counts above the table cover them all. */
export const CHILDREN_SHOWN = 100;

/** A job's children for its page, or undefined without any: their counts, and the first ones, oldest first. */
export async function childrenView(c: AppContext, deps: Deps, job: Job): Promise<ChildrenView | undefined> {
  const summary = childrenJson(job.id, await deps.jobs.childSummary(job.id), deps.paths);
  if (!summary) return undefined;
  const page = await deps.jobs.list({ parent: job.id, limit: CHILDREN_SHOWN });
  return { summary, jobs: page.jobs.reverse().map((child) => jobJson(c, deps, child)) };
}

/**
 * The children a job started (ctx.spawn): counts, then one row per child with its status and bar,
 * each linking to its own page. Minimal on purpose: a tree of grandchildren is a click away.
 */
export function Children({ view }: { view: ChildrenView }) {
  const { summary, jobs } = view;
  const ended = summary.succeeded + summary.failed + summary.cancelled;
  return (
    <section class="uw-card" aria-labelledby="uw-children-title" data-children={String(summary.total)}>
      <h2 id="uw-children-title">Child jobs</h2>
      <p class="uw-muted">
        {ended} of {summary.total} ended: {summary.succeeded} succeeded, {summary.failed} failed, {summary.cancelled}{' '}
        cancelled; {summary.running} running, {summary.queued} queued.
        {summary.total > jobs.length && ` The latest ${jobs.length} are listed.`}
      </p>
      <table class="uw-jobs">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Status</th>
            <th scope="col">Progress</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((child) => (
            <tr data-job={child.id} data-status={child.status}>
              <td class="uw-summary">
                <a href={child.urls.page}>{child.childName ?? child.id}</a> <span class="uw-muted">{child.task}</span>
              </td>
              <td>
                <StatusBadge status={child.status} cancelRequested={child.cancelRequested} />
              </td>
              <td>
                <ProgressBar job={child} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
