import { ValidationError } from './errors.ts';

/** Letters, digits, and `. _ -` and spaces inside; no path separators, no leading dot. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$/;

/** Checks an artifact name; a name that could step out of its folder is refused. */
export function checkArtifactName(name: unknown): string {
  if (typeof name !== 'string' || !SAFE_NAME.test(name) || name.endsWith(' ') || name.endsWith('.')) {
    throw new ValidationError(
      `Artifact name ${JSON.stringify(name)} is not allowed: use letters, digits, ".", "_", "-" and spaces, starting with a letter or digit (at most 200 characters).`,
    );
  }
  return name;
}

const TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.gz': 'application/gzip',
  '.tgz': 'application/gzip',
  '.zip': 'application/zip',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.html': 'text/html; charset=utf-8',
};

/** A content type from the name's ending; anything unknown downloads as bytes. */
export function guessContentType(name: string): string {
  const dot = name.lastIndexOf('.');
  return (dot >= 0 && TYPES[name.slice(dot).toLowerCase()]) || 'application/octet-stream';
}
