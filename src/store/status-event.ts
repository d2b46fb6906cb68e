import type { Job } from '../core/job.ts';
import type { JobEvent } from './store.ts';

/** The `status` event every store publishes when a job changes state: one shape for all backends. */
export function statusEvent(job: Job): JobEvent {
  const event: JobEvent = {
    type: 'status',
    jobId: job.id,
    task: job.task,
    owner: job.owner,
    status: job.status,
    cancelRequested: job.cancelRequested,
  };
  if (job.error) event.error = job.error;
  if (job.status === 'succeeded') event.result = job.result;
  return event;
}
