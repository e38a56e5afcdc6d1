import { describe, expect, it } from 'vitest';
import { defaultChecksumsBaseDir, formatChecksumLine, parseChecksums } from '../../../src/verify/index.js';
import { decodeBase64 } from '../../../src/verify/base64.js';
import { unsafePathReason } from '../../../src/verify/safe-path.js';

const A = 'a'.repeat(64);
const B = 'B'.repeat(64);

describe('parseChecksums', () => {
  it('reads text, binary and tagged lines, skipping comments and blank lines', () => {
    const parsed = parseChecksums(`# comment\n${A}  one.txt\n\n${B} *two.bin\r\nSHA256 (three (3).txt) = ${A}\n`);
    expect(parsed.entries.map((e) => [e.line, e.path, e.format, e.sha256])).toEqual([
      [2, 'one.txt', 'text', A],
      [4, 'two.bin', 'binary', B.toLowerCase()],
      [5, 'three (3).txt', 'tag', A],
    ]);
    expect(parsed).toMatchObject({ blankLines: 1, commentLines: 1, malformed: [] });
  });

  it('unescapes names on lines that start with a backslash', () => {
    const parsed = parseChecksums(`\\${A}  a\\\\b\\nc\\rd\n\\SHA256 (x\\ny) = ${A}\n${A}  plain\\name\n`);
    expect(parsed.entries.map((e) => e.path)).toEqual(['a\\b\nc\rd', 'x\ny', 'plain\\name']);
  });

  it('keeps leading and trailing blanks of names; a final line needs no newline', () => {
    expect(parseChecksums(`${A}   two leading \n${A}  last`).entries.map((e) => e.path)).toEqual([' two leading ', 'last']);
  });

  it('counts malformed lines with their reason', () => {
    const parsed = parseChecksums(
      `garbage\n${A.slice(1)}  short\n${A}0  long\n\\${A}  bad\\escape\nSHA256 (x = ${A}\nSHA256 (x) ${A}\n${A}  nul\u0000\n`,
    );
    expect(parsed.entries).toEqual([]);
    expect(parsed.malformed.map((m) => m.line)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(parsed.malformed[6]?.reason).toContain('NUL');
  });

  it('does not mix the BSD reversed form with the GNU form', () => {
    const reversedFirst = parseChecksums(`${A} one\n${A}  two\n`);
    expect(reversedFirst.entries.map((e) => [e.path, e.format])).toEqual([
      ['one', 'untagged'],
      [' two', 'untagged'],
    ]);
    const gnuFirst = parseChecksums(`${A}  one\n${A} two\n`);
    expect(gnuFirst.entries.map((e) => e.path)).toEqual(['one']);
    expect(gnuFirst.malformed.map((m) => m.line)).toEqual([2]);
  });

  it('keeps non-UTF-8 names as exact bytes', () => {
    const line = Buffer.concat([Buffer.from(`${A}  `), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('\n')]);
    expect(parseChecksums(line).entries[0]?.pathBytes).toEqual(Buffer.from([0xff, 0xfe, 0x41]));
  });
});

describe('formatChecksumLine', () => {
  it('writes what sha256sum writes, escaping backslash, newline and CR', () => {
    expect(formatChecksumLine('a b', A).toString()).toBe(`${A}  a b\n`);
    expect(formatChecksumLine('a b', A.toUpperCase(), 'binary').toString()).toBe(`${A} *a b\n`);
    expect(formatChecksumLine('a\\b\nc\rd', A).toString()).toBe(`\\${A}  a\\\\b\\nc\\rd\n`);
    expect(formatChecksumLine('x\ny', A, 'tag').toString()).toBe(`\\SHA256 (x\\ny) = ${A}\n`);
  });

  it('round-trips through parseChecksums', () => {
    const names = ['plain', 'sp ace', 'back\\slash', 'new\nline', 'cr\r', ' lead', 'tail ', '*star', 'ünï'];
    for (const format of ['text', 'binary', 'tag'] as const) {
      const parsed = parseChecksums(Buffer.concat(names.map((n) => formatChecksumLine(n, A, format))));
      expect(parsed.entries.map((e) => e.path)).toEqual(names);
    }
  });
});

describe('decodeBase64 (strict)', () => {
  it('accepts standard and URL-safe, padded or not', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xbf, 0x01]);
    for (const text of [bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('base64').replace(/=+$/, '')]) {
      expect(decodeBase64(text, 'x')._unsafeUnwrap()).toEqual(bytes);
    }
  });

  it('refuses junk, mixed alphabets and bad padding', () => {
    for (const text of ['ab$d', '+-ab', 'abcde', 'ab=', 'a===', 'ab cd', 'YQ==YQ==']) {
      expect(decodeBase64(text, 'x')._unsafeUnwrapErr().code, text).toBe('BASE64_INVALID');
    }
  });
});

describe('unsafePathReason', () => {
  it('refuses absolute paths and .. that climbs out, allows the rest', () => {
    const check = (p: string): string | undefined => unsafePathReason(Buffer.from(p));
    expect(check('/etc/passwd')).toContain('absolute');
    expect(check('../x')).toContain('..');
    expect(check('a/../../x')).toContain('..');
    expect(check('a/../x')).toBeUndefined();
    expect(check('./a//b/./c')).toBeUndefined();
    expect(check('..foo/bar')).toBeUndefined();
  });

  it('refuses `-` (standard input to sha256sum) but not a file named `-` written as ./-', () => {
    const check = (p: string): string | undefined => unsafePathReason(Buffer.from(p));
    expect(check('-')).toContain('standard input');
    expect(check('./-')).toBeUndefined();
    expect(check('-x')).toBeUndefined();
    expect(check('dir/-')).toBeUndefined();
  });
});

describe('defaultChecksumsBaseDir', () => {
  it("is the sums file's directory, or the working directory for a file descriptor's path (process substitution)", () => {
    expect(defaultChecksumsBaseDir('artifacts/SHA256SUMS', '/srv')).toBe('/srv/artifacts');
    expect(defaultChecksumsBaseDir('/srv/release/SHA256SUMS', '/home/ops')).toBe('/srv/release');
    for (const descriptor of ['/dev/fd/63', '/dev/stdin', '/proc/self/fd/63', '/proc/thread-self/fd/3', '/proc/4242/fd/11']) {
      expect(defaultChecksumsBaseDir(descriptor, '/srv/release')).toBe('/srv/release');
    }
    // Only the descriptor directories themselves: a look-alike stays a directory of files.
    expect(defaultChecksumsBaseDir('/srv/dev/fd/SHA256SUMS', '/home/ops')).toBe('/srv/dev/fd');
    expect(defaultChecksumsBaseDir('/dev/fdx/63', '/home/ops')).toBe('/dev/fdx');
    expect(defaultChecksumsBaseDir('/dev/fd/SHA256SUMS', '/home/ops')).toBe('/dev/fd');
    expect(defaultChecksumsBaseDir('/dev/stdin.d/SHA256SUMS', '/home/ops')).toBe('/dev/stdin.d');
  });
});
