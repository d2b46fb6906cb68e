/**
 * `text` for a LIKE pattern with `ESCAPE '\'`: its `%`, `_` and `\` match themselves, so a
 * search for "50%" finds "50%", not every job with a 50 in it.
 */
export function likeEscaped(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
