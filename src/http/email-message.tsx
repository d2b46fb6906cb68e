/** The words of the e-mail a job's owner gets when it ends (email.ts sends it). */
import { humanDuration, visibleBidi } from '../core/format.ts';
import type { Job } from '../core/job.ts';

/** What a message is made of: the ended job and its page. */
export interface EmailMessageInput {
  /** The job as it ended (status, result or error, times). */
  job: Job;
  /** The job's page, absolute (`email.baseUrl` + the pages' path). */
  link: string;
}

/** A message as sent: the subject, plain text, and HTML (none when a host's own text has no HTML beside it). */
export interface EmailMessage {
  subject: string;
  text: string;
  html: string | null;
}

/** Longest result summary, in characters: the page has the rest. */
const RESULT_CHARS = 300;
/** Longest error message in a subject: mail clients cut around here anyway. */
const SUBJECT_ERROR_CHARS = 120;

/** "Backup succeeded", "Backup failed: disk full", "Backup was cancelled". */
export function defaultSubject({ job }: EmailMessageInput): string {
  const task = job.task.charAt(0).toUpperCase() + job.task.slice(1);
  if (job.status === 'succeeded') return `${task} succeeded`;
  if (job.status === 'cancelled') return `${task} was cancelled`;
  return `${task} failed: ${cut(oneLine(job.error?.message ?? 'no reason given'), SUBJECT_ERROR_CHARS)}`;
}

/** The plain-text body: one line per fact, then the link. */
export function defaultText(input: EmailMessageInput): string {
  // A value of many lines (an error's) stays in its column.
  const rows = facts(input.job).map(
    ([label, value]) => `${`${label}:`.padEnd(10)} ${value.replace(/\n/g, '\n           ')}`,
  );
  return `${defaultSubject(input)}\n\n${rows.join('\n')}\n\nSee the job: ${input.link}\n`;
}

/** The HTML body: the same facts; Hono's JSX escapes everything the job printed or threw. */
export async function defaultHtml(input: EmailMessageInput): Promise<string> {
  const page = (
    <html lang="en">
      <body>
        <p>{defaultSubject(input)}</p>
        <table>
          {facts(input.job).map(([label, value]) => (
            <tr>
              <th align="left" valign="top">
                {label}
              </th>
              <td style="white-space:pre-wrap">{value}</td>
            </tr>
          ))}
        </table>
        <p>
          <a href={input.link}>See the job</a>
        </p>
      </body>
    </html>
  );
  return `<!DOCTYPE html>${await page.toString()}`;
}

/**
 * Everything of a message, from the host's functions where given. Bidi controls a job's text
 * holds are shown (`\u202e`), never obeyed, as the dashboard does: a subject cannot be made to
 * read backwards.
 */
export async function composeMessage(input: EmailMessageInput, custom: MessageParts): Promise<EmailMessage> {
  const subject = oneLine((custom.subject ?? defaultSubject)(input));
  const text = (custom.text ?? defaultText)(input);
  // A host's own text with the default HTML beside it would say two different things.
  const html =
    custom.html === false || (custom.text && !custom.html) ? null : await (custom.html ?? defaultHtml)(input);
  return { subject: visibleBidi(subject), text: visibleBidi(text), html: html === null ? null : visibleBidi(html) };
}

/** The host's own parts of a message (`email.subject`, `email.text`, `email.html`). */
export interface MessageParts {
  subject?: ((input: EmailMessageInput) => string) | undefined;
  text?: ((input: EmailMessageInput) => string) | undefined;
  html?: ((input: EmailMessageInput) => string | Promise<string>) | false | undefined;
}

/** The facts both bodies show, in order. */
function facts(job: Job): [string, string][] {
  const rows: [string, string][] = [
    ['Task', job.task],
    ['Status', job.status],
  ];
  if (job.status === 'succeeded' && job.result !== null && job.result !== undefined) {
    rows.push(['Result', cut(JSON.stringify(job.result), RESULT_CHARS)]);
  }
  if (job.error)
    rows.push([job.status === 'cancelled' ? 'Reason' : 'Error', `${job.error.message} (${job.error.code})`]);
  rows.push(['Ran', ran(job)]);
  if (job.finishedAt) rows.push(['Ended', job.finishedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')]);
  return rows;
}

/** "3 s, attempt 1 of 3", or "did not start" for a job cancelled while it waited. */
function ran(job: Job): string {
  if (!job.startedAt || !job.finishedAt) return 'did not start';
  const seconds = (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000;
  return `${humanDuration(seconds)}, attempt ${job.attempt} of ${job.maxAttempts}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function cut(text: string, chars: number): string {
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}
