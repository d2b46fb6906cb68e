/**
 * The program a sandbox child runs (forked by the pool, never imported by the worker). It loads
 * the task module once, then runs the jobs the parent sends, one at a time, reporting over IPC.
 * stdout and stderr are pipes the parent reads: console output and `ctx.log` lines go there, in
 * order, followed after each job by an end marker so the parent knows it has every line.
 */
import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PermanentJobError, type SerializedError, serializeError, ValidationError } from '../../core/errors.ts';
import type { ArtifactInfo, Job } from '../../core/job.ts';
import { type AnyTask, type ArtifactSource, isTask } from '../../core/task.ts';
import { killTree, onSubprocess } from '../exec.ts';
import { taskContext } from '../in-process-runner.ts';
import { AttemptAbort, type Execution } from '../runner.ts';
import { ChildSpawns } from './child-spawns.ts';
import { ChildSteps } from './child-steps.ts';
import { ChildTransaction, type TransactionAccess } from './child-transaction.ts';
import {
  type ArtifactPayload,
  type ChildMessage,
  commitMarker,
  EXIT_IPC_LOST,
  endMarker,
  type JobRef,
  PROTOCOL_VERSION,
  parseParentMessage,
} from './protocol.ts';

/** Artifacts up to this size cross IPC inline (base64); larger ones go through a temporary file. */
const INLINE_ARTIFACT_BYTES = 256 * 1024;

// The real writes, taken before task code can patch them: the end marker must reach the pipe.
const writeOut = process.stdout.write.bind(process.stdout);
const writeErr = process.stderr.write.bind(process.stderr);

/**
 * The worker. A child learns that it died from the IPC channel's end, but only when its event
 * loop gets there: a child busy in its task, or waiting for a CPU on a loaded machine, ran on
 * for up to 200 ms after its worker was SIGKILLed (2 CPUs, load 23), finishing jobs whose worker
 * could no longer record them, which then ran again elsewhere. `process.ppid` asks the kernel,
 * which re-parents the child the moment its worker dies (POSIX; on Windows it never changes).
 */
const WORKER_PID = process.ppid;

/** Ends this process (and what its job started) once its worker is gone. */
function orphaned(): never {
  for (const pid of subprocesses) killTree(pid, 'SIGKILL');
  process.exit(EXIT_IPC_LOST);
}

type Body<T extends ChildMessage> = T extends unknown ? Omit<T, 'v'> : never;
function send(message: Body<ChildMessage>, then?: () => void): void {
  // Every report a task makes (progress, a caption, an artifact) passes here: a task that reports
  // before it commits its work stops before the commit when nobody is left to record the job.
  if (process.ppid !== WORKER_PID) orphaned();
  if (process.connected) process.send?.({ v: PROTOCOL_VERSION, ...message }, undefined, {}, then);
  else then?.();
}

let tasks = new Map<string, AnyTask>();
let nonce = '';
let tmpDir = '';
interface Current {
  jobId: string;
  controller: AbortController;
  pending: Map<number, (info: ArtifactInfo | Error) => void>;
  nextRequest: number;
  steps: ChildSteps;
  /** ctx.spawn and ctx.wait, answered by the worker. */
  spawns: ChildSpawns;
  /** ctx.transaction's side in this child; null when the worker's store cannot (the task is refused). */
  transaction: ChildTransaction | null;
}
let current: Current | null = null;

/** Process groups `ctx.exec` started and that still run; killed if this process must go. */
const subprocesses = new Set<number>();
onSubprocess((state, pid) => {
  if (state === 'started') subprocesses.add(pid);
  else subprocesses.delete(pid);
  if (current) send({ type: 'subprocess', jobId: current.jobId, pid, state });
});

/**
 * Whether a process was started since the last job ended: every ChildProcess (spawn, exec,
 * execFile, fork, ctx.exec) is announced on Node's `child_process` channel before it starts. The
 * parent's process-group mode looks for a job's leftovers only after such a job, since a look
 * costs milliseconds (process-group.ts). spawnSync and execSync announce nothing.
 */
