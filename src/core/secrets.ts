import { createCipheriv, createDecipheriv, createHmac, randomBytes, scryptSync } from 'node:crypto';
import { z } from 'zod';
import { UnderwayError, ValidationError } from './errors.ts';

/**
 * Secret params: marked in the task's schema, sealed (AES-256-GCM) the moment a job is started,
 * opened by the worker right before the task runs, in the job's own process only. The store, its
 * events, the HTTP API and the logs only ever hold `[redacted:v2:…]` envelopes; a secret value that
 * task code prints or throws is replaced by `[redacted]` on the way out.
 *
 * An envelope is bound to the job it was sealed for, its id and owner being the cipher's
 * associated data: copied into another job (through the API, a retry, a write to the database) it
 * does not open. Envelopes are never accepted as input (`refuseEnvelopes`); a retry opens the old
 * job's and seals them again for the new job (`resealSecrets`). The unbound `v1` envelopes of
 * earlier versions are not opened at all (docs/sandbox.md, "Upgrading").
 *
 * This module is pure: it is given the key (`SealingKey`) and touches neither the environment nor
 * the file system. Where the key comes from (the `secretKey` option, `UNDERWAY_SECRET_KEY_FILE`,
 * `UNDERWAY_SECRET_KEY`, the data folder's `secret.key`) is src/secret-key.ts's business. Every
 * process that starts or runs such jobs needs the same key.
 */

export const REDACTED = '[redacted]';
/**
 * An envelope, of any version: `[redacted:v2:<key id>:<base64url(iv | tag | ciphertext)>]` now,
 * `[redacted:v1:<base64url(…)>]` before. Whatever this matches is opened by the worker, so
 * whatever this matches is refused in input.
 */
const ENVELOPE = /^\[redacted:v(\d+):([A-Za-z0-9_:-]*)\]$/;
const VERSION = '2';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Secrets shorter than this are not searched for in log lines: "[redacted]" for every "a" would ruin the log and protect nothing. */
const MIN_REDACT_LENGTH = 4;

/**
 * Why an envelope did not open: sealed with another `key`, for another job or owner (`binding`:
 * copied where it does not belong), in the unbound format of earlier versions (`legacy`), or
 * `damaged`; `config` when the key itself cannot be had.
 */
export type SecretErrorReason = 'key' | 'binding' | 'legacy' | 'damaged' | 'config';

/** Raised when a sealed param cannot be opened (code SECRET_UNREADABLE; a job fails for good). */
export class SecretError extends UnderwayError {
  readonly reason: SecretErrorReason;
  constructor(message: string, options?: { cause?: unknown; reason?: SecretErrorReason }) {
    super('SECRET_UNREADABLE', message, options);
    this.reason = options?.reason ?? 'config';
  }
}

/**
 * What an envelope is bound to: the job it was sealed for and that job's owner. A job's id is
 * chosen before its insert (`newJobId()`, `EnqueueInput.id`) so that its secrets can be sealed for it.
 */
export interface SecretBinding {
  jobId: string;
  owner: string | null;
}

/**
 * Marks a params field as secret. Also shows as `"secret": true, "writeOnly": true` in the
 * published JSON Schema, so a form can use a password input.
 *
 * @example
 * params: z.object({ host: z.string(), password: secret(z.string()) })
 */
export function secret<T extends z.ZodType>(schema: T): T {
  return schema.meta({ secret: true, writeOnly: true });
}

export function isSecretSchema(schema: z.ZodType): boolean {
  return z.globalRegistry.get(schema)?.secret === true;
}

/** Key material: 32 bytes, 64 hex characters, base64 of 32 bytes, or a passphrase (stretched with scrypt). */
export type SecretKeySource = string | Uint8Array;

/**
 * The key that seals and opens envelopes: its 32 bytes, or a function giving them. The function
 * is called only when an envelope is actually sealed or opened (at most once per call here), so
 * that params without secrets need no key: src/secret-key.ts's `secretKey` finds it, creating
 * the data folder's key file on first need.
 */
export type SealingKey = Uint8Array | (() => Uint8Array);

