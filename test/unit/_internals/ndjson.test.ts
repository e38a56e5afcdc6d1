import { afterEach, describe, expect, it, vi } from 'vitest';
import { LineSplitter, decodeLine, parseRecordLine } from '../../../src/_internals/ndjson.js';

function split(chunks: Buffer[], maxLineBytes = 1024): { lines: [number, string][]; records: number } {
  const splitter = new LineSplitter('m.ndjson', maxLineBytes);
  const lines: [number, string][] = [];
  const sink = (b: Buffer, s: number, e: number, line: number): void => {
    lines.push([line, decodeLine(b, s, e, 'm.ndjson', line)]);
  };
  for (const c of chunks) splitter.push(c, sink);
  splitter.end(sink);
  return { lines, records: splitter.records };
}

/** Every way of cutting `text` into two chunks, plus one byte at a time. */
function cuts(text: string): Buffer[][] {
  const b = Buffer.from(text, 'utf8');
  const out: Buffer[][] = [[b], [...b].map((x) => Buffer.from([x]))];
  for (let i = 1; i < b.length; i++) out.push([b.subarray(0, i), b.subarray(i)]);
  return out;
}

describe('LineSplitter', () => {
  it('handles CRLF, blank lines, a missing final newline and a BOM, however the bytes are chunked', () => {
    const text = '\uFEFF{"a":1}\r\n\r\n   \n{"b":"é🚀"}\n\t\n{"c":3}';
    for (const chunks of cuts(text)) {
      expect(split(chunks)).toEqual({
        lines: [
          [1, '{"a":1}'],
          [4, '{"b":"é🚀"}'],
          [6, '{"c":3}'],
        ],
        records: 3,
      });
    }
  });

  it('counts an empty input as no records', () => {
    expect(split([Buffer.alloc(0)])).toEqual({ lines: [], records: 0 });
    expect(split([Buffer.from('\n\n')])).toEqual({ lines: [], records: 0 });
  });

  it('refuses a line longer than maxLineBytes, naming the line, even when it never ends', () => {
    const long = Buffer.from(`{"ok":1}\n${'x'.repeat(50)}`);
    for (const chunks of [[long], [...long].map((x) => Buffer.from([x]))]) {
      expect(() => split(chunks, 20)).toThrowError(
        expect.objectContaining({ code: 'LINE_TOO_LONG', context: { member: 'm.ndjson', line: 2 } }),
      );
    }
    expect(split([Buffer.from(`${'y'.repeat(20)}\r\n`)], 20).records).toBe(1);
  });
});

describe('LineSplitter at the line limit', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const tooLong = (line: number): unknown => expect.objectContaining({ code: 'LINE_TOO_LONG', context: { member: 'm.ndjson', line } });

  it('accepts a line of exactly maxLineBytes with CRLF, however the CR and LF are chunked', () => {
    const line = 'y'.repeat(20);
    for (const chunks of cuts(`{"a":1}\n${line}\r\n{"b":2}\n`)) {
      expect(split(chunks, 20).lines).toEqual([
        [1, '{"a":1}'],
        [2, line],
        [3, '{"b":2}'],
      ]);
    }
  });

  it('accepts a first line of exactly maxLineBytes after a BOM, however it is chunked', () => {
    const line = 'z'.repeat(20);
    for (const chunks of cuts(`\uFEFF${line}\r\n`)) expect(split(chunks, 20).lines).toEqual([[1, line]]);
    for (const chunks of cuts(`\uFEFF${line}`)) expect(split(chunks, 20).lines).toEqual([[1, line]]);
  });

  it('refuses one byte over maxLineBytes wherever the chunks are cut, with or without CR and BOM', () => {
    const over = 'o'.repeat(21);
    for (const text of [`{"a":1}\n${over}\n`, `{"a":1}\n${over}\r\n`, `{"a":1}\n${over}`]) {
      for (const chunks of cuts(text)) expect(() => split(chunks, 20)).toThrowError(tooLong(2));
    }
    for (const chunks of cuts(`\uFEFF${over}\r\n`)) expect(() => split(chunks, 20)).toThrowError(tooLong(1));
  });

  it('stops holding a line that never ends as soon as it passes the limit', () => {
    const splitter = new LineSplitter('m.ndjson', 20);
    splitter.push(Buffer.from('{"a":1}\n'));
    for (let i = 0; i < 21; i++) splitter.push(Buffer.from('x')); // 20 bytes and room for a CR
    expect(() => splitter.push(Buffer.from('x'))).toThrowError(tooLong(2));
  });

  it('copies a short unfinished line, keeps a long one as views of the chunks (holdsInput), and lets go once it ends', () => {
    const splitter = new LineSplitter('m.ndjson', 1 << 22);
    const got: string[] = [];
    const sink = (b: Buffer, s: number, e: number): void => {
      got.push(b.toString('utf8', s, e));
    };
    const short = Buffer.from('{"a":1}\n{"b":');
    splitter.push(short, sink);
    expect(splitter.holdsInput).toBe(false);
    short.fill(0x20); // the caller reuses its chunk: the copied tail is unaffected
    const long = Buffer.alloc(64 * 1024, 0x61);
    splitter.push(long, sink);
    expect(splitter.holdsInput).toBe(true);
    splitter.push(Buffer.from('2}\n'), sink);
    expect(splitter.holdsInput).toBe(false);
    expect(got).toEqual(['{"a":1}', `{"b":${'a'.repeat(64 * 1024)}2}`]);
  });

  it('copies a line spread over many chunks once, not once per chunk', () => {
    const concat = vi.spyOn(Buffer, 'concat');
    const chunks = Array.from({ length: 1000 }, () => Buffer.alloc(100, 0x61));
    const got: number[] = [];
    const splitter = new LineSplitter('m.ndjson', 1 << 20);
    for (const chunk of [...chunks, Buffer.from('\n{"b":1}\n')]) splitter.push(chunk, (_b, s, e) => got.push(e - s));
    splitter.end();
    expect(got).toEqual([100_000, 7]);
    const copied = concat.mock.calls.reduce((sum, [list]) => sum + list.reduce((n, b) => n + b.length, 0), 0);
    expect(copied).toBe(100_000);
  });
});