let spawned = false;
subscribe('child_process', () => {
  spawned = true;
});

/** Every task the module exports: a config's `tasks`, arrays of tasks, or tasks themselves. */
function collectTasks(module: Record<string, unknown>): Map<string, AnyTask> {
  const found = new Map<string, AnyTask>();
  const visit = (value: unknown, depth: number) => {
    if (isTask(value)) found.set(value.name, value);
    else if (Array.isArray(value) && depth < 2) for (const item of value) visit(item, depth + 1);
    else if (depth === 0 && typeof value === 'object' && value !== null && 'tasks' in value) {
      visit((value as { tasks: unknown }).tasks, depth + 1);
    }
  };
  for (const value of Object.values(module)) visit(value, 0);
  return found;
}

async function init(moduleHref: string): Promise<void> {
  try {
    tasks = collectTasks((await import(moduleHref)) as Record<string, unknown>);
    send({ type: 'ready', pid: process.pid, tasks: [...tasks.keys()] });
  } catch (error) {
    send({ type: 'init-failed', error: serializeError(error) }, () => process.exit(1));
  }
}

async function artifactPayload(source: ArtifactSource): Promise<ArtifactPayload> {
  if (typeof source === 'string' || source instanceof Uint8Array) {
    const bytes =
      typeof source === 'string'
        ? Buffer.from(source)
        : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
    if (bytes.length <= INLINE_ARTIFACT_BYTES) return { kind: 'inline', base64: bytes.toString('base64') };
    source = Readable.from([bytes]);
  }
  if (!(source instanceof Readable) && 'path' in source) {
    return { kind: 'file', path: resolve(source.path), temporary: false };
  }
  const path = resolve(tmpDir, `artifact-${randomUUID()}`);
  await pipeline(source instanceof Readable ? source : Readable.from(source), createWriteStream(path));
  return { kind: 'file', path, temporary: true };
}

function executionFor(job: JobRef, params: unknown, task: AnyTask, state: Current): Execution {
  const jobId = job.id;
  return {
    // taskContext reads only these four fields of the job.
    job: job as unknown as Job,
    task,
    params,
    signal: state.controller.signal,
    killAfterMs: 0,
    report: {
      progress: (current, total, message) =>
        send({ type: 'progress', jobId, current, total, message: message ?? null }),
      message: (text) => send({ type: 'caption', jobId, text }),
      log: (stream, line) => {
        // Through the pipes, so that ctx.log and console.log lines keep their order.
        if (stream === 'system') send({ type: 'log', jobId, stream, line });
        else (stream === 'stdout' ? writeOut : writeErr)(`${line}\n`);
      },
      async artifact(name, source, contentType) {
        const payload = await artifactPayload(source);
        const requestId = state.nextRequest++;
        const answer = new Promise<ArtifactInfo | Error>((done) => state.pending.set(requestId, done));
        send({ type: 'artifact', jobId, requestId, name, contentType: contentType ?? null, payload });
        const info = await answer;
        if (info instanceof Error) throw info;
        return info;
      },
      recallStep: (name) => state.steps.recall(name),
      recordStep: (name, result) => state.steps.record(name, result),
      spawn: (request) => state.spawns.spawn(request),
      wait: (request) => state.spawns.wait(request),
    },
    transaction: state.transaction?.execution() ?? null,
  };
}

/**
 * Why the worker did not save an artifact, as the task will see it: a refused name or content
 * type stays a ValidationError, anything else (a lost lease, a store error) keeps its name and code.
 */
function artifactError(error: SerializedError | undefined): Error {
  const message = error?.message ?? 'The artifact could not be saved.';
  if (error?.code === 'VALIDATION_FAILED') return new ValidationError(message);
  const made = new Error(message);
  if (error?.name) made.name = error.name;
  return error?.code ? Object.assign(made, { code: error.code }) : made;
}

