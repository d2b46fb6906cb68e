/**
 * The few error classes underway throws. Each has a stable `code` (what programs branch on) and
 * keeps the original `cause`; messages are short sentences meant for a person.
 */

/** Base class: every error underway raises on purpose carries a stable code. */
export class UnderwayError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Input that cannot be accepted: unknown task, params failing the schema, malformed JSON. */
export class ValidationError extends UnderwayError {
  /** One line per problem, e.g. `params.path: Required`. */
  readonly issues: readonly string[];
  constructor(message: string, issues: readonly string[] = [], options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'VALIDATION_FAILED', message, options);
    this.issues = issues;
  }
}

/** Input too large to keep, e.g. a job's params past their cap (HTTP 413). */
export class TooLargeError extends ValidationError {
  constructor(message: string) {
    super(message, [], { code: 'TOO_LARGE' });
  }
}

/** A job (or other record) that does not exist, or that the caller may not see. */
export class NotFoundError extends UnderwayError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** The request conflicts with the job's state, e.g. deleting a running job. */
export class ConflictError extends UnderwayError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}

/** The store could not do what was asked: locked, unreachable, not an underway database. */
export class StoreError extends UnderwayError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Thrown by task code to say "this will never work, do not retry": the job fails at once
 * whatever attempts remain.
 *
 * @example
 * if (!exists(path)) throw new PermanentJobError(`Nothing to back up at ${path}`);
 */
export class PermanentJobError extends UnderwayError {
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'TASK_ERROR', message, options);
  }
}

/**
 * What `ctx.wait` throws when a child job it waits for failed or was cancelled (docs/children.md).
 * Uncaught, the parent fails at once with code CHILD_FAILED: the child had its own attempts, and
 * running the parent again would find the same child ended the same way. Caught, the parent goes
 * on (`ctx.wait(children, { settle: true })` gives every child's outcome instead).
 */
export class ChildJobError extends PermanentJobError {
  /** The child: its id, its name within the parent, its task and how it ended. */
  readonly child: { id: string; name: string; task: string; status: 'failed' | 'cancelled' };
  /** The child's own error. */
  readonly childError: { message: string; code: string };

  constructor(
    child: { id: string; name: string; task: string; status: 'failed' | 'cancelled' },
    childError: { message: string; code: string },
  ) {
    super(`Child job ${child.name} (${child.task} ${child.id}) ${child.status}: ${childError.message}`, {
      code: 'CHILD_FAILED',
    });
    this.child = child;
    this.childError = childError;
  }
}

/** Turns whatever was thrown into an Error, so every `catch (e: unknown)` has one shape to use. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  try {
    return new Error(`Non-error thrown: ${JSON.stringify(thrown)}`);
  } catch {
    return new Error(`Non-error thrown: ${String(thrown)}`);
  }
}

/** An error as it crosses a process boundary or is stored: plain data, no prototype. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string | undefined;
  code?: string | undefined;
  permanent?: boolean | undefined;
}

export function serializeError(thrown: unknown): SerializedError {
  const error = toError(thrown);
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    message: error.message,
    stack: error.stack,
    code: typeof code === 'string' ? code : undefined,
    permanent: error instanceof PermanentJobError || undefined,
  };
}
