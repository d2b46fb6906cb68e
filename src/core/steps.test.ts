import { describe, expect, it } from 'vitest';
import {
  checkStepName,
  encodeStepResult,
  MAX_STEP_RESULT_BYTES,
  type RecordedStep,
  resumedLine,
  summarizeSteps,
} from './steps.ts';

const step = (name: string, attempt: number, at: string): RecordedStep => ({
  name,
  result: null,
  attempt,
  progress: null,
  recordedAt: at,
});

describe('step rules', () => {
  it('a name is a string of 1 to 200 characters', () => {
    expect(checkStepName('file-1')).toBe('file-1');
    expect(checkStepName('n'.repeat(200))).toHaveLength(200);
    expect(() => checkStepName('')).toThrow(TypeError);
    expect(() => checkStepName('n'.repeat(201))).toThrow(/1 to 200 characters, not "n{40}"…/);
    expect(() => checkStepName(7)).toThrow(/not 7\./);
  });

  it('a result is recorded as JSON: undefined as null, at most 256 KiB counted in UTF-8 bytes', () => {
    expect(encodeStepResult('a', undefined)).toBe('null');
    expect(encodeStepResult('a', () => 1)).toBe('null');
    expect(encodeStepResult('a', { at: new Date(0), gone: undefined })).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
    expect(() => encodeStepResult('a', { n: 1n })).toThrow(TypeError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encodeStepResult('c', cyclic)).toThrow(/the step "c" returned a value that is not JSON/);
    // The cap is in bytes: 2 quotes + characters of 2 bytes each.
    const fits = 'é'.repeat((MAX_STEP_RESULT_BYTES - 2) / 2);
    expect(encodeStepResult('a', fits)).toHaveLength(fits.length + 2);
    expect(() => encodeStepResult('big', `${fits}é`)).toThrow(RangeError);
    expect(() => encodeStepResult('big', `${fits}é`)).toThrow(/"big" returned 262146 bytes of JSON; at most 262144/);
  });
});

describe('summarizeSteps and resumedLine', () => {
  const steps = [
    step('list', 1, '2025-01-01T00:00:01.000Z'),
    step('file-0', 1, '2025-01-01T00:00:02.000Z'),
    step('file-1', 2, '2025-01-01T00:01:02.000Z'),
  ];

  it('the latest attempt resumed after the last step recorded before it started', () => {
    expect(summarizeSteps(steps, { attempt: 2, startedAt: '2025-01-01T00:01:00.000Z' })).toEqual({
      recorded: 3,
      resumed: { attempt: 2, afterStep: 'file-0', recorded: 2 },
    });
    // A run handed back at shutdown keeps its attempt number: told by time, not by number.
    expect(summarizeSteps(steps, { attempt: 2, startedAt: '2025-01-01T00:02:00.000Z' }).resumed).toEqual({
      attempt: 2,
      afterStep: 'file-1',
      recorded: 3,
    });
    expect(summarizeSteps(steps, { attempt: 1, startedAt: '2025-01-01T00:00:00.000Z' })).toEqual({
      recorded: 3,
      resumed: null,
    });
    expect(summarizeSteps([], { attempt: 0, startedAt: null })).toEqual({ recorded: 0, resumed: null });
  });

  it('says how many steps were recorded and after which one the attempt goes on', () => {
    expect(resumedLine(steps)).toBe(
      "resumed: 3 of the job's steps were recorded by earlier attempts; continuing after step file-1",
    );
    expect(resumedLine(steps.slice(0, 1))).toBe(
      "resumed: 1 of the job's steps was recorded by earlier attempts; continuing after step list",
    );
  });
});
