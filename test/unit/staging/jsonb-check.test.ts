import { describe, expect, it } from 'vitest';
import { findJsonbProblem } from '../../../src/staging/jsonb-check.js';

/** The reason given for an escaped NUL. */
const NUL = '\\u0000 (NUL), which PostgreSQL text and jsonb cannot hold';
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// Lines are written as JSON text: '\\u0000' in TS source is the six characters \u0000.
describe('findJsonbProblem', () => {
  it('accepts lines without escapes or with harmless ones', () => {
    expect(findJsonbProblem('{"a":"b"}')).toBeUndefined();
    expect(findJsonbProblem('{"a":"tab\\there \\"q\\" \\\\ \\/ \\u00e9 \\u0041"}')).toBeUndefined();
    expect(findJsonbProblem('{"e":"\\ud83d\\ude80"}')).toBeUndefined();
  });

  it('finds \\u0000 and says where', () => {
    const p = findJsonbProblem('{"a":"x\\u0000"}');
    expect(p?.index).toBe(7);
    expect(p?.reason).toContain('NUL');
  });

  it('respects backslash parity: \\\\u0000 is legal, \\\\\\u0000 is not', () => {
    expect(findJsonbProblem('{"a":"\\\\u0000"}')).toBeUndefined();
    expect(findJsonbProblem('{"a":"\\\\\\\\u0000"}')).toBeUndefined();
    expect(findJsonbProblem('{"a":"\\\\\\u0000"}')?.index).toBe(8);
    expect(findJsonbProblem('{"a":"\\\\\\\\\\u0000"}')).toEqual({ index: 10, reason: NUL });
  });

  it('finds lone surrogates', () => {
    expect(findJsonbProblem('{"a":"\\ud800"}')?.reason).toContain('high surrogate');
    expect(findJsonbProblem('{"a":"\\ud800x"}')?.reason).toContain('high surrogate');
    expect(findJsonbProblem('{"a":"\\uD800\\u0041"}')?.reason).toContain('high surrogate');
    expect(findJsonbProblem('{"a":"\\udc00"}')?.reason).toContain('low surrogate');
    expect(findJsonbProblem('{"a":"\\ude80\\ud83d"}')?.reason).toContain('low surrogate');
    expect(findJsonbProblem('{"a":"\\\\ud800"}')).toBeUndefined();
  });

  it('checks keys too, and every escape on the line', () => {
    expect(findJsonbProblem('{"k\\u0000":1}')).toEqual({ index: 3, reason: NUL });
    expect(findJsonbProblem('{"a":"\\n","b":"\\u0041","c":"\\u0000"}')?.index).toBe(28);
  });

  it('agrees with what JSON.parse decodes (NUL or ill-formed UTF-16 anywhere)', () => {
    const strings = (v: unknown): string[] =>
      typeof v === 'string' ? [v] : v !== null && typeof v === 'object' ? Object.entries(v).flatMap(([k, x]) => [k, ...strings(x)]) : [];
    const lines = [
      '{"a":"\\\\u0000"}',
      '{"a":"\\u0000"}',
      '{"a":"\\\\\\u0000"}',
      '{"a":"\\ud800"}',
      '{"a":"\\\\ud800"}',
      '{"a":"\\ud83d\\ude80"}',
      '{"\\udfff":1}',
      '{"a":["x","\\u0000"]}',
    ];
    for (const line of lines) {
      const bad = strings(JSON.parse(line)).some((s) => s.includes('\0') || LONE_SURROGATE.test(s));
      expect(findJsonbProblem(line) !== undefined, line).toBe(bad);
    }
  });
});
