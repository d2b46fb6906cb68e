import { StoreError, toError, UnderwayError } from '../../core/errors.ts';

/** Error codes that mean "the server is not there (now)": connection refused, reset, shut down, terminated. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE']);

/** True for an error after which a new connection may well succeed. */
export function isConnectionError(thrown: unknown): boolean {
  const error = toError(thrown);
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNREACHABLE.has(code) || code.startsWith('08') || code.startsWith('57P'))) {
    return true;
  }
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(error.message);
}

/** Turns a pg error into a StoreError that says what happened in words; underway's own errors pass through. */
export function storeError(thrown: unknown, where: string): Error {
  if (thrown instanceof UnderwayError) return thrown;
  const error = toError(thrown);
  const code = (error as { code?: unknown }).code;
  if (isConnectionError(error)) {
    return new StoreError(
      'STORE_UNREACHABLE',
      `PostgreSQL at ${where} cannot be reached: ${error.message}. Is the server running and the connection string right?`,
      { cause: error },
    );
  }
  if (code === '3D000') {
    return new StoreError('STORE_UNREACHABLE', `PostgreSQL at ${where}: ${error.message}. Create the database first.`, {
      cause: error,
    });
  }
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    return new StoreError('STORE_FAILED', `PostgreSQL at ${where} failed: ${error.message} (${code}).`, {
      cause: error,
    });
  }
  return error;
}

/** host:port/database, never the password, for messages. */
export function describeTarget(connectionString: string | undefined): string {
  if (!connectionString) return 'the PG* environment settings';
  try {
    const url = new URL(connectionString);
    return `${url.hostname}:${url.port || '5432'}${url.pathname}`;
  } catch {
    return 'the configured server';
  }
}
