import { randomFillSync } from 'node:crypto';

/**
 * Random bytes from the system CSPRNG, drawn from a pool refilled 4 KiB at a time (as Node's own
 * randomUUID does): a `randomBytes` call per id was ~6 % of a worker's CPU draining no-op jobs.
 * Every byte is handed out once.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;

function randomChars(bytes: number): string {
  if (used + bytes > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    used = 0;
  }
  const text = pool.toString('base64url', used, used + bytes);
  used += bytes;
  return text;
}

/**
 * 128 random bits, URL-safe: unguessable, so a job id alone grants nothing. Never starting with
 * "-": one id in 64 did, and `underway logs -Xb3…` read it as an option (exit 2).
 */
export function newJobId(): string {
  for (;;) {
    const id = randomChars(16);
    if (id[0] !== '-') return id;
  }
}

/** A token that fences one claim of a job: a worker that lost it can no longer write. */
export function newLeaseToken(): string {
  return randomChars(12);
}