async function run(job: JobRef, params: unknown, transaction: TransactionAccess | null): Promise<void> {
  if (current) return; // The parent sends one job at a time; a second one is a parent bug.
  const state: Current = {
    jobId: job.id,
    controller: new AbortController(),
    pending: new Map(),
    nextRequest: 1,
    steps: new ChildSteps(job.id, send),
    spawns: new ChildSpawns(job.id, send),
    transaction:
      transaction &&
      new ChildTransaction(job.id, transaction, send, (requestId) =>
        markOutput(commitMarker(nonce, job.id, requestId)),
      ),
  };
  current = state;
  const task = tasks.get(job.task);
  let outcome: Body<Extract<ChildMessage, { type: 'result' | 'error' }>>;
  try {
    if (!task) {
      throw new PermanentJobError(`The sandbox module does not export a task named "${job.task}".`, {
        code: 'UNKNOWN_TASK',
      });
    }
    const result: unknown = await task.run(params, taskContext(executionFor(job, params, task, state)));
    JSON.stringify(result); // Throws on what IPC cannot carry (BigInt, cycles): a task error.
    outcome = { type: 'result', jobId: job.id, result, rssBytes: process.memoryUsage.rss() };
  } catch (error) {
    outcome = { type: 'error', jobId: job.id, error: serializeError(error), rssBytes: process.memoryUsage.rss() };
  }
  await endOutput(job.id);
  current = null;
  send({ ...outcome, spawned });
  spawned = false;
}

/** Writes the end marker on both pipes and waits until they took it. */
function endOutput(jobId: string): Promise<unknown> {
  return markOutput(endMarker(nonce, jobId));
}

/** Writes a marker line on both pipes and waits until they took it. */
function markOutput(line: string): Promise<unknown> {
  const marker = `${line}\n`;
  return Promise.all([
    new Promise<void>((done) => writeOut(marker, () => done())),
    new Promise<void>((done) => writeErr(marker, () => done())),
  ]);
}

process.on('message', (raw: unknown) => {
  const message = parseParentMessage(raw);
  if (!message) return;
  switch (message.type) {
    case 'init':
      nonce = message.nonce;
      tmpDir = message.tmpDir;
      void init(message.module);
      break;
    case 'run':
      void run(message.job, message.params, message.transaction ?? null);
      break;
    case 'cancel':
      if (current?.jobId === message.jobId && !current.controller.signal.aborted) {
        current.controller.abort(new AttemptAbort(message.kind, message.message));
      }
      break;
    case 'step-answer':
      if (current?.jobId === message.jobId) current.steps.answer(message);
      break;
    case 'child-jobs-answer':
      if (current?.jobId === message.jobId) current.spawns.answer(message);
      break;
    case 'commit-prepared':
      if (current?.jobId === message.jobId) current.transaction?.answer(message);
      break;
    case 'artifact-saved': {
      const done = current?.jobId === message.jobId ? current.pending.get(message.requestId) : undefined;
      current?.pending.delete(message.requestId);
      done?.(message.info ?? artifactError(message.error));
      break;
    }
  }
});

// Task code that throws outside its promise (a timer, an event handler): the job fails with that
// error rather than an anonymous exit code, then this process ends (its state is unknown).
process.on('uncaughtException', (error) => {
  const jobId = current?.jobId;
  if (!jobId) process.exit(1);
  void endOutput(jobId).then(() =>
    send(
      { type: 'error', jobId, error: serializeError(error), rssBytes: process.memoryUsage.rss(), exiting: true },
      () => process.exit(1),
    ),
  );
});

// The worker went away (or closed the channel): nothing can report for us any more.
process.on('disconnect', orphaned);
// A parent that died mid-read must not turn our writes into an uncaught EPIPE.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
