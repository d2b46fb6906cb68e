import type { ChildJob, ChildState } from '../../core/children.ts';
import type { SerializedError } from '../../core/errors.ts';
import type { ArtifactInfo } from '../../core/job.ts';
import type { AbortCause } from '../runner.ts';
import type { TransactionAccess } from './child-transaction.ts';

/**
 * The one message protocol between the worker (parent) and a sandbox child, over Node's IPC
 * channel (JSON). Every message carries `v`; a child speaking another version is not used.
 * Params travel only here, never on argv or in the environment.
 *
 *   parent                                   child
 *     │ ── init {module, nonce, tmpDir} ──▶     │ loads the task module once
 *     │ ◀── ready {tasks} | init-failed ──      │
 *     │ ── run {job, params} ──────────────▶    │ one job at a time
 *     │ ◀── progress | caption | log | subprocess
 *     │ ◀── artifact {requestId} ──  ── artifact-saved ──▶
 *     │ ◀── step-recall | step-record {requestId} ──  ── step-answer ──▶
 *     │ ◀── prepare-commit {requestId, result} ──  ── commit-prepared ──▶  (ctx.transaction,
 *     │ ◀── committed                                  child-transaction.ts)
 *     │ ◀── spawn | wait {requestId} ──  ── child-jobs-answer ──▶  (ctx.spawn, ctx.wait: child-spawns.ts)
 *     │ ── cancel {reason} ────────────────▶    │ aborts ctx.signal
 *     │ ◀── result | error {rssBytes, spawned} ─ │ back to idle
 */
export const PROTOCOL_VERSION = 1;

export interface JobRef {
  id: string;
  task: string;
  attempt: number;
  maxAttempts: number;
  owner: string | null;
}

/** Where an artifact's bytes are: inline (small) or in a file (a temporary one is deleted once saved). */
export type ArtifactPayload = { kind: 'inline'; base64: string } | { kind: 'file'; path: string; temporary: boolean };

export type ParentMessage =
  | { v: 1; type: 'init'; module: string; nonce: string; tmpDir: string }
  /** `transaction`: what ctx.transaction needs; absent or null when the store cannot (the task is refused). */
  | { v: 1; type: 'run'; job: JobRef; params: unknown; transaction?: TransactionAccess | null }
  | { v: 1; type: 'cancel'; jobId: string; kind: AbortCause; message: string }
  | { v: 1; type: 'artifact-saved'; jobId: string; requestId: number; info?: ArtifactInfo; error?: SerializedError }
  | StepAnswer
  | CommitPrepared
  | ChildJobsAnswer;

/** The worker's answer to a spawn (the child job) or a wait (the children's states), or why it refused. */
export interface ChildJobsAnswer {
  v: 1;
  type: 'child-jobs-answer';
  jobId: string;
  requestId: number;
  child?: ChildJob;
  states?: ChildState[];
  error?: SerializedError;
}

/**
 * The worker's answer to a prepare-commit (ctx.transaction): every line before it is stored, and
 * this is the result to record (absent: null); or why the commit must not happen.
 */
export interface CommitPrepared {
  v: 1;
  type: 'commit-prepared';
  jobId: string;
  requestId: number;
  result?: unknown;
  error?: SerializedError;
}

/**
 * The worker's answer to a step request (ctx.step): a recall's `recalled` (null: the step must
 * run), a record's nothing, or why it failed.
 */
export interface StepAnswer {
  v: 1;
  type: 'step-answer';
  jobId: string;
  requestId: number;
  recalled?: { result: unknown } | null;
  error?: SerializedError;
}

export type ChildMessage =
  | { v: 1; type: 'ready'; pid: number; tasks: string[] }
  | { v: 1; type: 'init-failed'; error: SerializedError }
  | { v: 1; type: 'progress'; jobId: string; current: number; total: number | null; message: string | null }
  | { v: 1; type: 'caption'; jobId: string; text: string }
  | { v: 1; type: 'log'; jobId: string; stream: 'stdout' | 'stderr' | 'system'; line: string }
  | {
      v: 1;
      type: 'artifact';
      jobId: string;
      requestId: number;
      name: string;
      contentType: string | null;
      payload: ArtifactPayload;
    }
  | { v: 1; type: 'subprocess'; jobId: string; pid: number; state: 'started' | 'ended' }
  | { v: 1; type: 'step-recall'; jobId: string; requestId: number; name: string }
  /** `result` is a JSON value; absent reads as null (IPC drops an undefined field). */
  | { v: 1; type: 'step-record'; jobId: string; requestId: number; name: string; result?: unknown }
  /** `result` is what ctx.transaction's fn returned (absent: undefined); a marker with `requestId` went down both pipes first. */
  | { v: 1; type: 'prepare-commit'; jobId: string; requestId: number; result?: unknown }
  | { v: 1; type: 'committed'; jobId: string }
  /** `params` is what the task gave (checked by the worker); absent reads as undefined. */
  | {
      v: 1;
      type: 'spawn';
      jobId: string;
      requestId: number;
      task: string;
      name: string;
      options: Record<string, unknown>;
      params?: unknown;
    }
  | { v: 1; type: 'wait'; jobId: string; requestId: number; ids: string[]; settle: boolean }
  | { v: 1; type: 'result'; jobId: string; result: unknown; rssBytes: number; spawned?: boolean }
  | {
      v: 1;
      type: 'error';
      jobId: string;
      error: SerializedError;
      rssBytes: number;
      spawned?: boolean;
      exiting?: boolean;
    };

