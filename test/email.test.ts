/**
 * E-mail to a job's owner when it ends, sent from the store's outbox through a real SMTP server
 * (the `smtp-server` package on 127.0.0.1), whose messages are read back parsed (`mailparser`):
 * one per ending, retried after a 4xx, given up after a 5xx, never twice however many processes
 * share the store (SQLite and PostgreSQL).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask } from '../src/core/task.ts';
import { createUnderway, type EmailOptions, type Underway } from '../src/http/index.ts';
import { postgresStore } from '../src/store/postgres/index.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/store.ts';
import { createWorker } from '../src/worker/index.ts';
import { json, silent } from './helpers/http.ts';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.ts';
import { SmtpInbox } from './helpers/smtp-inbox.ts';
import { tempDir } from './helpers/temp.ts';
import { waitForStatus } from './helpers/wait.ts';

/** What a failing backup throws: markup and an ampersand, which the HTML part must show, not obey. */
const HOSTILE = '<script>alert("x")</script> & disk full';

const backup = defineTask({
  name: 'backup',
  params: z.object({ dir: z.string() }),
  maxAttempts: 1,
  notify: { email: true },
  async run({ dir }) {
    if (dir === 'broken') throw new Error(HOSTILE);
    return { files: 3, dir };
  },
});
/** Not opted in: its owners get no e-mail. */
const quiet = defineTask({ name: 'quiet', params: z.object({}), async run() {} });
const tasks = [backup, quiet];

/** Bearer tokens; each user's id is what a job they start is owned by. */
const USERS = ['ann', 'bob', 'nobody', 'ann@example.com', 'bob@example.com'];
const tokenOf = (id: string) => `token-${id.replace(/\W/g, '-')}-0123456789abcdef`;

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
let database: TestDatabase | null = null;
afterAll(() => database?.drop());

async function smtp(refuse: number[] = []): Promise<SmtpInbox> {
  const inbox = await new SmtpInbox(refuse).listen();
  cleanups.push(() => inbox.close());
  return inbox;
}

function sqliteFile(): string {
  const dir = tempDir('underway-email-');
  cleanups.push(dir.cleanup);
  return dir.file('underway.db');
}

function sqlite(file: string): Store {
  const store = sqliteStore({ file });
  cleanups.push(() => store.close());
  return store;
}

async function postgres(schema: string): Promise<Store> {
  database ??= await createTestDatabase();
  const store = postgresStore({ connectionString: database.url, schema });
  await store.migrate();
  cleanups.push(() => store.close());
  return store;
}

/** An app ("a server process") with e-mail through `inbox`; waits for its first sweep (the start mark). */
async function app(store: Store, inbox: SmtpInbox, email: Partial<EmailOptions> = {}): Promise<Underway> {
  const underway = createUnderway({
    store,
    tasks,
    logger: silent,
    auth: { tokens: USERS.map((id) => ({ token: tokenOf(id), id })) },
    email: {
      transport: inbox.url,
      from: '"Underway" <jobs@example.com>',
      baseUrl: 'https://app.example.com/',
      ownerAddress: (owner) => (owner === 'nobody' ? null : `${owner}@example.com`),
      retryDelaysMs: [20],
      pollMs: 50,
      ...email,
    },
  });
  cleanups.push(() => underway.close());
  await underway.webhooks?.idle();
  return underway;
}

function worker(store: Store): void {
  const running = createWorker({ store, tasks, logger: silent, pollMs: 50 }).start();
  cleanups.push(() => running.stop({ graceMs: 0 }));
}

/** Starts a job through the API as `user` (its owner). */
async function start(underway: Underway, user: string, task: string, params: unknown) {
  const response = await underway.app.request('/underway/api/jobs', {
    method: 'POST',
    headers: { authorization: `Bearer ${tokenOf(user)}`, 'content-type': 'application/json' },
    body: JSON.stringify({ task, params }),
  });
  expect(response.status).toBe(201);
  return (await json(response)) as { id: string };
}

const deliveriesOf = async (underway: Underway, jobId: string) =>
  (await underway.webhooks?.deliveries({ jobId })) ?? [];

