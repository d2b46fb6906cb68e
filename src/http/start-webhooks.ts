import { TaskRegistry } from '../core/registry.ts';
import type { AnyTask } from '../core/task.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
import { emailSender } from './email.ts';
import { toJobJson } from './job-json.ts';
import { type HttpOptions, resolvePaths } from './options.ts';
import { OutboxDispatcher, type OutboxSender } from './outbox.ts';
import { webhookSender } from './webhooks.ts';

export interface StartWebhooksOptions {
  store: Store;
  tasks: readonly AnyTask[] | TaskRegistry;
  /** The HTTP options (`webhooks`, `email`, and the paths the payload's and the message's job links to). */
  http: HttpOptions;
  logger: Logger;
}

/** The sweep's period unless `webhooks.pollMs` or `email.pollMs` says otherwise. */
const DEFAULT_POLL_MS = 5_000;

/**
 * Starts sending the outbox from this process when `http.webhooks` names URLs or `http.email` is
 * configured for a task that opts in (else null): what `createUnderway` does, and `underway
 * worker`, which serves no API but sends all the same, so a fleet of `serve --no-worker` and
 * workers announces every job whichever of them is alive. The webhook payload's job is the API's
 * job object (error detail included) with links at `http`'s paths; the e-mail links to the job's page.
 */
export function startWebhooks(options: StartWebhooksOptions): OutboxDispatcher | null {
  const { webhooks, email } = options.http;
  const resolved = resolvePaths(options.http);
  const paths = { basePath: resolved.basePath, pagesPath: resolved.pagesPath };
  const tasks = options.tasks instanceof TaskRegistry ? options.tasks : new TaskRegistry(options.tasks);
  const senders: OutboxSender[] = [];
  if (webhooks?.urls.length) {
    const render = (job: Parameters<typeof toJobJson>[0]) => toJobJson(job, { paths, tasks, detail: true });
    senders.push(webhookSender(webhooks, render));
  }
  if (email) {
    const sender = emailSender(email, tasks, paths);
    if (sender) senders.push(sender);
    else options.logger.warn({ part: 'email' }, 'email is configured but no task opts in (notify: { email: true })');
  }
  if (senders.length === 0) return null;
  const polls = [webhooks?.urls.length ? webhooks.pollMs : undefined, email?.pollMs];
  const pollMs = Math.min(...polls.map((ms) => ms ?? DEFAULT_POLL_MS));
  return new OutboxDispatcher(options.store, senders, pollMs, options.logger).start();
}