/** A child whose IPC channel closed exits with this code (sysexits EX_IOERR), so the parent can say why. */
export const EXIT_IPC_LOST = 74;

/**
 * What the child writes to stdout and stderr after a job, so the parent knows it has every line.
 * The nonce (random, per child) keeps task output from faking it; the job id keeps a late marker
 * from ending the next job.
 */
export function endMarker(nonce: string, jobId: string): string {
  return `\u001b[underway-end:${nonce}:${jobId}]`;
}

/** What the child writes to both pipes before a prepare-commit: lines before it belong before the commit. */
export function commitMarker(nonce: string, jobId: string, requestId: number): string {
  return endMarker(nonce, `${jobId}:commit:${requestId}`);
}

type Check = (value: unknown) => boolean;
const str: Check = (v) => typeof v === 'string';
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const int: Check = (v) => Number.isSafeInteger(v);
const nullable =
  (check: Check): Check =>
  (v) =>
    v === null || check(v);
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    typeof v === 'string' && values.includes(v);
const record: Check = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const error: Check = (v) => record(v) && str((v as { message?: unknown }).message);
const payload: Check = (v) => {
  if (!record(v)) return false;
  const p = v as Record<string, unknown>;
  return (
    (p.kind === 'inline' && str(p.base64)) || (p.kind === 'file' && str(p.path) && typeof p.temporary === 'boolean')
  );
};

/** The fields each child message must have, with their checks (extra fields are ignored). */
const CHILD_SHAPES: Record<ChildMessage['type'], Record<string, Check>> = {
  ready: { pid: int, tasks: (v) => Array.isArray(v) && v.every(str) },
  'init-failed': { error },
  progress: { jobId: str, current: num, total: nullable(num), message: nullable(str) },
  caption: { jobId: str, text: str },
  log: { jobId: str, stream: oneOf('stdout', 'stderr', 'system'), line: str },
  artifact: { jobId: str, requestId: int, name: str, contentType: nullable(str), payload },
  subprocess: { jobId: str, pid: int, state: oneOf('started', 'ended') },
  'step-recall': { jobId: str, requestId: int, name: str },
  'step-record': { jobId: str, requestId: int, name: str },
  'prepare-commit': { jobId: str, requestId: int },
  committed: { jobId: str },
  spawn: { jobId: str, requestId: int, task: str, name: str, options: record },
  wait: {
    jobId: str,
    requestId: int,
    ids: (v) => Array.isArray(v) && v.every(str),
    settle: (v) => typeof v === 'boolean',
  },
  result: { jobId: str, rssBytes: num },
  error: { jobId: str, error, rssBytes: num },
};

/**
 * Checks a message from a child. A broken or hostile child (task code can call `process.send`)
 * must not crash the worker: anything that is not exactly a known message gives null.
 */
export function parseChildMessage(value: unknown): ChildMessage | null {
  if (!record(value)) return null;
  const message = value as Record<string, unknown>;
  if (message.v !== PROTOCOL_VERSION || typeof message.type !== 'string') return null;
  const shape = Object.hasOwn(CHILD_SHAPES, message.type)
    ? CHILD_SHAPES[message.type as ChildMessage['type']]
    : undefined;
  if (!shape) return null;
  for (const [key, check] of Object.entries(shape)) if (!check(message[key])) return null;
  return value as ChildMessage;
}

/** Checks a message from the parent (the child trusts its parent, but not blindly its shape). */
export function parseParentMessage(value: unknown): ParentMessage | null {
  if (!record(value)) return null;
  const message = value as Record<string, unknown>;
  if (message.v !== PROTOCOL_VERSION) return null;
  switch (message.type) {
    case 'init':
      return str(message.module) && str(message.nonce) && str(message.tmpDir) ? (value as ParentMessage) : null;
    case 'run':
      return record(message.job) && str((message.job as { id?: unknown }).id) ? (value as ParentMessage) : null;
    case 'cancel':
    case 'artifact-saved':
    case 'step-answer':
    case 'commit-prepared':
    case 'child-jobs-answer':
      return str(message.jobId) ? (value as ParentMessage) : null;
    default:
      return null;
  }
}
