import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ConflictError, NotFoundError, StoreError, TooLargeError, toError, ValidationError } from '../core/errors.ts';
import type { Logger } from '../logger.ts';

/** The body of every 4xx/5xx answer. `details` lists one problem per line where there are several. */
export interface ErrorBody {
  error: { code: string; message: string; details?: readonly string[] };
}

/**
 * An error that already knows its HTTP answer. Route code throws it (or one of core's errors)
 * and the one error handler below turns it into `{ error: { code, message } }`.
 */
export class HttpError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly details: readonly string[] | undefined;
  readonly headers: Record<string, string>;
  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    options: { details?: readonly string[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  getResponse(): Response {
    const body: ErrorBody = { error: { code: this.code, message: this.message } };
    if (this.details) body.error.details = this.details;
    return Response.json(body, { status: this.status, headers: this.headers });
  }
}

/** 404 for unknown jobs and for jobs the caller may not see alike: never confirm that a job exists. */
export function jobNotFound(id: string): HttpError {
  return new HttpError(404, 'NOT_FOUND', `There is no job ${id}.`);
}

export function unauthenticated(): HttpError {
  return new HttpError(401, 'UNAUTHENTICATED', 'Sign in, or send a valid bearer token or share link.', {
    headers: { 'WWW-Authenticate': 'Bearer' },
  });
}

/** Maps what was thrown to the HTTP answer: core's errors by class, anything else a 500. */
export function toHttpError(thrown: unknown): HttpError {
  if (thrown instanceof HttpError) return thrown;
  if (thrown instanceof TooLargeError) return new HttpError(413, 'PAYLOAD_TOO_LARGE', thrown.message);
  if (thrown instanceof ValidationError) {
    return new HttpError(400, 'VALIDATION_FAILED', thrown.message, { details: thrown.issues });
  }
  if (thrown instanceof NotFoundError) return new HttpError(404, 'NOT_FOUND', thrown.message);
  if (thrown instanceof ConflictError) return new HttpError(409, 'CONFLICT', thrown.message);
  if (thrown instanceof StoreError) {
    return new HttpError(503, 'STORE_UNAVAILABLE', 'The job store cannot be reached right now; try again shortly.');
  }
  // Hono's own HTTPException (and anything else with a ready answer) keeps its status.
  const status = (thrown as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new HttpError(status as ContentfulStatusCode, 'BAD_REQUEST', toError(thrown).message || 'Bad request.');
  }
  return new HttpError(500, 'INTERNAL', 'Something went wrong on the server; it has been logged.');
}

/** Hono's `onError`: the one place errors become answers. 5xx are logged with their cause. */
export function errorHandler(log: Logger) {
  return (thrown: unknown, c: Context): Response => {
    const error = toHttpError(thrown);
    if (error.status >= 500) {
      log.error({ err: toError(thrown), method: c.req.method, path: c.req.path }, 'request failed');
    }
    return error.getResponse();
  };
}

export function notFoundHandler(c: Context): Response {
  return new HttpError(404, 'NOT_FOUND', `Nothing is at ${c.req.method} ${c.req.path}.`).getResponse();
}
