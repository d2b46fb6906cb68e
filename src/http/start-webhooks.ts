import { TaskRegistry } from '../core/registry.ts';
import type { AnyTask } from '../core/task.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/store.ts';
import { toJobJson } from './job-json.ts';
import { type HttpOptions, resolvePaths } from './options.ts';
import { WebhookDispatcher } from './webhooks.ts';

export interface StartWebhooksOptions {
  store: Store;
  tasks: readonly AnyTask[] | TaskRegistry;
  /** The HTTP options (`webhooks`, and the paths the payload's job links to). */
  http: HttpOptions;
  logger: Logger;
}

/**
 * Starts sending webhooks from this process when `http.webhooks` names URLs (else null): what
 * `createUnderway` does, and `underway worker`, which serves no API but sends all the same, so a
 * fleet of `serve --no-worker` and workers announces every job whichever of them is alive. The
 * payload's job is the API's job object (error detail included) with links at `http`'s paths.
 */
export function startWebhooks(options: StartWebhooksOptions): WebhookDispatcher | null {
  const webhooks = options.http.webhooks;
  if (!webhooks?.urls.length) return null;
  const resolved = resolvePaths(options.http);
  const paths = { basePath: resolved.basePath, pagesPath: resolved.pagesPath };
  const tasks = options.tasks instanceof TaskRegistry ? options.tasks : new TaskRegistry(options.tasks);
  const render = (job: Parameters<typeof toJobJson>[0]) => toJobJson(job, { paths, tasks, detail: true });
  return new WebhookDispatcher(options.store, webhooks, render, options.logger).start();
}
