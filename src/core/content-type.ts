import { ValidationError } from './errors.ts';

/** Longest content type accepted: registered types with their parameters fit well within it; kilobytes are not a type. */
export const MAX_CONTENT_TYPE_LENGTH = 200;

/** What an artifact with no (or no usable) content type is served as. */
export const FALLBACK_CONTENT_TYPE = 'application/octet-stream';

/**
 * RFC 9110 §8.3.1: `type "/" subtype *( OWS ";" OWS [ parameter ] )`, each a token, a parameter
 * `token "=" ( token / quoted-string )`, in printable ASCII with spaces (no tab, no control
 * character, no obs-text: each would break or bend a response header). Written so that no two
 * ways match one string: a space after a `;` is taken only when a parameter follows, so a 200
 * character hostile value is one pass, not a backtracking explosion.
 */
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[ !#-\\[\\]-~]|\\\\[ -~])*"';
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?: *;(?: *${TOKEN}=(?:${TOKEN}|${QUOTED}))?)* *$`);

/** Whether a value is a well-formed content type (a MIME type, with parameters) of an acceptable length. */
export function isContentType(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_CONTENT_TYPE_LENGTH && MEDIA_TYPE.test(value);
}

/**
 * Checks an artifact's content type, as a task gives it (`ctx.artifact(name, source, { contentType })`)
 * and again as a store writes it: a header a download will send must not carry CR, LF or NUL,
 * nor overflow a client's header limit.
 *
 * @example
 * checkContentType('text/csv; charset=utf-8'); // returns it
 * checkContentType('text/plain\r\nSet-Cookie: a=b'); // throws ValidationError
 */
export function checkContentType(value: unknown): string {
  if (isContentType(value)) return value;
  const shown =
    typeof value === 'string' ? JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value) : String(value);
  throw new ValidationError(
    `Content type ${shown} is not allowed: give a MIME type such as "text/csv" or "application/json; charset=utf-8" (type/subtype and parameters, printable ASCII, at most ${MAX_CONTENT_TYPE_LENGTH} characters).`,
    ['contentType'],
  );
}

/**
 * The content type to serve for a stored one: itself when valid, else `application/octet-stream`
 * (a type stored before types were checked must not reach a response header).
 */
export function servedContentType(stored: unknown): string {
  return isContentType(stored) ? stored : FALLBACK_CONTENT_TYPE;
}
