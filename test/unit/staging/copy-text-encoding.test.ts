import { describe, expect, it } from 'vitest';
import { CopyTextBuilder, decodeCopyField, encodeCopyField } from '../../../src/staging/copy-text-encoding.js';

describe('encodeCopyField', () => {
  it('leaves ordinary text alone', () => {
    expect(encodeCopyField('{"a":"b c","n":1}')).toBe('{"a":"b c","n":1}');
    expect(encodeCopyField('Grüße 🚀')).toBe('Grüße 🚀');
    expect(encodeCopyField('')).toBe('');
  });

  it('escapes backslash, tab, newline and CR, and nothing else', () => {
    expect(encodeCopyField('a\\b')).toBe('a\\\\b');
    expect(encodeCopyField('a\tb')).toBe('a\\tb');
    expect(encodeCopyField('a\nb')).toBe('a\\nb');
    expect(encodeCopyField('a\rb')).toBe('a\\rb');
    expect(encodeCopyField('\\.')).toBe('\\\\.');
    expect(encodeCopyField('x\\u0000y')).toBe('x\\\\u0000y');
    expect(encodeCopyField('"quoted"')).toBe('"quoted"');
  });

  it('never leaves a raw tab, newline or CR, nor an unpaired backslash', () => {
    const samples = ['\\\\\\', '\t\t\n\r\r\n', 'end\\', '\\t literal', 'a\\\tb'];
    for (const s of samples) {
      const e = encodeCopyField(s);
      expect(e).not.toMatch(/[\t\n\r]/);
      expect(e.replace(/\\[\\tnr]/g, '')).not.toContain('\\');
    }
  });

  it('round-trips through decodeCopyField', () => {
    const samples = ['plain', 'a\\b', 'tab\there', 'line\nbreak', 'cr\r\n', '\\\\n is not a newline', 'émoji 👩‍💻 \\u0041'];
    for (const s of samples) expect(decodeCopyField(encodeCopyField(s))).toBe(s);
  });
});

/** A COPY text row of two fields, as the builder should write it. */
const copyRow = (id: string, raw: string): string => `${encodeCopyField(id)}\t${encodeCopyField(raw)}\n`;

describe('CopyTextBuilder', () => {
  it('writes escaped fields joined by a tab and ended by a newline, as UTF-8, batch after batch', () => {
    const rows: [string, string][] = [
      ['id\t1', '{"a":"x\\\\y"}'],
      ['Grüße', '{"e":"👩‍💻 \\u0041","t":"a\tb\r"}'],
      ['', ''],
    ];
    const text = new CopyTextBuilder();
    for (const [id, raw] of rows) text.row(id, raw);
    expect(text.take().equals(Buffer.from(rows.map(([id, raw]) => copyRow(id, raw)).join('')))).toBe(true);
    text.row('id\t1', '{"a":"x\\\\y"}');
    expect(text.take().toString()).toBe('id\\t1\t{"a":"x\\\\\\\\y"}\n');
    expect(text.take().length).toBe(0);
    text.row('b', 'two');
    expect(text.take().toString()).toBe('b\ttwo\n');
  });

  it('grows for a row longer than its scratch buffer, and later rows still encode', () => {
    // Past the 256 KiB scratch even at one byte per unit, and 3 bytes per unit for the CJK half.
    const long = `${'\\'.repeat(100_000)}${'語'.repeat(100_000)}\t`;
    const text = new CopyTextBuilder();
    text.row('x', 'short');
    text.row('long', long);
    expect(text.take().equals(Buffer.from(copyRow('x', 'short') + copyRow('long', long)))).toBe(true);
    text.row('after', '{"k":1}');
    expect(text.take().toString()).toBe('after\t{"k":1}\n');
  });
});

describe('decodeCopyField', () => {
  it('decodes every escape COPY TO writes', () => {
    expect(decodeCopyField('a\\\\b\\tc\\nd\\re\\bf\\fg\\vh')).toBe('a\\b\tc\nd\re\bf\fg\vh');
  });
});