/** The key's 32 bytes from key material (no environment, no file: src/secret-key.ts finds the material). */
export function keyFromSource(material: SecretKeySource): Buffer {
  if (typeof material !== 'string') {
    if (material.length !== 32) throw new SecretError('A secret key must be 32 bytes.');
    return Buffer.from(material);
  }
  const text = material.trim();
  if (/^[0-9a-f]{64}$/i.test(text)) return Buffer.from(text, 'hex');
  const decoded = Buffer.from(text, 'base64');
  if (decoded.length === 32 && /^[A-Za-z0-9+/_-]{43}=?$/.test(text)) return decoded;
  return scryptSync(text, 'underway:secret-key:v1', 32);
}

/** `key`, resolved on the first call of the function returned, then kept. */
function lazyKey(key: SealingKey): () => Buffer {
  let bytes: Buffer | undefined;
  return () => {
    if (!bytes) {
      const raw = typeof key === 'function' ? key() : key;
      if (raw.length !== 32) throw new SecretError('A secret key must be 32 bytes.');
      bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    }
    return bytes;
  };
}

/** Whether `value` is an envelope (of any version: old ones are hidden too, and refused in input). */
export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && ENVELOPE.test(value);
}

/**
 * The associated data that binds an envelope to its job: JSON, so that no (id, owner) pair reads
 * as another (an owner id may hold any separator), and a null owner differs from an empty one.
 */
function bindingData(binding: SecretBinding): Buffer {
  return Buffer.from(JSON.stringify([`underway:secret:v${VERSION}`, binding.jobId, binding.owner ?? null]));
}

const keyIds = new WeakMap<Buffer, string>();

/**
 * 4 bytes of an HMAC of the key, in each envelope, so that "another key" and "another job" are
 * told apart (GCM's tag fails alike for both). It shows nothing of the key: with an envelope and
 * its job in hand, a guess at a passphrase can be checked against the tag anyway.
 */
function keyIdOf(key: Buffer): string {
  let id = keyIds.get(key);
  if (!id) {
    id = createHmac('sha256', key).update('underway:key-id').digest().subarray(0, 4).toString('base64url');
    keyIds.set(key, id);
  }
  return id;
}

function seal(value: unknown, key: Buffer, binding: SecretBinding): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(bindingData(binding));
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  const sealed = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  return `[redacted:v${VERSION}:${keyIdOf(key)}:${sealed}]`;
}

function open(envelope: string, key: Buffer, binding: SecretBinding): unknown {
  const [, version, body = ''] = ENVELOPE.exec(envelope) ?? [];
  if (version === '1') {
    throw new SecretError(
      'A secret param was sealed by an older underway (envelope v1), before envelopes were bound to their job; ' +
        'such envelopes are no longer opened, as one could be replayed into another job. Start the job again with its secret values.',
      { reason: 'legacy' },
    );
  }
  const cut = body.indexOf(':');
  const bytes = Buffer.from(body.slice(cut + 1), 'base64url');
  if (version !== VERSION || cut < 0 || bytes.length < IV_BYTES + TAG_BYTES) {
    throw new SecretError(
      `A secret param is damaged or sealed in a format this underway does not know (v${version}).`,
      {
        reason: 'damaged',
      },
    );
  }
  const sealedWith = body.slice(0, cut);
  if (sealedWith !== keyIdOf(key)) {
    throw new SecretError(
      `A secret param could not be opened: it was sealed with another secret key (key id ${sealedWith}) than this process has (${keyIdOf(key)}). ` +
        'Every process that starts or runs jobs needs the same key.',
      { reason: 'key' },
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES)).setAAD(bindingData(binding));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const plain = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    return JSON.parse(plain.toString('utf8'));
  } catch (error) {
    throw new SecretError(
      `A secret param could not be opened for job ${binding.jobId}: it was sealed for another job (or another owner), or it is damaged. ` +
        'A sealed value belongs to the job it was sealed for.',
      { cause: error, reason: 'binding' },
    );
  }
}

/**
 * Replaces every secret field of already-validated `params` by an envelope bound to `binding`
 * (the job being created); returns `params` itself when the schema has no secret field. The key
 * is resolved only when there is a secret value to seal. Every secret value is sealed, an
 * envelope-shaped string too (it is then a plain string to the task): input holding envelopes is
 * refused before this (`refuseEnvelopes`).
 */
export function sealSecrets(schema: z.ZodType, params: unknown, binding: SecretBinding, key: SealingKey): unknown {
  if (!hasSecrets(schema)) return params;
  const keyBytes = lazyKey(key);
  return mapSecrets(schema, params, (value) => seal(value, keyBytes(), binding), 0);
}