describe('e-mail to the owner when a job ends', () => {
  it('sends one message for a success, with the subject, the facts and an absolute link to the job', async () => {
    const inbox = await smtp();
    const store = sqlite(sqliteFile());
    const underway = await app(store, inbox);
    worker(store);
    const job = await start(underway, 'ann', 'backup', { dir: '/srv' });
    const [mail] = await inbox.until((i) => i.received.length >= 1 && i.to('ann@example.com'));
    await underway.webhooks?.idle();

    const link = `https://app.example.com/underway/jobs/${job.id}`;
    expect(inbox.received).toHaveLength(1);
    expect(mail?.subject).toBe('Backup succeeded');
    expect(mail?.from?.value).toEqual([{ address: 'jobs@example.com', name: 'Underway' }]);
    expect(mail?.messageId).toBe(`<${job.id}.succeeded@app.example.com>`);
    expect(mail?.text).toContain('Status:    succeeded');
    expect(mail?.text).toContain('Result:    {"files":3,"dir":"/srv"}');
    expect(mail?.text).toContain(`See the job: ${link}`);
    expect(mail?.html).toContain(`<a href="${link}">See the job</a>`);

    const [delivery] = await deliveriesOf(underway, job.id);
    expect(delivery).toMatchObject({
      id: `${job.id}.succeeded`,
      url: 'mailto:ann@example.com',
      type: 'job.succeeded',
      state: 'delivered',
      attempts: 1,
      lastStatus: 250,
      log: [expect.objectContaining({ status: 250, error: null, to: 'ann@example.com' })],
    });
    // The job's page shows it to the owner, in its own section beside the webhooks'.
    const page = await underway.app.request(`/underway/jobs/${job.id}`, {
      headers: { authorization: `Bearer ${tokenOf('ann')}` },
    });
    const html = await page.text();
    expect(html).toContain('<h2 id="uw-email-title">E-mail</h2>');
    expect(html).toContain('ann@example.com');
    expect(html).toContain('SMTP 250');
    expect(html).not.toContain('uw-webhooks-title');
  });

  it('names the error of a failed job, escaped in the HTML part', async () => {
    const inbox = await smtp();
    const store = sqlite(sqliteFile());
    const underway = await app(store, inbox);
    worker(store);
    const job = await start(underway, 'bob', 'backup', { dir: 'broken' });
    const [mail] = await inbox.until((i) => i.to('bob@example.com').length > 0 && i.to('bob@example.com'));
    await underway.webhooks?.idle();

    expect(inbox.received).toHaveLength(1);
    expect(mail?.subject).toBe(`Backup failed: ${HOSTILE}`);
    expect(mail?.messageId).toBe(`<${job.id}.failed@app.example.com>`);
    expect(mail?.text).toContain(`Error:     ${HOSTILE} (TASK_ERROR)`);
    expect(mail?.html).toContain('&lt;script&gt;alert(');
    expect(mail?.html).toContain('&amp; disk full');
    expect(mail?.html).not.toContain('<script');
  });

  it('sends one for a job cancelled while it waited', async () => {
    const inbox = await smtp();
    const store = sqlite(sqliteFile());
    const underway = await app(store, inbox);
    const job = await start(underway, 'ann', 'backup', { dir: '/srv' });
    const cancel = await underway.app.request(`/underway/api/jobs/${job.id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokenOf('ann')}` },
    });
    expect(cancel.status).toBe(202);
    const [mail] = await inbox.until((i) => i.received.length >= 1 && i.to('ann@example.com'));
    await underway.webhooks?.idle();
    expect(inbox.received).toHaveLength(1);
    expect(mail?.subject).toBe('Backup was cancelled');
    expect(mail?.text).toContain('Ran:       did not start');
  });

  it('sends none for a task not opted in, and gives up on an owner without an address', async () => {
    const inbox = await smtp();
    const store = sqlite(sqliteFile());
    const underway = await app(store, inbox);
    worker(store);
    const ended = [
      await start(underway, 'ann', 'quiet', {}),
      await start(underway, 'nobody', 'backup', { dir: '/srv' }),
      (await underway.queue.start(backup, { dir: '/srv' })).job, // no owner
      await start(underway, 'bob', 'backup', { dir: '/srv' }),
    ];
    await Promise.all(ended.map((job) => waitForStatus(store, job.id, 'succeeded')));
    await inbox.until((i) => i.received.length >= 1);
    await underway.webhooks?.idle();
    const [notOptedIn, noAddress, noOwner, bobs] = ended.map((job) => job.id) as [string, string, string, string];

    expect(inbox.received.map((r) => r.rcptTo)).toEqual([['bob@example.com']]);
    expect(await deliveriesOf(underway, notOptedIn)).toEqual([]);
    expect(await deliveriesOf(underway, noAddress)).toEqual([
      expect.objectContaining({
        url: 'mailto:',
        state: 'failed',
        attempts: 1,
        lastError: 'No e-mail address for the owner "nobody".',
      }),
    ]);
    expect(await deliveriesOf(underway, noOwner)).toEqual([
      expect.objectContaining({ state: 'failed', lastError: 'The job has no owner to e-mail.' }),
    ]);
    expect(await deliveriesOf(underway, bobs)).toEqual([expect.objectContaining({ state: 'delivered' })]);
  });

  it('tries again after a 4xx answer and delivers once; gives up at once on a 5xx refusal', async () => {
    const inbox = await smtp([451]);
    const store = sqlite(sqliteFile());
    const underway = await app(store, inbox, { transport: { host: '127.0.0.1', port: inbox.port } });
    worker(store);
    const job = await start(underway, 'ann', 'backup', { dir: '/srv' });
    await inbox.until((i) => i.received.length >= 1);
    await underway.webhooks?.idle();
    expect(inbox.answers).toEqual([451, 250]);
    expect(inbox.received).toHaveLength(1);
    const [delivery] = await deliveriesOf(underway, job.id);
    expect(delivery).toMatchObject({ state: 'delivered', attempts: 2, lastStatus: 250, lastError: null });
    expect(delivery?.log).toEqual([
      expect.objectContaining({
        status: 451,
        error: expect.stringContaining('Try again later'),
        to: 'ann@example.com',
      }),
      expect.objectContaining({ status: 250, error: null, to: 'ann@example.com' }),
    ]);

    const refusing = await smtp([550]);
    const store2 = sqlite(sqliteFile());
    const other = await app(store2, refusing);
    worker(store2);
    const refused = await start(other, 'bob', 'backup', { dir: '/srv' });
    await refusing.until((i) => i.answers.length >= 1);
    await waitForStatus(store2, refused.id, 'succeeded');
    await other.webhooks?.idle();
    const [givenUp] = await deliveriesOf(other, refused.id);
    expect(givenUp).toMatchObject({ state: 'failed', attempts: 1, lastStatus: 550 });
    expect(refusing.answers).toEqual([550]);
    expect(refusing.received).toEqual([]);
  });

  /** Each backend's way to open one store twice, as two processes would. */
  const twice = {
    sqlite: () => {
      const file = sqliteFile();
      return async () => sqlite(file);
    },
    postgres: () => {
      const schema = `s_email_${Math.random().toString(36).slice(2, 8)}`;
      return () => postgres(schema);
    },
  };
  describe.each([
    ['SQLite (two store objects on one file)', twice.sqlite],
    ['PostgreSQL (two pools on one schema)', twice.postgres],
  ])('two processes on one store: %s', (_name, place) => {
    it('sends exactly one message per ending', async () => {
      const inbox = await smtp([451, 451]); // a couple of retries in the mix, taken up by either
      const open = place();
      const [first, second] = [await open(), await open()];
      // Owners' ids are addresses here: the default ownerAddress takes them as they are.
      const a = await app(first, inbox, { ownerAddress: undefined });
      const b = await app(second, inbox, { ownerAddress: undefined });
      worker(first);
      worker(second);
      const jobs = [];
      for (const [n, user] of ['ann@example.com', 'bob@example.com'].entries()) {
        for (const dir of ['/a', '/b', 'broken']) jobs.push(await start(n ? b : a, user, 'backup', { dir }));
      }
      await inbox.until((i) => i.received.length >= jobs.length);
      await Promise.all([a.webhooks?.idle(), b.webhooks?.idle()]);

      expect(inbox.received).toHaveLength(jobs.length);
      const ids = inbox.received.map((r) => r.mail.messageId).sort();
      expect(new Set(ids).size).toBe(jobs.length);
      for (const job of jobs) {
        const sent = inbox.received.filter((r) => r.mail.messageId?.startsWith(`<${job.id}.`));
        expect(sent).toHaveLength(1);
      }
      expect(inbox.to('ann@example.com')).toHaveLength(3);
      expect(inbox.to('bob@example.com')).toHaveLength(3);
    });
  });
});

describe('e-mail options', () => {
  it('refuses a missing from, a baseUrl that is not http(s), and a webhook URL that is not http(s)', () => {
    const store = {} as Store;
    const make = (email: Partial<EmailOptions>, urls?: string[]) => () =>
      createUnderway({
        store,
        tasks,
        logger: silent,
        email: { transport: 'smtp://127.0.0.1:9', from: 'a@example.com', baseUrl: 'https://x.example', ...email },
        ...(urls ? { webhooks: { urls, secret: 'webhook-secret-0123456789abcdefghijklmnop' } } : {}),
      });
    expect(make({ from: ' ' })).toThrow(/email.from/);
    expect(make({ baseUrl: 'ftp://x.example' })).toThrow(/email.baseUrl/);
    expect(make({ baseUrl: 'not a url' })).toThrow(TypeError);
    expect(make({}, ['mailto:ann@example.com'])).toThrow(/must be http/);
  });
});
