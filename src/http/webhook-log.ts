/** The webhook delivery log as the API (`/jobs/:id/webhooks`, `/webhooks/deliveries`) and the job page show it. */
import type { IsoDate, TerminalStatus } from '../core/job.ts';
import type { Store } from '../store/store.ts';
import type { StoredWebhookDelivery, WebhookAttempt, WebhookDeliveryFilter } from '../store/webhook-deliveries.ts';

/** One delivery as the API and the job page show it. */
export interface WebhookDelivery {
  id: string;
  jobId: string;
  /**
   * The whole URL for admins; its origin only (scheme, host, port) for a job's owner. An e-mail to
   * the owner: `mailto:` and the address of its latest try (`mailto:` alone before the first).
   */
  url: string;
  type: `job.${TerminalStatus}`;
  state: StoredWebhookDelivery['state'];
  attempts: number;
  nextAttemptAt: IsoDate | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: IsoDate;
  updatedAt: IsoDate;
  /** The latest tries, oldest first. */
  log: WebhookAttempt[];
}

/**
 * Deliveries as the API shows them, newest first; `fullUrls` for admins, else each URL cut to its
 * origin (a receiver's path or query may hold a token of its own). None when the store keeps none.
 */
export async function readDeliveries(
  store: Store,
  filter: WebhookDeliveryFilter,
  fullUrls: boolean,
): Promise<WebhookDelivery[]> {
  const stored = (await store.listWebhookDeliveries?.(filter)) ?? [];
  return stored.map(({ event, url, ...rest }) => ({
    ...rest,
    url: url.startsWith('mailto:') ? mailtoOf(url, rest.log) : fullUrls ? url : originOf(url),
    type: `job.${event}` as const,
  }));
}

/** The owner's own address, which the owner may see: where the latest try went. */
function mailtoOf(url: string, log: readonly WebhookAttempt[]): string {
  const to = log.findLast((attempt) => attempt.to)?.to;
  return to ? `mailto:${to}` : url;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '[invalid URL]';
  }
}
