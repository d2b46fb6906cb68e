import { describe, expect, it } from 'vitest';
import { guessContentType } from './artifact-name.ts';
import { checkContentType, isContentType, servedContentType } from './content-type.ts';
import { ValidationError } from './errors.ts';

describe('content types', () => {
  it('accepts MIME types as RFC 9110 writes them, with parameters', () => {
    for (const type of [
      'text/plain',
      'text/csv; charset=utf-8',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'multipart/mixed; boundary="a b;c\\"d"',
      'text/plain;charset=utf-8;format=flowed',
      'text/plain ; a=b',
      'text/plain;',
      'image/svg+xml',
      '*/*',
    ]) {
      expect(isContentType(type), type).toBe(true);
      expect(checkContentType(type)).toBe(type);
    }
  });

  it('accepts every type guessed from a name', () => {
    for (const name of [
      'a.json',
      'a.txt',
      'a.log',
      'a.csv',
      'a.gz',
      'a.tgz',
      'a.zip',
      'a.pdf',
      'a.png',
      'a.jpg',
      'a.html',
      'a.bin',
    ]) {
      expect(isContentType(guessContentType(name)), name).toBe(true);
    }
  });

  it('refuses control characters, non-ASCII, malformed types and anything over 200 characters', () => {
    for (const type of [
      '',
      'text',
      'text/',
      '/plain',
      ' text/plain',
      'text/plain\r\nSet-Cookie: a=b',
      'text/plain\n',
      'text/pl\u0000ain',
      'text/plain\t',
      'text/plain; charset',
      'text/plain; a=b c',
      'text/plain; a="unterminated',
      'a/b; x="\u0007"',
      'tëxt/plain',
      'text/plain; a=\u00e9',
      `text/${'x'.repeat(196)}`,
      `text/${'x'.repeat(20_000)}`,
    ]) {
      expect(isContentType(type), JSON.stringify(type.slice(0, 40))).toBe(false);
      expect(() => checkContentType(type)).toThrow(ValidationError);
    }
    for (const value of [undefined, null, 42, {}]) expect(isContentType(value)).toBe(false);
  });

  it('says what is wrong in a short message that does not echo a huge value', () => {
    try {
      checkContentType(`text/plain\r\n${'x'.repeat(20_000)}`);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const message = (error as Error).message;
      expect(message).toMatch(/^Content type "text\/plain\\r\\nx+…" is not allowed: give a MIME type/);
      expect(message.length).toBeLessThan(300);
      expect(message).not.toMatch(/[\r\n]/);
    }
  });

  it('checks a hostile 200-character value in one pass (no backtracking blow-up)', () => {
    const hostile = [
      `a/b${'; '.repeat(98)}!`,
      `a/b${' ;  '.repeat(49)}\u0000`.slice(0, 200),
      `a/b;x="${'\\"'.repeat(95)}`,
    ];
    const started = performance.now();
    for (let i = 0; i < 1_000; i++) for (const value of hostile) isContentType(value);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('serves a stored type that is not valid as application/octet-stream', () => {
    expect(servedContentType('text/csv; charset=utf-8')).toBe('text/csv; charset=utf-8');
    expect(servedContentType('text/html\r\nX: y')).toBe('application/octet-stream');
    expect(servedContentType('x'.repeat(300))).toBe('application/octet-stream');
  });
});
