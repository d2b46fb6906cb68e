import type { JobJson } from '../job-json.ts';
import { Layout } from './layout.tsx';
import type { PageFrame } from './page-context.ts';
import { ProgressBar } from './parts.tsx';

/** Seconds between looks of the waiting page without JavaScript. */
export const WAIT_REFRESH_SECONDS = 1;

/**
 * "Working on it": shown by `startOrWait` when a job takes longer than the acceptable wait. It
 * goes to `redirectTo` when the job ends: with JavaScript as soon as the live bar hears the end, without
 * it through a refresh of the wait route, which answers 303 to it once the job has ended.
 */
export function WaitPage({
  frame,
  job,
  redirectTo,
  waitUrl,
}: {
  frame: PageFrame;
  job: JobJson;
  redirectTo: string;
  waitUrl: string;
}) {
  return (
    <Layout frame={frame} title={`Working: ${job.task}`} page="wait" refresh={WAIT_REFRESH_SECONDS} refreshTo={waitUrl}>
      <h1>Working on it…</h1>
      <div class="uw-card" id="uw-wait" data-redirect={redirectTo} data-job={job.id}>
        <ProgressBar job={job} live events={job.urls.events} />
        <p class="uw-muted">
          This page moves on by itself when the work is done. You may also leave it:{' '}
          <a href={job.urls.page}>the job's own page</a> shows how it went.
        </p>
      </div>
    </Layout>
  );
}
