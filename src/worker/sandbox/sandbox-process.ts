import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { type SerializedError, serializeError } from '../../core/errors.ts';
import type { ArtifactInfo } from '../../core/job.ts';
import type { ArtifactSource } from '../../core/task.ts';
import { killTree, LineSplitter } from '../exec.ts';
import type { Execution, RunResult } from '../runner.ts';
import { cleanError, drained, exitReason } from './exit-reason.ts';
import { MemoryWatch, memoryLimitError } from './memory-limit.ts';
import { PipeMarks } from './pipe-marks.ts';
import type { ChildTree, PoolTree } from './process-tree.ts';
import {
  type ChildMessage,
  commitMarker,
  endMarker,
  type ParentMessage,
  PROTOCOL_VERSION,
  parseChildMessage,
} from './protocol.ts';

const IS_WINDOWS = process.platform === 'win32';
/** After a child's IPC channel closes, how long it may take to exit on its own before it counts as "lost its IPC channel". */
const DISCONNECT_WAIT_MS = 500;
/** After a child exits, how long to wait for the rest of its output before judging why it died. */
const OUTPUT_DRAIN_MS = 500;
/** After a result, how long to wait for the end markers on stdout/stderr (a task that replaced fd 1 sends none). */
const MARKER_WAIT_MS = 1_000;

/** How to start one child. */
export interface ProcessSpec {
  entry: string;
  module: string;
  execArgv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  tmpDir: string;
  heapMb: number | undefined;
  /** SIGTERM → SIGKILL. */
  termGraceMs: number;
  startTimeoutMs: number;
  maxLogLines: number;
}

export type ProcessState = 'starting' | 'idle' | 'busy' | 'dead';

interface RunningJob {
  execution: Execution;
  resolve(result: RunResult): void;
  outcome: RunResult | null;
  markers: Set<'stdout' | 'stderr'>;
  /** Markers written mid-job, before a ctx.transaction commit (pipe-marks.ts). */
  marks: PipeMarks;
  lines: number;
  subprocesses: Set<number>;
  /** The child said the job started a process (so the process-group mode looks for leftovers). */
  spawned: boolean;
  /** The job's memory limit (`sandbox.rssMb`), and what samples it. */
  limitBytes: number | null;
  watch: MemoryWatch | null;
  onAbort(): void;
  timers: NodeJS.Timeout[];
}

/** A sandbox child as the parent sees it: one forked Node process running one job at a time. */
export class SandboxProcess {
  readonly profile: string;
  readonly #spec: ProcessSpec;
  readonly #child: ChildProcess;
  readonly #nonce = randomBytes(8).toString('hex');
  readonly #onDead: () => void;
  /** What the child's jobs start, and how it is killed: a cgroup, or the process group (process-tree.ts). */
  readonly #tree: ChildTree;
  #state: ProcessState = 'starting';
  #job: RunningJob | null = null;
  #terminating: 'abort' | 'ipc' | 'retire' | 'memory' | null = null;
  #sawOom = false;
  #killTimer: NodeJS.Timeout | undefined;
  #startError: SerializedError | null = null;
  #readyHandlers: { resolve(): void; reject(error: Error): void } | null = null;
  jobsRun = 0;
  rssBytes = 0;
  /** Resolves once the child loaded the task module; rejects with why it could not. */
  readonly ready: Promise<void>;
  /** Resolves once the child is gone (and what it left in its process group or cgroup with it). */
  readonly exited: Promise<void>;

