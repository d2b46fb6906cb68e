import { randomBytes } from 'node:crypto';

/** 128 random bits, URL-safe: unguessable, so a job id alone grants nothing. */
export function newJobId(): string {
  return randomBytes(16).toString('base64url');
}

/** A token that fences one claim of a job: a worker that lost it can no longer write. */
export function newLeaseToken(): string {
  return randomBytes(12).toString('base64url');
}
