import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { UnderwayError } from './errors.ts';

/**
 * Secret params: marked in the task's schema, sealed (AES-256-GCM) the moment a job is started,
 * opened by the worker right before the task runs, in the job's own process only. The store, its
 * events, the HTTP API and the logs only ever hold `[redacted:v1:…]` envelopes; a secret value that
 * task code prints or throws is replaced by `[redacted]` on the way out.
 *
 * The key: `UNDERWAY_SECRET_KEY` (32 bytes as hex or base64, or a passphrase), else a key file,
 * `UNDERWAY_SECRET_KEY_FILE` or `$UNDERWAY_DATA_DIR/secret.key` (`./data`), created 0600 on first
 * use. Every process that starts or runs such jobs needs the same key.
 */

export const REDACTED = '[redacted]';
const ENVELOPE = /^\[redacted:v1:([A-Za-z0-9_-]{40,})\]$/;
const AAD = Buffer.from('underway:secret:v1');
/** Secrets shorter than this are not searched for in log lines: "[redacted]" for every "a" would ruin the log and protect nothing. */
const MIN_REDACT_LENGTH = 4;

/** Raised when a sealed param cannot be opened: another key, or a damaged value. */
export class SecretError extends UnderwayError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SECRET_UNREADABLE', message, options);
  }
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

const keys = new Map<string, Buffer>();

/** The key from `source`, else from the environment or the key file (created when missing). Cached. */
export function secretKey(source?: SecretKeySource): Buffer {
  if (source instanceof Uint8Array) return toKey(source);
  const fromEnv = source ?? process.env.UNDERWAY_SECRET_KEY;
  const file = process.env.UNDERWAY_SECRET_KEY_FILE || join(process.env.UNDERWAY_DATA_DIR || './data', 'secret.key');
  const cacheKey = fromEnv ? `key:${fromEnv}` : `file:${file}`;
  let key = keys.get(cacheKey);
  if (!key) {
    key = fromEnv ? toKey(fromEnv) : keyFromFile(file);
    keys.set(cacheKey, key);
  }
  return key;
}

function toKey(material: string | Uint8Array): Buffer {
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

/** Reads the key file, or creates it (0600) atomically: written aside, then linked into place. */
function keyFromFile(file: string): Buffer {
  try {
    return toKey(readFileSync(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const fd = openSync(aside, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('base64')}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(aside, file); // EEXIST: another process won the race; its key is the key.
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(aside, { force: true });
  }
  return toKey(readFileSync(file, 'utf8'));
}

export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && ENVELOPE.test(value);
}

function seal(value: unknown, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(AAD);
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return `[redacted:v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}]`;
}

function open(envelope: string, key: Buffer): unknown {
  const bytes = Buffer.from(ENVELOPE.exec(envelope)?.[1] ?? '', 'base64url');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12)).setAAD(AAD);
    decipher.setAuthTag(bytes.subarray(12, 28));
    return JSON.parse(Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8'));
  } catch (error) {
    throw new SecretError(
      'A secret param could not be opened: the worker has another secret key than the process that started the job.',
      { cause: error },
    );
  }
}

/**
 * Replaces every secret field of already-validated `params` by its sealed envelope; returns
 * `params` itself when the schema has no secret field (and then needs no key).
 */
export function sealSecrets(schema: z.ZodType, params: unknown, key?: SecretKeySource): unknown {
  if (!hasSecrets(schema)) return params;
  const material = secretKey(key);
  return mapSecrets(schema, params, (value) => (isSealed(value) ? value : seal(value, material)), 0);
}

/** Opened params, with a redactor for everything that leaves the job's process. */
export interface Revealed {
  params: unknown;
  redactor: Redactor;
}

/** Opens every envelope in stored params (no key is needed when there is none). */
export function revealSecrets(params: unknown, key?: SecretKeySource): Revealed {
  const found: unknown[] = [];
  const walk = (value: unknown): unknown => {
    if (isSealed(value)) {
      const opened = open(value, secretKey(key));
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