  constructor(profile: string, spec: ProcessSpec, trees: PoolTree, onDead: () => void) {
    this.profile = profile;
    this.#spec = spec;
    this.#onDead = onDead;
    this.#child = fork(spec.entry, [], {
      execArgv: spec.execArgv,
      env: spec.env,
      cwd: spec.cwd,
      // POSIX: the child leads its own process group, so a kill of -pid reaches all it started.
      detached: !IS_WINDOWS,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.#tree = trees.forChild(this.#child.pid);
    for (const stream of ['stdout', 'stderr'] as const) {
      const splitter = new LineSplitter((line) => this.#onLine(stream, line));
      this.#child[stream]?.setEncoding('utf8');
      this.#child[stream]?.on('data', (chunk: string) => splitter.push(chunk));
      this.#child[stream]?.on('end', () => splitter.end());
    }
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#startError = { name: 'Error', message: `it did not load the task module in ${spec.startTimeoutMs} ms` };
        this.terminate();
      }, spec.startTimeoutMs);
      this.#readyHandlers = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
    this.ready.catch(() => {}); // A start failure is reported through run(); nobody else must trip on it.
    this.exited = new Promise((resolve) => {
      let gone = false;
      const died = (code: number | null, signal: NodeJS.Signals | null) => {
        if (!gone) resolve(this.#died(code, signal));
        gone = true;
      };
      this.#child.once('exit', died);
      // A failed spawn may emit no 'exit'; a failed send is followed by 'disconnect' or 'exit'.
      this.#child.on('error', () => {
        if (this.#child.pid === undefined) died(null, null);
      });
    });
    this.#child.on('message', (raw) => this.#onMessage(raw));
    this.#child.on('disconnect', () => {
      setTimeout(() => {
        if (this.#state !== 'dead' && this.#terminating === null) this.terminate('ipc');
      }, DISCONNECT_WAIT_MS).unref();
    });
    this.#send({ v: PROTOCOL_VERSION, type: 'init', module: spec.module, nonce: this.#nonce, tmpDir: spec.tmpDir });
  }

  get state(): ProcessState {
    return this.#state;
  }

  /** True once it is being ended: it takes no more jobs and no longer counts toward the pool size. */
  get terminating(): boolean {
    return this.#terminating !== null;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /**
   * Runs one job; the child must be idle. Resolves with its result, or a CRASHED error if the
   * child died, or MEMORY_LIMIT past `limitBytes`, once what the job started is killed.
   */
  run(execution: Execution, limitBytes: number | null = null): Promise<RunResult> {
    if (this.#state !== 'idle') throw new Error(`A sandbox child that is ${this.#state} cannot take a job.`);
    this.#state = 'busy';
    const { job, signal } = execution;
    return new Promise<RunResult>((resolve) => {
      const running: RunningJob = {
        execution,
        resolve,
        outcome: null,
        markers: new Set(),
        marks: new PipeMarks(),
        lines: 0,
        subprocesses: new Set(),
        spawned: false,
        limitBytes,
        watch: null,
        timers: [],
        onAbort: () => {
          const reason = signal.reason as { kind?: unknown; message?: unknown } | undefined;
          const kind = typeof reason?.kind === 'string' ? (reason.kind as 'cancel') : 'cancel';
          const message = typeof reason?.message === 'string' ? reason.message : 'Cancelled.';
          this.#send({ v: PROTOCOL_VERSION, type: 'cancel', jobId: job.id, kind, message });
          // Cooperative first; past the grace period the whole process group goes.
          running.timers.push(setTimeout(() => this.terminate('abort'), execution.killAfterMs));
        },
      };
      this.#job = running;
      this.#tree.jobStarted(limitBytes);
      const pid = this.#child.pid;
      if (limitBytes !== null && pid !== undefined) {
        const onExceeded = (usedBytes: number) => this.#overLimit(running, usedBytes);
        running.watch = new MemoryWatch({ childPid: pid, pids: () => this.#tree.jobPids(), limitBytes, onExceeded });
      }
      const ref = { id: job.id, task: job.task, attempt: job.attempt, maxAttempts: job.maxAttempts, owner: job.owner };
      // A function cannot cross IPC: the child opens the store's transactions itself, from the target.
      const { transaction } = execution;
      const access = transaction?.target ? { target: transaction.target, lease: transaction.lease } : null;
      this.#send({ v: PROTOCOL_VERSION, type: 'run', job: ref, params: execution.params, transaction: access });
      if (signal.aborted) running.onAbort();
      else signal.addEventListener('abort', running.onAbort, { once: true });
    });
  }

  /**
   * Ends the child: SIGTERM to its process group (and to the groups `ctx.exec` started), SIGKILL
   * after `termGraceMs`, with its whole cgroup where there is one. Windows: `taskkill /T /F` at once.
   */
  terminate(why: 'abort' | 'ipc' | 'retire' = 'retire'): void {
    if (this.#state === 'dead' || this.#terminating) return;
    this.#terminating = why;
    this.#signalAll('SIGTERM');
    this.#killTimer = setTimeout(() => this.#signalAll('SIGKILL'), this.#spec.termGraceMs);
  }

  /** Kills at once and synchronously (for a worker process that is exiting). */
  killNow(): void {
    if (this.#state === 'dead') return;
    if (IS_WINDOWS) this.#child.kill();
    else this.#signalAll('SIGKILL');
  }

  #signalAll(signal: 'SIGTERM' | 'SIGKILL'): void {
    const pid = this.#child.pid;
    if (pid !== undefined) killTree(pid, signal);
    for (const sub of this.#job?.subprocesses ?? []) killTree(sub, signal);
    if (signal === 'SIGKILL') this.#tree.kill(); // What left the process group (setsid) too.
  }

  /** A job past its memory limit: it ends MEMORY_LIMIT once the child is dead, and the child is replaced. */
  #overLimit(job: RunningJob, usedBytes: number): void {
    if (this.#job !== job || job.outcome || job.limitBytes === null) return;
    job.outcome = { ok: false, error: memoryLimitError(usedBytes, job.limitBytes) };
    this.#terminating ??= 'memory';
    this.#signalAll('SIGKILL'); // No grace: the memory would go on growing through it.
  }

  #send(message: ParentMessage): void {
    if (!this.#child.connected) return;
    try {
      this.#child.send(message, (error: Error | null) => void error);
    } catch {
      // The channel closed under us; the 'disconnect'/'exit' handlers take it from here.
    }
  }

  #onLine(stream: 'stdout' | 'stderr', line: string): void {
    const at = line.indexOf(endMarker(this.#nonce, '').slice(0, -1)); // Any job's marker: all but the closing "]".
    if (at !== -1) {
      if (at > 0) this.#forward(stream, line.slice(0, at));
      const job = this.#job;
      // A marker of an earlier job (ended without it, after MARKER_WAIT_MS) is dropped.
      if (job && line.slice(at) === endMarker(this.#nonce, job.execution.job.id)) {
        job.markers.add(stream);
        this.#settleIfDone();
      } else job?.marks.add(line.slice(at), stream);
      return;
    }
    if (stream === 'stderr' && line.includes('JavaScript heap out of memory')) this.#sawOom = true;
    this.#forward(stream, line);
  }

  /** Hands a line to the job's log, up to the cap; output while idle (module load) has no job to go to. */
  #forward(stream: 'stdout' | 'stderr' | 'system', line: string): void {
    const job = this.#job;
    if (!job) return;
    job.lines++;
    const max = this.#spec.maxLogLines;
    if (job.lines <= max) job.execution.report.log(stream, line);
    else if (job.lines === max + 1)
      job.execution.report.log('system', `[output capped at ${max} lines; the rest is dropped]`);
  }

  #onMessage(raw: unknown): void {
    const message = parseChildMessage(raw);
    if (!message) {
      this.#forward('system', '[the job process sent a message underway does not understand; ignored]');
      return;
    }
    if (message.type === 'ready') {
      if (this.#state === 'starting') {
        this.#tree.childReady(); // Once: task code can send a "ready" too, to make its processes the child's.
        this.#state = 'idle';
      }
      this.#readyHandlers?.resolve();
      return;
    }
    if (message.type === 'init-failed') {
      if (this.#state === 'starting') {
        this.#startError = message.error;
        this.terminate();
      }
      return;
    }
    const job = this.#job;
    if (!job || message.jobId !== job.execution.job.id) return;
    this.#onJobMessage(job, message);
  }

  #onJobMessage(job: RunningJob, message: ChildMessage): void {
    const { report } = job.execution;
    try {
      switch (message.type) {
        case 'progress':
          report.progress(message.current, message.total, message.message);
          break;
        case 'caption':
          report.message(message.text);
          break;
        case 'log':
          this.#forward(message.stream, message.line);
          break;
        case 'subprocess':
          if (message.state === 'started') job.subprocesses.add(message.pid);
          else job.subprocesses.delete(message.pid);
          break;
        case 'artifact':
          this.#saveArtifact(job, message);
          break;
        case 'step-recall':
        case 'step-record':
          this.#answerStep(job, message);
          break;
        case 'spawn':
        case 'wait':
          this.#answerChildJobs(job, message);
          break;
        case 'prepare-commit':
          this.#prepareCommit(job, message);
          break;
        case 'committed':
          job.execution.transaction?.committed(null);
          break;
        case 'result':
        case 'error':
          if (job.outcome) break; // Over its memory limit already: that is how it ends.
          this.rssBytes = message.rssBytes;
          job.spawned = message.spawned === true;
          // The child ends itself after an uncaught exception: it must not look idle meanwhile.
          if (message.type === 'error' && message.exiting === true) this.terminate();
          job.outcome =
            message.type === 'result'
              ? { ok: true, result: message.result }
              : { ok: false, error: cleanError(message.error) };
          job.timers.push(setTimeout(() => this.#settleIfDone(true), MARKER_WAIT_MS));
          this.#settleIfDone();
          break;
      }
    } catch (error) {
      // A report the worker refused (bad progress numbers): a line in the log, not a dead worker.
      this.#forward('system', `[ignored a ${message.type} message: ${serializeError(error).message}]`);
    }
  }

  /** Stores an artifact the child sent, answers with its info, and removes a temporary file. */
  #saveArtifact(job: RunningJob, message: Extract<ChildMessage, { type: 'artifact' }>): void {
    const { payload, requestId } = message;
    const source: ArtifactSource =
      payload.kind === 'inline' ? Buffer.from(payload.base64, 'base64') : { path: payload.path };
    const jobId = job.execution.job.id;
    const answer = (result: { info: ArtifactInfo } | { error: SerializedError }) =>
      this.#send({ v: PROTOCOL_VERSION, type: 'artifact-saved', jobId, requestId, ...result });
    job.execution.report
      .artifact(message.name, source, message.contentType ?? undefined)
      .then(
        (info) => answer({ info }),
        (error: unknown) => answer({ error: serializeError(error) }),
      )
      .finally(() => {
        if (payload.kind === 'file' && payload.temporary) void rm(payload.path, { force: true });
      });
  }

  /**
   * The child's ctx.transaction is about to commit: once every line it wrote before is read (its
   * markers came through both pipes), the attempt stores them with the progress and gives the
   * result to record; the answer lets the child commit, or says why not (child-transaction.ts).
   */
  #prepareCommit(job: RunningJob, message: Extract<ChildMessage, { type: 'prepare-commit' }>): void {
    const { jobId, requestId } = message;
    const answer = (reply: { result: unknown } | { error: SerializedError }) =>
      this.#send({ v: PROTOCOL_VERSION, type: 'commit-prepared', jobId, requestId, ...reply });
    const access = job.execution.transaction;
    if (!access) {
      answer({ error: { name: 'Error', message: 'This job was given no transaction.' } });
      return;
    }
    job.marks
      .wait(commitMarker(this.#nonce, jobId, requestId), MARKER_WAIT_MS)
      .then(() => access.beforeCommit(message.result))
      .then(
        (result) => answer({ result }),
        (error: unknown) => answer({ error: serializeError(error) }),
      );
  }

  /** Answers a step request of the child (ctx.step) from the attempt: a recorded result, a record made, or why not. */
  /** A ctx.spawn or ctx.wait of the child's task, done by the attempt (child-jobs.ts), answered over IPC. */
  #answerChildJobs(job: RunningJob, message: Extract<ChildMessage, { type: 'spawn' | 'wait' }>): void {
    const { report } = job.execution;
    const { jobId, requestId } = message;
    const asked =
      message.type === 'spawn'
        ? report
            .spawn({ task: message.task, params: message.params, name: message.name, options: message.options })
            .then((child) => ({ child }))
        : report.wait({ ids: message.ids, settle: message.settle }).then((states) => ({ states }));
    asked.then(
      (answer) => this.#send({ v: PROTOCOL_VERSION, type: 'child-jobs-answer', jobId, requestId, ...answer }),
      (error: unknown) =>
        this.#send({ v: PROTOCOL_VERSION, type: 'child-jobs-answer', jobId, requestId, error: serializeError(error) }),
    );
  }

  #answerStep(job: RunningJob, message: Extract<ChildMessage, { type: 'step-recall' | 'step-record' }>): void {
    const { report } = job.execution;
    const { jobId, requestId } = message;
    const asked =
      message.type === 'step-recall'
        ? report.recallStep(message.name).then((recalled) => ({ recalled }))
        : report.recordStep(message.name, message.result ?? null).then(() => ({}));
    asked.then(
      (answer) => this.#send({ v: PROTOCOL_VERSION, type: 'step-answer', jobId, requestId, ...answer }),
      (error: unknown) =>
        this.#send({ v: PROTOCOL_VERSION, type: 'step-answer', jobId, requestId, error: serializeError(error) }),
    );
  }

  /** Ends the job once the child answered and both pipes delivered their last line (or `force`). */
  #settleIfDone(force = false): void {
    const job = this.#job;
    if (!job?.outcome || (!force && job.markers.size < 2)) return;
    this.#endJob(job, job.outcome);
    this.jobsRun++;
    if (this.#state === 'busy' && !this.#terminating) this.#state = 'idle';
  }

  /** Ends the job: what it left running is killed (`cleanUp`: the child lives on), then it resolves. */
  #endJob(job: RunningJob, result: RunResult, cleanUp = true): void {
    this.#job = null;
    for (const timer of job.timers) clearTimeout(timer);
    job.watch?.stop();
    job.execution.signal.removeEventListener('abort', job.onAbort);
    // Whatever ctx.exec started and the job left running ends with the job.
    for (const pid of job.subprocesses) killTree(pid, 'SIGKILL');
    // The process-group mode lists the group first; the child stays taken (busy) until then.
    const done = () => job.resolve(result);
    const sweep = cleanUp ? this.#tree.jobEnded(job.spawned) : null;
    if (sweep) void sweep.then(done, done);
    else done();
  }

  async #died(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const pid = this.#child.pid;
    const outOfMemory = this.#tree.outOfMemory(); // Before the kill: the kernel's memory.max took it.
    if (pid !== undefined && !IS_WINDOWS) killTree(pid, 'SIGKILL'); // Leftovers in its group.
    this.#tree.kill(); // And in its cgroup.
    await drained(this.#child, OUTPUT_DRAIN_MS);
    clearTimeout(this.#killTimer);
    this.#state = 'dead';
    const reason = exitReason({
      code,
      signal,
      startError: this.#startError?.message ?? null,
      module: this.#spec.module,
      terminating: this.#terminating,
      killAfterMs: this.#job?.execution.killAfterMs ?? 0,
      outOfMemory: this.#sawOom,
      heapMb: this.#spec.heapMb,
    });
    this.#readyHandlers?.reject(new Error(`The job's process ${reason}.`));
    const job = this.#job;
    if (job) {
      for (const sub of job.subprocesses) killTree(sub, 'SIGKILL');
      const error: SerializedError =
        outOfMemory && job.limitBytes !== null
          ? memoryLimitError(null, job.limitBytes)
          : { name: 'CrashError', code: 'CRASHED', message: `The job's process ${reason}.` };
      this.#endJob(job, job.outcome ?? { ok: false, error }, false);
    }
    this.#onDead();
    await this.#tree.dispose();
  }
}
