import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeFsName, fsPath } from '../../../src/index-backfill/fs-name.js';

describe('decodeFsName / fsPath (Python os.fsdecode / os.fsencode)', () => {
  // Expected values printed by Python 3.11's os.fsdecode on Linux.
  const cases: [number[], string][] = [
    [[0x79, 0xed, 0xa0, 0x80, 0x7a], 'y\udced\udca0\udc80z'], // an encoded surrogate is not UTF-8
    [[0xe2, 0x82, 0x41], '\udce2\udc82A'], // a cut sequence, then ASCII
    [[0xf0, 0x9f, 0x93, 0xbf], '\u{1f4ff}'], // its low surrogate is U+DCFF, and it is no escape
    [[0xc0, 0xaf], '\udcc0\udcaf'], // overlong
    [[0xf4, 0x90, 0x80, 0x80], '\udcf4\udc90\udc80\udc80'], // past U+10FFFF
    [[0xef, 0xbb, 0xbf, 0x61], '\ufeffa'], // a BOM is kept
    [[0xe0, 0x80, 0x80], '\udce0\udc80\udc80'],
    [[0xf0, 0x9f, 0x98], '\udcf0\udc9f\udc98'],
    [[0x78, 0xef, 0xbf, 0xbd], 'x\ufffd'], // a real U+FFFD stays one
  ];

  it.each(cases)('decodes %j as Python does, and encodes it back', (bytes, text) => {
    expect(decodeFsName(Buffer.from(bytes))).toBe(text);
    const back = fsPath(text);
    expect(Buffer.isBuffer(back) ? [...back] : [...Buffer.from(back)]).toEqual(bytes);
  });

  it('leaves a name without escapes as the string itself', () => {
    expect(fsPath('/var/lib/ep-\u{1f4ff}.tar.zst')).toBe('/var/lib/ep-\u{1f4ff}.tar.zst');
  });

  it('gives back the same bytes for any name', () => {
    for (let i = 0; i < 2000; i += 1) {
      const bytes = randomBytes(1 + (i % 12)).map((b) => (b === 0 || b === 0x2f ? 0x41 : b));
      const path = fsPath(decodeFsName(Buffer.from(bytes)));
      expect(Buffer.isBuffer(path) ? path : Buffer.from(path)).toEqual(Buffer.from(bytes));
    }
  });
});
