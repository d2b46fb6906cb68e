import { readFileSync, statSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  hasSecrets,
  hideSecrets,
  isSealed,
  Redactor,
  revealSecrets,
  SecretError,
  sealSecrets,
  secret,
  secretKey,
} from '../src/core/secrets.ts';
import { defineTask } from '../src/core/task.ts';
import { createLogger } from '../src/logger.ts';
import { createQueue } from '../src/queue/queue.ts';
import { sqliteStore } from '../src/store/sqlite/index.ts';
import { createWorker } from '../src/worker/worker.ts';
import { tempDir } from './helpers/temp.ts';
import { waitForStatus } from './helpers/wait.ts';

const KEY = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
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
    const sealed = sealSecrets(schema, params, KEY) as Record<string, unknown>;
    const json = JSON.stringify(sealed);
    for (const value of ['hunter22', '4242', 't-one', 't-two', 'k-12345', 'choice-key'])
      expect(json).not.toContain(value);
    expect(sealed.host).toBe('db.local');
    expect(isSealed(sealed.password)).toBe(true);
    expect(hideSecrets(sealed)).toMatchObject({ password: '[redacted]', tokens: ['[redacted]', '[redacted]'] });
    // Sealing twice (a retry) changes nothing; opening gives the params back.
    expect(sealSecrets(schema, sealed, KEY)).toEqual(sealed);
    expect(revealSecrets(sealed, KEY).params).toEqual(params);
    expect(() => revealSecrets(sealed, OTHER)).toThrow(SecretError);
  });

  it('leaves params without secrets alone, needing no key', () => {
    const plain = z.object({ a: z.string() });
    const params = { a: 'x' };
    expect(sealSecrets(plain, params)).toBe(params);
    expect(revealSecrets(params).params).toBe(params);
    expect(revealSecrets(params).redactor.active).toBe(false);
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