/**
 * Opens every envelope of a job's stored params with `from` (the old job) and seals it again for
 * `to` (the new one): a retry carries the secrets over, never the envelopes. Returns `params`
 * itself when there is no envelope (and then needs no key).
 */
export function resealSecrets(params: unknown, from: SecretBinding, to: SecretBinding, key: SealingKey): unknown {
  let found = false;
  const keyBytes = lazyKey(key);
  const walk = (value: unknown): unknown => {
    if (isSealed(value)) {
      found = true;
      const material = keyBytes();
      return seal(open(value, material, from), material, to);
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, walk(inner)]));
    }
    return value;
  };
  const resealed = walk(params);
  return found ? resealed : params;
}

/** How many envelopes a refusal names (a list of 10,000 is no more useful than 10). */
const MAX_REFUSED_PATHS = 10;

/**
 * Throws a ValidationError when any string in `params` (any field, secret or not, at any depth)
 * is an envelope. Envelopes are made by the server for one job; one taken from a log, a shared
 * job or an old response and sent back as a param must not be opened for the sender's job.
 */
export function refuseEnvelopes(params: unknown): void {
  const issues: string[] = [];
  const seen = new WeakSet<object>();
  // A stack, not recursion: JSON nested deeper than the call stack must be checked all the same.
  const stack: [unknown, string][] = [[params, 'params']];
  for (let next = stack.pop(); next && issues.length < MAX_REFUSED_PATHS; next = stack.pop()) {
    const [value, path] = next;
    if (isSealed(value))
      issues.push(`${path}: a sealed value ("[redacted:v…]") is not accepted; send the value itself`);
    else if (value && typeof value === 'object' && !seen.has(value)) {
      seen.add(value);
      // Pushed last to first, so that they are named in the order they were written.
      for (const [name, inner] of Object.entries(value).reverse()) stack.push([inner, `${path}.${name}`]);
    }
  }
  if (issues.length > 0) {
    throw new ValidationError(
      'The params hold a sealed secret value. Send secret values themselves: they are sealed for the job they start.',
      issues,
    );
  }
}

/** Opened params, with a redactor for everything that leaves the job's process. */
export interface Revealed {
  params: unknown;
  redactor: Redactor;
}

/**
 * Opens every envelope in a job's stored params, `binding` being that job's id and owner: an
 * envelope sealed for another job throws a SecretError. No key is needed when there is none.
 */
export function revealSecrets(params: unknown, binding: SecretBinding, key: SealingKey): Revealed {
  // Nearly every job has no secret: then the params are not copied (this runs for every attempt).
  if (!holdsSealed(params)) return { params, redactor: NO_SECRETS };
  const found: unknown[] = [];
  const keyBytes = lazyKey(key);
  const walk = (value: unknown): unknown => {
    if (isSealed(value)) {
      const opened = open(value, keyBytes(), binding);
      found.push(opened);
      return opened;
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, walk(inner)]));
    }
    return value;
  };
  const opened = walk(params);
  return { params: found.length > 0 ? opened : params, redactor: new Redactor(found) };
}

/** Whether a sealed envelope is anywhere in a JSON-like value (params are a tree: no cycles). */
function holdsSealed(value: unknown): boolean {
  if (isSealed(value)) return true;
  if (Array.isArray(value)) return value.some(holdsSealed);
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) if (holdsSealed(inner)) return true;
  }
  return false;
}

/** Shows envelopes as plain `[redacted]` (for people: the envelope itself is safe, but noisy). */
export function hideSecrets(value: unknown): unknown {
  if (isSealed(value)) return REDACTED;
  if (Array.isArray(value)) return value.map(hideSecrets);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([name, inner]) => [name, hideSecrets(inner)]));
  }
  return value;
}

/** Replaces known secret values in text and in JSON-like values by `[redacted]`. */
export class Redactor {
  readonly #needles: string[];

  constructor(secrets: readonly unknown[]) {
    const needles = new Set<string>();
    const collect = (value: unknown) => {
      if (typeof value === 'string' || typeof value === 'number') {
        const text = String(value);
        if (text.length >= MIN_REDACT_LENGTH) needles.add(text);
      } else if (value && typeof value === 'object') {
        const json = JSON.stringify(value);
        if (json.length >= MIN_REDACT_LENGTH) needles.add(json);
        for (const inner of Object.values(value)) collect(inner);
      }
    };
    for (const value of secrets) collect(value);
    // Longest first, so a secret that contains another is replaced whole.
    this.#needles = [...needles].sort((a, b) => b.length - a.length);
  }

