import { z } from 'zod';
import { hideSecrets, REDACTED } from '../core/secrets.ts';
import type { AnyTask } from '../core/task.ts';

/** A JSON Schema document, as zod writes it. */
export type JsonSchema = Record<string, unknown>;

const cache = new WeakMap<AnyTask, JsonSchema>();

/**
 * The task's params as JSON Schema (what a caller sends, before defaults apply). Types JSON
 * cannot describe (a Date, a transform) come out as `{}`, "anything", rather than failing.
 */
export function paramsSchemaOf(task: AnyTask): JsonSchema {
  let schema = cache.get(task);
  if (!schema) {
    schema = z.toJSONSchema(task.params, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    cache.set(task, schema);
  }
  return schema;
}

/**
 * Shows secret params as "[redacted]". Jobs started through a queue hold sealed envelopes
 * (core/secrets.ts), shown as "[redacted]"; a field the schema marks secret (`secret(...)`, or
 * `meta({ secret: true })` / `writeOnly`) is redacted whatever it holds, in case a job was
 * enqueued around the queue.
 */
export function redactParams(params: unknown, task: AnyTask | undefined): unknown {
  const hidden = hideSecrets(params);
  return task ? redact(hidden, paramsSchemaOf(task), 0) : hidden;
}

function redact(value: unknown, schema: unknown, depth: number): unknown {
  if (typeof schema !== 'object' || schema === null || depth > 32) return value;
  const node = schema as Record<string, unknown>;
  if (node.secret === true || node.writeOnly === true) return value === undefined ? value : REDACTED;
  if (Array.isArray(value)) {
    return node.items === undefined ? value : value.map((item) => redact(item, node.items, depth + 1));
  }
  if (typeof value === 'object' && value !== null) {
    const properties = node.properties as Record<string, unknown> | undefined;
    const rest = node.additionalProperties;
    if (!properties && typeof rest !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = redact(inner, properties?.[key] ?? rest, depth + 1);
    }
    return out;
  }
  return value;
}
