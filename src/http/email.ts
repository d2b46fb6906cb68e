import type { SMTPPoolOptions, SMTPTransportOptions } from 'nodemailer';
import type { Job, TerminalStatus } from '../core/job.ts';
import type { TaskRegistry } from '../core/registry.ts';
import type { StoredWebhookDelivery } from '../store/webhook-deliveries.ts';
import { composeMessage, type EmailMessageInput, type MessageParts } from './email-message.tsx';
import { jobUrls, type UrlPaths } from './job-json.ts';
import type { OutboxSender, TryResult } from './outbox.ts';

export type { EmailMessage, EmailMessageInput } from './email-message.tsx';

/**
 * E-mail to a job's owner when it ends, for the tasks that opt in (`defineTask({ notify: { email:
 * true } })`), sent through SMTP by nodemailer from the store's outbox: retried, logged on the
 * job's page, one message per ending (docs/http.md#e-mail).
 *
 * @example
 * email: {
 *   transport: process.env.SMTP_URL, // smtps://user:pass@smtp.example.com
 *   from: '"Backups" <noreply@example.com>',
 *   baseUrl: 'https://app.example.com',
 *   ownerAddress: async (owner) => (await users.find(owner))?.email ?? null,
 * }
 */
export interface EmailOptions {
  /** The SMTP server: nodemailer's SMTP (or pool) options, or a connection URL such as `smtps://user:pass@smtp.example.com:465`. */
  transport: SMTPTransportOptions | SMTPPoolOptions | string;
  /** The From header, e.g. `"Backups" <noreply@example.com>`. */
  from: string;
  /**
   * Where people reach the app (its origin, and the prefix a proxy adds, if any), e.g.
   * `https://app.example.com`: the message links to `{baseUrl}{pagesPath}/jobs/ID`.
   */
  baseUrl: string;
  /**
   * The address of a job's owner (the user id the job was started by), or null for none: that
   * job's e-mail is then given up, and its delivery log says so. Called when the message is sent,
   * in whichever process sends it (a worker too). Default: the owner's id when it is an address.
   */
  ownerAddress?:
    | ((owner: string, job: Job) => string | null | undefined | Promise<string | null | undefined>)
    | undefined;
  /** Which endings to e-mail. Default all three. */
  events?: readonly TerminalStatus[] | undefined;
  /** The subject. Default "Backup succeeded", "Backup failed: <error message>", "Backup was cancelled". */
  subject?: ((input: EmailMessageInput) => string) | undefined;
  /** The plain-text body. Default the task, status, result or error, run time and the link. */
  text?: ((input: EmailMessageInput) => string) | undefined;
  /**
   * The HTML body; `false` sends plain text only. Default: the text's facts as a small table, every
   * value escaped; none when a `text` of the host's is given without an `html`.
   */
  html?: ((input: EmailMessageInput) => string | Promise<string>) | false | undefined;
  /** Tries per message, the first included. Default 6; an SMTP refusal (5xx) gives up at once. */
  maxAttempts?: number | undefined;
  /** Waits before the 2nd, 3rd… try; the last repeats. Default 1 s, 5 s, 30 s, 2 min, 10 min. */
  retryDelaysMs?: readonly number[] | undefined;
  /** Per try (connecting, greeting, each reply, and the whole). Default 30 s. */
  timeoutMs?: number | undefined;
  /** As `webhooks.pollMs` (the outbox has one sweep: the shorter of the two). Default 5 000 ms. */
  pollMs?: number | undefined;
}

/**
 * The url of every e-mail delivery: "the job's owner", resolved when it is sent. One row per
 * ending whatever the owner's address turns out to be, so a resolver that answers differently in
 * two processes still sends one message; the address it went to is kept in the try's log.
 */
export const OWNER_MAILTO = 'mailto:';

const DEFAULT_RETRY_DELAYS_MS = [1_000, 5_000, 30_000, 120_000, 600_000];
/** Looks like one address: what a user id must be for the default `ownerAddress`. */
const ADDRESS = /^[^\s@<>",;]+@[^\s@<>",;]+$/;

type Transporter = ReturnType<typeof import('nodemailer').createTransport>;

/**
 * The outbox's e-mail sender, or null when no task opts in. Throws a TypeError, when the app is
 * made, on a `from` or `baseUrl` that cannot work.
 */