  get active(): boolean {
    return this.#needles.length > 0;
  }

  text(text: string): string {
    let out = text;
    for (const needle of this.#needles) if (out.includes(needle)) out = out.split(needle).join(REDACTED);
    return out;
  }

  /** A copy of a JSON-like value with every string redacted (the value itself when nothing is secret). */
  value<T>(value: T): T {
    if (!this.active) return value;
    const walk = (inner: unknown): unknown => {
      if (typeof inner === 'string') return this.text(inner);
      if (Array.isArray(inner)) return inner.map(walk);
      if (inner && typeof inner === 'object') {
        return Object.fromEntries(Object.entries(inner).map(([name, v]) => [this.text(name), walk(v)]));
      }
      return inner;
    };
    return walk(value) as T;
  }
}

/** The redactor of a job without secrets: it changes nothing. */
export const NO_SECRETS = new Redactor([]);

type Def = { type: string } & Record<string, unknown>;
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'catch', 'readonly', 'nonoptional']);
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;
const hasSecretsCache = new WeakMap<z.ZodType, boolean>();

/** The schemas directly inside this one (object fields, wrapped types, union options…). */
function children(schema: z.ZodType): z.ZodType[] {
  const def = defOf(schema);
  const list = (value: unknown) => (Array.isArray(value) ? (value as z.ZodType[]) : value ? [value as z.ZodType] : []);
  switch (def.type) {
    case 'object':
      return [...Object.values(def.shape as Record<string, z.ZodType>), ...list(def.catchall)];
    case 'array':
      return list(def.element);
    case 'tuple':
      return [...list(def.items), ...list(def.rest)];
    case 'record':
      return list(def.valueType);
    case 'union':
      return list(def.options);
    case 'intersection':
      return [...list(def.left), ...list(def.right)];
    case 'pipe':
      return [...list(def.in), ...list(def.out)];
    case 'lazy':
      return list((def.getter as () => z.ZodType)());
    default:
      return WRAPPERS.has(def.type) ? list(def.innerType) : [];
  }
}

/** Whether any field of the schema is secret (cached; cycles through z.lazy are cut). */
export function hasSecrets(schema: z.ZodType, seen = new Set<z.ZodType>()): boolean {
  const cached = hasSecretsCache.get(schema);
  if (cached !== undefined) return cached;
  if (seen.has(schema)) return false;
  seen.add(schema);
  const found = isSecretSchema(schema) || children(schema).some((child) => hasSecrets(child, seen));
  hasSecretsCache.set(schema, found);
  return found;
}

/** Applies `visit` to each value in `value` that a secret schema describes. */
function mapSecrets(schema: z.ZodType, value: unknown, visit: (v: unknown) => unknown, depth: number): unknown {
  if (value === undefined || depth > 64) return value;
  if (isSecretSchema(schema)) return visit(value);
  const def = defOf(schema);
  const next = (inner: z.ZodType, v: unknown) => mapSecrets(inner, v, visit, depth + 1);
  const isRecord = value !== null && typeof value === 'object' && !Array.isArray(value);
  if (def.type === 'object' && isRecord) {
    const shape = def.shape as Record<string, z.ZodType>;
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    for (const [name, inner] of Object.entries(out)) {
      const field = Object.hasOwn(shape, name) ? shape[name] : (def.catchall as z.ZodType | undefined);
      if (field) out[name] = next(field, inner);
    }
    return out;
  }
  if (def.type === 'record' && isRecord) {
    const entries = Object.entries(value as Record<string, unknown>);
    return Object.fromEntries(entries.map(([name, v]) => [name, next(def.valueType as z.ZodType, v)]));
  }
  if ((def.type === 'array' || def.type === 'tuple') && Array.isArray(value)) {
    const items = (def.items as z.ZodType[] | undefined) ?? [];
    return value.map((v, i) => {
      const inner = def.type === 'array' ? def.element : (items[i] ?? def.rest);
      return inner ? next(inner as z.ZodType, v) : v;
    });
  }
  // Unions and intersections: every branch's secret fields are sealed (more, never fewer).
  if (['union', 'intersection', 'pipe', 'lazy'].includes(def.type) || WRAPPERS.has(def.type)) {
    return children(schema).reduce<unknown>((v, inner) => next(inner, v), value);
  }
  return value;
}
