import type { DestinationStream } from 'pino';

/**
 * pino's JSON lines made readable for a person at a terminal, one line each:
 *
 *   14:03:07.123 INFO  underway worker running  store=sqlite config=underway.config.ts
 *
 * Loaded only when the CLI logs in this format (stderr is a terminal, or --log-format pretty):
 * a worker logging JSON never loads it. An error's stack follows its line for levels error and
 * fatal. Everything is written synchronously, as pino's own stderr destination does.
 */
export function prettyDestination(out: NodeJS.WriteStream = process.stderr): DestinationStream {
  const color = out.isTTY === true && !('NO_COLOR' in process.env);
  const paint = (code: number, text: string) => (color ? `\u001b[${code}m${text}\u001b[39m` : text);
  const dim = (text: string) => (color ? `\u001b[2m${text}\u001b[22m` : text);
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      out.write(`${formatRecord(record, { paint, dim })}\n`);
    },
  };
}

const LEVELS: Record<number, [label: string, color: number]> = {
  10: ['TRACE', 90],
  20: ['DEBUG', 90],
  30: ['INFO ', 32],
  40: ['WARN ', 33],
  50: ['ERROR', 31],
  60: ['FATAL', 35],
};

/** pino's own fields, shown in the line's head or not at all. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'v', 'err']);

interface Style {
  paint(code: number, text: string): string;
  dim(text: string): string;
}

function formatRecord(record: Record<string, unknown>, style: Style): string {
  const level = typeof record.level === 'number' ? record.level : 30;
  const [label, color] = LEVELS[level] ?? ['LOG  ', 39];
  const time = typeof record.time === 'number' ? new Date(record.time).toTimeString().slice(0, 8) : '';
  const ms = typeof record.time === 'number' ? `.${String(record.time % 1000).padStart(3, '0')}` : '';
  const fields = Object.entries(record)
    .filter(([key, value]) => !HIDDEN.has(key) && value !== undefined)
    .map(
      ([key, value]) => `${key}=${typeof value === 'string' && !/\s|"/.test(value) ? value : JSON.stringify(value)}`,
    );
  const err = record.err as { type?: string; message?: string; stack?: string } | undefined;
  if (err) fields.push(`err=${JSON.stringify(`${err.type ?? 'Error'}: ${err.message ?? ''}`)}`);
  const head = `${style.dim(`${time}${ms}`)} ${style.paint(color, label)} ${String(record.msg ?? '')}`;
  const line = fields.length > 0 ? `${head}  ${style.dim(fields.join(' '))}` : head;
  if (!err?.stack || level < 50) return line;
  const frames = err.stack.split('\n').filter((frame) => /^\s+at /.test(frame));
  return frames.length > 0 ? `${line}\n${style.dim(frames.join('\n'))}` : line;
}
