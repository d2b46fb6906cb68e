import { ValidationError } from '../core/errors.ts';

/** Opaque page cursors: the position of the last job shown, so pages never skip or repeat. */
export function encodeCursor(seq: number | bigint | string): string {
  return Buffer.from(`v1:${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): bigint {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^v1:(\d{1,19})$/.exec(text);
  if (!match?.[1]) throw new ValidationError('The cursor is not valid: pass back a nextCursor exactly as given.');
  return BigInt(match[1]);
}
