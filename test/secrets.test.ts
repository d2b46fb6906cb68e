import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConflictError, PermanentJobError, ValidationError } from '../src/core/errors.ts';
import {
  hasSecrets,
  hideSecrets,
  isSealed,
  Redactor,
  refuseEnvelopes,
  resealSecrets,
  revealSecrets,
  SecretError,
  sealSecrets,
  secret,
} from '../src/core/secrets.ts';
import { defineTask } from '../src/core/task.ts';
import { createLogger } from '../src/logger.ts';
import { createQueue } from '../src/queue/queue.ts';
import { secretKey } from '../src/secret-key.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import { createWorker } from '../src/worker/worker.ts';
import { setup as httpSetup, json, type TestEnv } from './helpers/http.ts';
import { tempDir } from './helpers/temp.ts';
import { waitForStatus } from './helpers/wait.ts';

const KEY = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
/** The keys' bytes, as core/secrets.ts takes them (the queue and the worker find them with secretKey). */
const KEY_BYTES = Buffer.from(KEY, 'hex');
const OTHER_BYTES = Buffer.from(OTHER, 'hex');
/** A key that must not be needed: core/secrets.ts resolves it only to seal or open an envelope. */
const noKey = (): Buffer => {
  throw new Error('No key is needed here.');
};
const ALICE = { jobId: 'job-of-alice', owner: 'alice' };
const BOB = { jobId: 'job-of-bob', owner: 'bob' };
const silent = createLogger({ level: 'silent' });
const dir = tempDir('underway-secrets-');
afterAll(() => dir.cleanup());
const saved = { ...process.env };
afterEach(() => {
  for (const name of ['UNDERWAY_SECRET_KEY', 'UNDERWAY_SECRET_KEY_FILE', 'UNDERWAY_DATA_DIR']) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

const schema = z.object({
  host: z.string(),
  password: secret(z.string()).describe('The database password'),
  pin: secret(z.number()).optional(),
  tokens: z.array(secret(z.string())).default([]),
  nested: z
    .object({ apiKey: secret(z.string()) })
    .nullable()
    .optional(),
  choice: z.union([z.object({ kind: z.literal('a'), key: secret(z.string()) }), z.object({ kind: z.literal('b') })]),
});

describe('secret params', () => {
  it('finds secret fields wherever they are, and none in a plain schema', () => {
    expect(hasSecrets(schema)).toBe(true);
    expect(hasSecrets(z.object({ a: z.string(), b: z.array(z.number()) }))).toBe(false);
    expect(z.toJSONSchema(schema).properties?.password).toMatchObject({ secret: true, writeOnly: true });
  });

  it('seals every secret value and opens them again with the same key', () => {
    const params = schema.parse({
      host: 'db.local',
      password: 'hunter22',
      pin: 4242,
      tokens: ['t-one', 't-two'],
      nested: { apiKey: 'k-12345' },
      choice: { kind: 'a', key: 'choice-key' },
    });
    const sealed = sealSecrets(schema, params, ALICE, KEY_BYTES) as Record<string, unknown>;
    const json = JSON.stringify(sealed);
    for (const value of ['hunter22', '4242', 't-one', 't-two', 'k-12345', 'choice-key'])
      expect(json).not.toContain(value);
    expect(sealed.host).toBe('db.local');
    expect(isSealed(sealed.password)).toBe(true);
    expect(sealed.password).toMatch(/^\[redacted:v2:[A-Za-z0-9_-]{6}:[A-Za-z0-9_-]{40,}\]$/);
    expect(hideSecrets(sealed)).toMatchObject({ password: '[redacted]', tokens: ['[redacted]', '[redacted]'] });
    expect(revealSecrets(sealed, ALICE, KEY_BYTES).params).toEqual(params);
    expect(() => revealSecrets(sealed, ALICE, OTHER_BYTES)).toThrow(
      expect.objectContaining({
        code: 'SECRET_UNREADABLE',
        reason: 'key',
        message: expect.stringMatching(/another secret key/),
      }),
    );
  });

  it('leaves params without secrets alone, needing no key', () => {
    const plain = z.object({ a: z.string() });
    const params = { a: 'x' };
    expect(sealSecrets(plain, params, ALICE, noKey)).toBe(params);
    expect(revealSecrets(params, ALICE, noKey).params).toBe(params);
    expect(revealSecrets(params, ALICE, noKey).redactor.active).toBe(false);
    expect(resealSecrets(params, ALICE, BOB, noKey)).toBe(params);
    // A secret field left out needs no key either; given ones resolve it once per call.
    const optional = z.object({ a: z.string(), s: secret(z.string()).optional(), t: z.array(secret(z.string())) });
    expect(sealSecrets(optional, { a: 'x', t: [] }, ALICE, noKey)).toEqual({ a: 'x', t: [] });
    let resolved = 0;
    const counted = () => {
      resolved++;
      return KEY_BYTES;
    };
    const sealed = sealSecrets(
      optional,
      { a: 'x', s: 'one-secret', t: ['two-secret', 'three-secret'] },
      ALICE,
      counted,
    );
    expect(revealSecrets(resealSecrets(sealed, ALICE, BOB, counted), BOB, counted).params).toEqual({
      a: 'x',
      s: 'one-secret',
      t: ['two-secret', 'three-secret'],
    });
    expect(resolved).toBe(3);
  });

  it('starts and runs a task without secrets creating no key file', async () => {
    delete process.env.UNDERWAY_SECRET_KEY;
    delete process.env.UNDERWAY_SECRET_KEY_FILE;
    process.env.UNDERWAY_DATA_DIR = dir.file('data-without-secrets');
    const plain = defineTask({ name: 'plain', params: z.object({ n: z.number() }), run: ({ n }) => n * 2 });
    const store = sqliteStore({ file: dir.file('no-secrets.db') });
    const worker = createWorker({ store, tasks: [plain], logger: silent, pollMs: 50 }).start();
    try {
      const { job } = await createQueue({ store, tasks: [plain] }).start(plain, { n: 21 });
      expect(await waitForStatus(store, job.id, ['failed', 'succeeded'])).toMatchObject({ result: 42 });
      expect(existsSync(dir.file('data-without-secrets/secret.key'))).toBe(false);
    } finally {
      await worker.stop({ graceMs: 0 });
      await store.close();
    }
  });

  it('redacts opened secrets in text and values, longest first, ignoring very short ones', () => {
    const redactor = new Redactor(['hunter22', 'hunter22-extended', 'ab', { inner: 'nested-secret' }]);
    expect(redactor.text('a hunter22-extended and hunter22, ab')).toBe('a [redacted] and [redacted], ab');
    expect(redactor.value({ ok: false, error: { message: 'with nested-secret' } })).toEqual({
      ok: false,
      error: { message: 'with [redacted]' },
    });
  });

  it('reads the key from UNDERWAY_SECRET_KEY, else creates a 0600 key file once', () => {
    process.env.UNDERWAY_SECRET_KEY = KEY;
    expect(secretKey().toString('hex')).toBe(KEY);
    delete process.env.UNDERWAY_SECRET_KEY;
    process.env.UNDERWAY_DATA_DIR = dir.file('data');
    const created = secretKey();
    const file = dir.file('data/secret.key');
    expect(created).toHaveLength(32);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')).toEqual(created);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(secretKey()).toEqual(created);
  });

  it('fails a job for good when the worker cannot open its secrets (another key)', async () => {
    process.env.UNDERWAY_SECRET_KEY = OTHER;
    const task = defineTask({
      name: 'needs-secret',
      params: z.object({ token: secret(z.string()) }),
      maxAttempts: 3,
      run: ({ token }) => token.length,
    });
    const store = sqliteStore({ file: dir.file('wrong-key.db') });
    const worker = createWorker({ store, tasks: [task], logger: createLogger({ level: 'silent' }) }).start();
    try {
      const { job } = await createQueue({ store, tasks: [task], secretKey: KEY }).start(task, { token: 'abcdef' });
      const done = await waitForStatus(store, job.id, 'failed');
      expect(done).toMatchObject({ attempt: 1, error: { code: 'SECRET_UNREADABLE' } });
    } finally {
      await worker.stop({ graceMs: 0 });
      await store.close();
    }
  });
});

/** An envelope as underway sealed them before they were bound to a job (format v1). */
function sealV1(value: unknown, hexKey: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(hexKey, 'hex'), iv).setAAD(
    Buffer.from('underway:secret:v1'),
  );
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return `[redacted:v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}]`;
}

/** A SQLite store, a queue and an in-process worker with one key, for the task given. */
function running(name: string, tasks: Parameters<typeof createQueue>[0]['tasks']) {
  const store = sqliteStore({ file: dir.file(`${name}.db`) });
  const queue = createQueue({ store, tasks, secretKey: KEY });
  const worker = createWorker({ store, tasks, secretKey: KEY, logger: silent, pollMs: 50 }).start();
  const close = async () => {
    await worker.stop({ graceMs: 0 });
    await store.close();
  };
  return { store, queue, close };
}

describe('envelopes are bound to their job', () => {
  const whoami = defineTask({
    name: 'whoami',
    params: z.object({ token: secret(z.string()) }),
    maxAttempts: 3,
    run: ({ token }) => ({ length: token.length }),
  });

  it('opens an envelope only for the job (id and owner) it was sealed for', () => {
    const sealed = sealSecrets(schema, { host: 'h', password: 'hunter22', choice: { kind: 'b' } }, ALICE, KEY_BYTES);
    for (const other of [BOB, { jobId: ALICE.jobId, owner: 'bob' }, { jobId: ALICE.jobId, owner: null }]) {
      expect(() => revealSecrets(sealed, other, KEY_BYTES)).toThrow(
        expect.objectContaining({ reason: 'binding', message: expect.stringMatching(/sealed for another job/) }),
      );
    }
    // A retry's way: opened with the old job's binding, sealed again for the new one.
    const moved = resealSecrets(sealed, ALICE, BOB, KEY_BYTES) as Record<string, unknown>;
    expect(moved.password).not.toBe((sealed as Record<string, unknown>).password);
    expect(revealSecrets(moved, BOB, KEY_BYTES).params).toMatchObject({ password: 'hunter22' });
    expect(() => revealSecrets(moved, ALICE, KEY_BYTES)).toThrow(SecretError);
  });

  it('fails a job holding an envelope of another job at once, not retried, and runs the rightful one', async () => {
    const { store, queue, close } = running('bound', [whoami]);
    try {
      const { job } = await queue.start(whoami, { token: 'alice-token' }, { owner: 'alice' });
      expect(await waitForStatus(store, job.id, 'succeeded')).toMatchObject({ result: { length: 11 } });
      // What the issue saw: alice's envelope stored as-is in bob's job (a store written to
      // directly; queue.start refuses it, below). The worker opens it for bob's job: it fails.
      const alices = (await store.get(job.id))?.params as { token: string };
      const { job: bobs } = await store.enqueue({ task: 'whoami', params: alices, owner: 'bob', maxAttempts: 3 });
      const failed = await waitForStatus(store, bobs.id, ['failed', 'succeeded']);
      expect(failed).toMatchObject({
        status: 'failed',
        attempt: 1,
        result: null,
        error: { code: 'SECRET_UNREADABLE', message: expect.stringMatching(/sealed for another job/) },
      });
    } finally {
      await close();
    }
  });

  it('does not open the unbound envelopes of earlier versions (v1), nor retry a job holding them', async () => {
    const { store, queue, close } = running('legacy', [whoami]);
    try {
      const { job } = await store.enqueue({
        task: 'whoami',
        params: { token: sealV1('old-token', KEY) },
        owner: 'alice',
        maxAttempts: 3,
      });
      expect(hideSecrets((await store.get(job.id))?.params)).toEqual({ token: '[redacted]' });
      const failed = await waitForStatus(store, job.id, ['failed', 'succeeded']);
      expect(failed).toMatchObject({
        status: 'failed',
        attempt: 1,
        error: { code: 'SECRET_UNREADABLE', message: expect.stringMatching(/older underway \(envelope v1\)/) },
      });
      const retry = queue.retry(job.id);
      await expect(retry).rejects.toBeInstanceOf(ConflictError);
      await expect(retry).rejects.toThrow(/Start the job again with its secret values/);
    } finally {
      await close();
    }
  });

  it('gives a retried job its secret, sealed again for the new job and its owner', async () => {
    let failNext = true;
    const flaky = defineTask({
      name: 'flaky-secret',
      params: z.object({ user: z.string(), token: secret(z.string()) }),
      maxAttempts: 1,
      run: ({ token }) => {
        if (failNext) {
          failNext = false;
          throw new PermanentJobError('The first run fails.');
        }
        return { right: token === 'tok-123456', length: token.length };
      },
    });
    const { store, queue, close } = running('retry', [flaky]);
    try {
      const { job } = await queue.start(flaky, { user: 'ada', token: 'tok-123456' }, { owner: 'alice' });
      expect((await waitForStatus(store, job.id, ['failed', 'succeeded'])).status).toBe('failed');
      const again = await queue.retry(job.id);
      expect(again).toMatchObject({ retryOf: job.id, owner: 'alice' });
      const [before, after] = [job.params, again.params] as { user: string; token: string }[];
      expect(after?.user).toBe('ada');
      expect(isSealed(after?.token)).toBe(true);
      expect(after?.token).not.toBe(before?.token);
      expect(await waitForStatus(store, again.id, ['failed', 'succeeded'])).toMatchObject({
        status: 'succeeded',
        result: { right: true, length: 10 },
      });
      // Retried for another owner: sealed for that owner, and it still opens.
      const forBob = await queue.retry(job.id, { owner: 'bob' });
      expect(() => revealSecrets(forBob.params, { jobId: forBob.id, owner: 'alice' }, KEY_BYTES)).toThrow(SecretError);
      expect(await waitForStatus(store, forBob.id, ['failed', 'succeeded'])).toMatchObject({
        status: 'succeeded',
        owner: 'bob',
        result: { right: true },
      });
    } finally {
      await close();
    }
  });
});

describe('envelopes are refused as input', () => {
  const envelope = sealSecrets(z.object({ s: secret(z.string()) }), { s: 'alice-secret' }, ALICE, KEY_BYTES) as {
    s: string;
  };
  const v1 = sealV1('alice-secret', KEY);

  it('finds an envelope of any version in any field, at any depth', () => {
    expect(() => refuseEnvelopes({ a: 'x', b: [1, { c: '[redacted]' }], d: `text ${envelope.s}` })).not.toThrow();
    let deep: unknown = envelope.s;
    for (let i = 0; i < 20_000; i++) deep = { deeper: deep }; // deeper than a recursive walk could go
    expect(() => refuseEnvelopes(deep)).toThrow(ValidationError);
    expect(() => refuseEnvelopes({ a: 'x', b: [1, { c: envelope.s }], old: v1, next: '[redacted:v3:x]' })).toThrow(
      expect.objectContaining({
        code: 'VALIDATION_FAILED',
        issues: [
          expect.stringMatching(/^params\.b\.1\.c: a sealed value/),
          expect.stringMatching(/^params\.old: /),
          expect.stringMatching(/^params\.next: /),
        ],
      }),
    );
  });

  it('refuses them in queue.start and startMany, secret field or not, before and after the schema', async () => {
    const task = defineTask({
      name: 'takes-input',
      params: z.object({ note: z.string().trim(), token: secret(z.string()).optional() }),
      run: () => null,
    });
    const store = sqliteStore({ file: dir.file('refuse.db') });
    try {
      const queue = createQueue({ store, tasks: [task], secretKey: KEY });
      for (const params of [
        { note: 'x', token: envelope.s },
        { note: envelope.s },
        { note: 'x', unknown: { field: v1 } }, // stripped by the schema, refused all the same
        { note: ` ${envelope.s} ` }, // an envelope once trimmed
      ]) {
        await expect(queue.start(task, params as { note: string }, { owner: 'bob' })).rejects.toBeInstanceOf(
          ValidationError,
        );
      }
      await expect(
        queue.startMany(task, [{ params: { note: 'fine' } }, { params: { note: 'x', token: envelope.s } }]),
      ).rejects.toThrow(/^Job 2 of 2: The params hold a sealed secret value/);
      expect((await store.list()).jobs).toEqual([]);
    } finally {
      await store.close();
    }
  });

  describe('over HTTP', () => {
    let env: TestEnv | undefined;
    afterEach(async () => {
      await env?.close();
      env = undefined;
    });

    it("answers 400 to bob's start carrying alice's envelope, in a secret field or not", async () => {
      env = httpSetup();
      const started = await env.call('/api/jobs', {
        method: 'POST',
        body: { task: 'echo', params: { text: 'hi', password: 'alice-password' } },
      });
      expect(started.status).toBe(201);
      const alices = (await env.store.get((await json(started)).id))?.params as { password: string };
      expect(alices.password).toMatch(/^\[redacted:v2:/);
      for (const params of [{ text: 'hi', password: alices.password }, { text: alices.password }]) {
        const response = await env.call('/api/jobs', { method: 'POST', as: 'bob', body: { task: 'echo', params } });
        expect(response.status).toBe(400);
        const { error } = await json(response);
        expect(error).toMatchObject({
          code: 'VALIDATION_FAILED',
          message: expect.stringMatching(/sealed secret value/),
        });
        expect(error.details).toEqual([expect.stringMatching(/^params\.(password|text): a sealed value/)]);
      }
      expect((await env.store.list()).jobs).toHaveLength(1);
    });
  });
});

describe('the secret key', () => {
  it('prefers the key file UNDERWAY_SECRET_KEY_FILE names to UNDERWAY_SECRET_KEY, when both are set', () => {
    const file = dir.file('named.key');
    writeFileSync(file, `${Buffer.from(KEY, 'hex').toString('base64')}\n`, { mode: 0o600 });
    process.env.UNDERWAY_SECRET_KEY = OTHER;
    process.env.UNDERWAY_SECRET_KEY_FILE = file;
    expect(secretKey().toString('hex')).toBe(KEY);
    // The explicit option comes first of all.
    expect(secretKey('c'.repeat(64)).toString('hex')).toBe('c'.repeat(64));
  });

  it('uses UNDERWAY_SECRET_KEY when the named file does not exist, creating none', () => {
    const file = dir.file('not-there.key');
    process.env.UNDERWAY_SECRET_KEY = OTHER;
    process.env.UNDERWAY_SECRET_KEY_FILE = file;
    expect(secretKey().toString('hex')).toBe(OTHER);
    expect(existsSync(file)).toBe(false);
  });

  it("does not prefer the data folder's own key file (any run without the variable made one)", () => {
    process.env.UNDERWAY_DATA_DIR = dir.file('data-with-key');
    delete process.env.UNDERWAY_SECRET_KEY;
    const made = secretKey();
    process.env.UNDERWAY_SECRET_KEY = OTHER;
    expect(secretKey().toString('hex')).toBe(OTHER);
    expect(made.toString('hex')).not.toBe(OTHER);
  });

  it('takes key bytes of 32 bytes only, as the option and as what core/secrets.ts is given', () => {
    expect(secretKey(new Uint8Array(32).fill(7))).toEqual(Buffer.alloc(32, 7));
    expect(() => secretKey(new Uint8Array(16))).toThrow(/must be 32 bytes/);
    const schemaOfOne = z.object({ s: secret(z.string()) });
    for (const short of [new Uint8Array(16), () => new Uint8Array(31)]) {
      expect(() => sealSecrets(schemaOfOne, { s: 'a-secret' }, ALICE, short)).toThrow(
        expect.objectContaining({
          code: 'SECRET_UNREADABLE',
          reason: 'config',
          message: 'A secret key must be 32 bytes.',
        }),
      );
    }
  });

  it('refuses an empty key file', () => {
    const file = dir.file('empty.key');
    writeFileSync(file, '\n', { mode: 0o600 });
    process.env.UNDERWAY_SECRET_KEY_FILE = file;
    expect(() => secretKey()).toThrow(/is empty/);
  });
});