export function emailSender(options: EmailOptions, tasks: TaskRegistry, paths: UrlPaths): OutboxSender | null {
  if (!options.from?.trim()) throw new TypeError('email.from is required: the address messages are sent from.');
  const base = new URL(options.baseUrl);
  if (!/^https?:$/.test(base.protocol)) throw new TypeError(`email.baseUrl must be http(s): ${options.baseUrl}`);
  const optedIn = tasks
    .all()
    .filter((task) => task.notify?.email === true)
    .map((task) => task.name);
  if (optedIn.length === 0) return null;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const parts: MessageParts = { subject: options.subject, text: options.text, html: options.html };
  const origin = options.baseUrl.replace(/\/+$/, '');
  // A stable Message-ID per ending: a try made again after an unclear end (a timeout after the
  // message was handed over) carries the same one, for the receiving side to drop.
  const idDomain = base.hostname || 'underway';
  let transporter: Promise<Transporter> | null = null;
  const connect = (): Promise<Transporter> => {
    // nodemailer is loaded by the first message, not by every app that imports underway/http.
    transporter ??= import('nodemailer').then((nodemailer) => {
      const limits = { connectionTimeout: timeoutMs, greetingTimeout: timeoutMs, socketTimeout: timeoutMs };
      const transport = typeof options.transport === 'string' ? { url: options.transport } : options.transport;
      return nodemailer.createTransport({ ...limits, ...transport });
    });
    return transporter;
  };

  return {
    name: 'e-mail',
    part: 'email',
    urls: [OWNER_MAILTO],
    statuses: [...new Set<TerminalStatus>(options.events ?? ['succeeded', 'failed', 'cancelled'])],
    tasks: optedIn,
    maxAttempts: Math.max(1, options.maxAttempts ?? 6),
    retryDelaysMs: options.retryDelaysMs?.length ? options.retryDelaysMs : DEFAULT_RETRY_DELAYS_MS,
    timeoutMs,
    finishOnClose: true,
    async send(delivery: StoredWebhookDelivery, job: Job, signal: AbortSignal): Promise<TryResult> {
      const to = await addressOf(job, options.ownerAddress);
      if (typeof to !== 'string') return { status: null, error: to.none, permanent: true };
      const message = await composeMessage({ job, link: `${origin}${jobUrls(job.id, paths).page}` }, parts);
      try {
        const info = await (await connect()).sendMail({
          from: options.from,
          to,
          subject: message.subject,
          text: message.text,
          ...(message.html === null ? {} : { html: message.html }),
          messageId: `<${delivery.id}@${idDomain}>`,
          signal,
        });
        return { status: replyCode(info.response) ?? 250, error: null, to };
      } catch (thrown) {
        return { ...describeRefusal(thrown), to };
      }
    },
    async close() {
      if (transporter) (await transporter.catch(() => null))?.close();
    },
  };
}

/** The owner's address, or why there is none. */
async function addressOf(job: Job, resolve: EmailOptions['ownerAddress']): Promise<string | { none: string }> {
  if (job.owner === null) return { none: 'The job has no owner to e-mail.' };
  const address = resolve ? await resolve(job.owner, job) : ADDRESS.test(job.owner) ? job.owner : null;
  return address?.trim() ? address.trim() : { none: `No e-mail address for the owner "${job.owner}".` };
}

/** What an SMTP failure says: the server's reply (nodemailer marks a 5xx refusal permanent), or the network's error. */
function describeRefusal(thrown: unknown): TryResult {
  const error = thrown as {
    message?: unknown;
    responseCode?: unknown;
    permanent?: unknown;
    code?: unknown;
    name?: unknown;
  };
  const status = typeof error.responseCode === 'number' ? error.responseCode : null;
  const message = typeof error.message === 'string' ? error.message : String(thrown);
  if (error.name === 'TimeoutError' || error.code === 'ETIMEDOUT') return { status, error: 'timed out' };
  const code = typeof error.code === 'string' && !message.includes(error.code) ? ` (${error.code})` : '';
  return { status, error: `${message}${code}`, permanent: error.permanent === true };
}

/** "250 2.0.0 OK: queued as 1234" → 250. */
function replyCode(response: unknown): number | null {
  const match = typeof response === 'string' ? /^(\d{3})/.exec(response) : null;
  return match ? Number(match[1]) : null;
}