describe('LineSplitter setting long lines aside', () => {
  /** Lines and over-long lines (as head text and length), in order, and the record count. */
  function setAside(chunks: Buffer[], maxLineBytes: number, headBytes: number): { lines: unknown[]; records: number } {
    const splitter = new LineSplitter('m.ndjson', maxLineBytes);
    splitter.setAsideLongLines(headBytes);
    const lines: unknown[] = [];
    const sink = (b: Buffer, s: number, e: number, line: number): void => {
      lines.push([line, b.toString('utf8', s, e)]);
    };
    const long = (head: Buffer, length: number, line: number): void => {
      lines.push({ line, head: head.toString('latin1'), length });
    };
    for (const c of chunks) splitter.push(c, sink, long);
    splitter.end(sink, long);
    return { lines, records: splitter.records };
  }

  it('hands over each long line by its first bytes and length, however the bytes are chunked (CRLF, BOM, blank, last line)', () => {
    const text = `\uFEFF${'a'.repeat(12)}\r\n${'b'.repeat(10)}\r\n${' '.repeat(30)}\n${'c'.repeat(11)}\n${'d'.repeat(11)}\r\nok\n${'e'.repeat(25)}`;
    for (const chunks of cuts(text)) {
      expect(setAside(chunks, 10, 4)).toEqual({
        lines: [
          { line: 1, head: 'aaaa', length: 12 },
          [2, 'b'.repeat(10)],
          { line: 4, head: 'cccc', length: 11 },
          { line: 5, head: 'dddd', length: 11 },
          [6, 'ok'],
          { line: 7, head: 'eeee', length: 25 },
        ],
        records: 6,
      });
    }
  });

  it('keeps no more than the head of a line that goes on for many chunks', () => {
    const splitter = new LineSplitter('m.ndjson', 16);
    splitter.setAsideLongLines(8);
    const seen: unknown[] = [];
    const sink = (b: Buffer, s: number, e: number, line: number): void => {
      seen.push([line, b.toString('utf8', s, e)]);
    };
    const long = (head: Buffer, length: number, line: number): void => {
      seen.push({ line, head: head.toString(), length });
    };
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 64; i++) {
      splitter.push(chunk, sink, long);
      expect(splitter.holdsInput).toBe(false);
      chunk.fill('y'); // nothing of the chunk is kept but the head copied from the first
    }
    splitter.push(Buffer.from('\n{}\n'), sink, long);
    splitter.end(sink, long);
    expect(seen).toEqual([{ line: 1, head: 'xxxxxxxx', length: 64 * 64 * 1024 }, [2, '{}']]);
    expect(splitter.records).toBe(2);
  });
});

describe('decodeLine', () => {
  it('refuses invalid UTF-8 instead of replacing it', () => {
    const bad = Buffer.from([0x7b, 0xff, 0x7d]);
    expect(() => decodeLine(bad, 0, bad.length, 'm.ndjson', 9)).toThrowError(
      expect.objectContaining({ code: 'ENCODING_INVALID', context: { member: 'm.ndjson', line: 9 } }),
    );
  });
});

describe('parseRecordLine', () => {
  it('returns objects', () => {
    expect(parseRecordLine('{"_id":"x"}', 'm', 1)).toEqual({ _id: 'x' });
  });
  it.each([
    ['{"a":', 'JSON_MALFORMED'],
    ['[1,2]', 'RECORD_NOT_OBJECT'],
    ['null', 'RECORD_NOT_OBJECT'],
    ['"s"', 'RECORD_NOT_OBJECT'],
    ['42', 'RECORD_NOT_OBJECT'],
  ])('refuses %j with %s and names the member and line', (raw, code) => {
    expect(() => parseRecordLine(raw, 'linksets.ndjson', 41)).toThrowError(
      expect.objectContaining({ code, context: { member: 'linksets.ndjson', line: 41 } }),
    );
  });
  it('keeps the raw line out of the error message', () => {
    try {
      parseRecordLine('{"secret":"hunter2"', 'm', 1);
    } catch (e) {
      expect(String((e as Error).message)).not.toContain('hunter2');
      expect(JSON.stringify(e)).not.toContain('hunter2');
    }
    expect.assertions(2);
  });
});
