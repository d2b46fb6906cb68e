import { MAX_LOG_LINE_LENGTH } from './store.ts';

/** The one `system` line a store writes where a job's log reached its cap. */
export function logCapNotice(maxLines: number): string {
  return `[log capped at ${maxLines} lines; later lines dropped]`;
}

/** Cuts a line past MAX_LOG_LINE_LENGTH, saying how long it was. */
export function capLogLine(line: string): string {
  return line.length <= MAX_LOG_LINE_LENGTH
    ? line
    : `${line.slice(0, MAX_LOG_LINE_LENGTH)}… [cut, ${line.length} characters]`;
}
