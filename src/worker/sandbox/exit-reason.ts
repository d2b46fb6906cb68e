import type { ChildProcess } from 'node:child_process';
import type { SerializedError } from '../../core/errors.ts';
import { EXIT_IPC_LOST } from './protocol.ts';

/** What the parent knows when a child is gone. */
export interface ExitFacts {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why loading the task module failed, if it did. */
  startError: string | null;
  module: string;
  /** Why the parent ended it, if it did. */
  terminating: 'abort' | 'ipc' | 'retire' | 'memory' | null;
  killAfterMs: number;
  /** V8 printed "JavaScript heap out of memory" on stderr. */
  outOfMemory: boolean;
  heapMb: number | undefined;
}

/**
 * Why a child ended, as the end of the sentence "The job's process …". Most specific first: an
 * out-of-memory death is also a SIGABRT, and a lost IPC channel also an exit code.
 */
export function exitReason(facts: ExitFacts): string {
  if (facts.startError !== null) return `could not load ${facts.module}: ${facts.startError}`;
  if (facts.terminating === 'abort') return `was ended: it did not stop within ${facts.killAfterMs} ms of being asked`;
  if (facts.outOfMemory) return `ran out of memory${facts.heapMb ? ` (heap limit ${facts.heapMb} MB)` : ''}`;
  if (facts.terminating === 'ipc' || facts.code === EXIT_IPC_LOST) return 'lost its IPC channel';
  if (facts.signal) return `was killed by ${facts.signal}`;
  return `exited with code ${facts.code}`;
}

/** Resolves when both output pipes closed, or after `ms` (a grandchild may hold them open). */
export function drained(child: ChildProcess, ms: number): Promise<void> {
  const ends = [child.stdout, child.stderr].map(
    (stream) => new Promise<void>((resolve) => (!stream || stream.closed ? resolve() : stream.once('close', resolve))),
  );
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([Promise.all(ends).then(() => undefined), limit]).finally(() => clearTimeout(timer));
}

/** A child's error, reduced to the serialized fields with the right types. */
export function cleanError(error: SerializedError): SerializedError {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    name: text(error.name) ?? 'Error',
    message: error.message,
    stack: text(error.stack),
    code: text(error.code),
    permanent: error.permanent === true || undefined,
  };
}
