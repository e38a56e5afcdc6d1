/**
 * The `sha256sum` checksum-file format: reading every line form that
 * `sha256sum --check` accepts and writing exactly what `sha256sum` prints.
 *
 * @module
 */

import { isSha256Hex } from '../_internals/sha256-hex.js';

/**
 * How a line was written:
 * - `text`: `hash  name` (`sha256sum`'s default),
 * - `binary`: `hash *name` (`sha256sum --binary`),
 * - `tag`: `SHA256 (name) = hash` (`sha256sum --tag`, BSD style),
 * - `untagged`: `hash name` with one space (BSD `sha256 -r`).
 */
export type ChecksumLineFormat = 'text' | 'binary' | 'tag' | 'untagged';

/** One well-formed line of a sums file. */
export interface ChecksumLine {
  /** 1-based line number in the sums file. */
  readonly line: number;
  /** The file name after unescaping, decoded as UTF-8 (for display). */
  readonly path: string;
  /** The exact bytes of the file name after unescaping (used to open the file). */
  readonly pathBytes: Buffer;
  /** Expected SHA-256, lowercase hex. */
  readonly sha256: string;
  readonly format: ChecksumLineFormat;
}

/** A line that `sha256sum --check` would call "improperly formatted", or one holding a NUL byte. */
export interface MalformedChecksumLine {
  readonly line: number;
  /** Why it was rejected. */
  readonly reason: string;
  /**
   * `true` for a line holding a NUL byte: `sha256sum --check` does not
   * skip it but checks the name cut at the NUL, so skipping it could pass
   * a file `sha256sum` fails. Such a line fails a check even without
   * `strict`.
   */
  readonly fatal: boolean;
}

/** A sums file split into what `sha256sum --check` would check and what it would skip. */
export interface ParsedChecksums {
  readonly entries: readonly ChecksumLine[];
  readonly malformed: readonly MalformedChecksumLine[];
  /** Empty lines (skipped, never an error, as in `sha256sum`). */
  readonly blankLines: number;
  /** Lines starting with `#` (skipped, as in `sha256sum`). */
  readonly commentLines: number;
}

const NL = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const BACKSLASH = 0x5c;
const STAR = 0x2a;
const HASH_SIGN = 0x23;
const OPEN = 0x28;
const CLOSE = 0x29;
const EQUALS = 0x3d;
const TAG = Buffer.from('SHA256', 'latin1');
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const HEX_DIGITS = 64;
/** 64 hex digits, a blank and a one-byte name. */
const MIN_LINE_LENGTH = HEX_DIGITS + 2;

const isWhite = (byte: number | undefined): boolean => byte === SPACE || byte === TAB;

/** Undoes `sha256sum`'s escaping (`\\`, `\n`, `\r`); `undefined` when the escaping is invalid. */
function unescapeName(name: Buffer): Buffer | undefined {
  const out = Buffer.allocUnsafe(name.length);
  let o = 0;
  for (let i = 0; i < name.length; i++) {
    const byte = name[i] as number;
    if (byte !== BACKSLASH) {
      out[o++] = byte;
      continue;
    }
    const next = name[++i];
    if (next === 0x6e) out[o++] = NL;
    else if (next === 0x72) out[o++] = CR;
    else if (next === BACKSLASH) out[o++] = BACKSLASH;
    else return undefined;
  }
  return out.subarray(0, o);
}

function hexDigest(bytes: Buffer): string | undefined {
  const text = bytes.toString('latin1');
  return isSha256Hex(text) ? text.toLowerCase() : undefined;
}

type LineResult = { entry: Omit<ChecksumLine, 'line'> } | { reason: string };

/** `SHA256 (name) = hash`, from just after the `(`. */
function parseTagged(rest: Buffer, escaped: boolean): LineResult {
  const close = rest.lastIndexOf(CLOSE);
  if (close < 0) return { reason: 'tagged line has no closing parenthesis' };
  let name: Buffer | undefined = rest.subarray(0, close);
  if (escaped) {
    name = unescapeName(name);
    if (name === undefined) return { reason: 'file name has an invalid backslash escape' };
  }
  let i = close + 1;
  while (isWhite(rest[i])) i++;
  if (rest[i] !== EQUALS) return { reason: 'tagged line has no `=` after the file name' };
  i++;
  while (isWhite(rest[i])) i++;
  const sha256 = hexDigest(rest.subarray(i));
  if (sha256 === undefined) return { reason: 'digest is not 64 hexadecimal digits' };
  return { entry: { path: name.toString('utf8'), pathBytes: Buffer.from(name), sha256, format: 'tag' } };
}

/**
 * Parses a sums file the way GNU `sha256sum --check` (coreutils 9) does:
 * `#` comment lines and empty lines are skipped, a trailing CR is dropped,
 * a leading `\` means the name is escaped, `SHA256 (name) = hash` is the BSD
 * form, and a file may use `hash  name` / `hash *name` or the one-space BSD
 * reversed form but not both. Hex digits may be upper or lower case.
 *
 * One deliberate difference: a line holding a NUL byte is malformed here
 * (`sha256sum` would silently cut the name at the NUL), and `fatal`: it
 * fails a check even without `strict`, since `sha256sum` checks it.
 *
 * @example
 * ```ts
 * const parsed = parseChecksums(await readFile('SHA256SUMS'));
 * for (const e of parsed.entries) console.log(e.sha256, e.path);
 * console.log(`${parsed.malformed.length} improperly formatted lines`);
 * ```
 */
export function parseChecksums(input: Uint8Array | string): ParsedChecksums {
  const data = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const entries: ChecksumLine[] = [];
  const malformed: MalformedChecksumLine[] = [];
  let blankLines = 0;
  let commentLines = 0;
  // -1 undecided, 0 GNU form seen, 1 BSD reversed form seen: the two may not mix.
  const state = { bsdReversed: -1 };
  let start = 0;
  let lineNo = 0;
  while (start < data.length) {
    const nl = data.indexOf(NL, start);
    const end = nl < 0 ? data.length : nl;
    let line = data.subarray(start, end);
    start = end + 1;
    lineNo++;
    if (line[0] === HASH_SIGN) {
      commentLines++;
      continue;
    }
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, -1);
    if (line.length === 0) {
      blankLines++;
      continue;
    }
    const result = line.includes(0)
      ? { reason: 'line contains a NUL byte' }
      : lineNo === 1 && line.subarray(0, 3).equals(BOM)
        ? { reason: 'the file starts with a UTF-8 byte-order mark, which sha256sum reads as part of the first line; save it without one' }
        : parseLine(line, state);
    if ('reason' in result) malformed.push({ line: lineNo, reason: result.reason, fatal: line.includes(0) });
    else entries.push({ line: lineNo, ...result.entry });
  }
  return { entries, malformed, blankLines, commentLines };
}

function parseLine(s: Buffer, state: { bsdReversed: number }): LineResult {
  let i = 0;
  while (isWhite(s[i])) i++;
  let escaped = false;
  if (s[i] === BACKSLASH) {
    i++;
    escaped = true;
  }
  if (s.subarray(i, i + TAG.length).equals(TAG)) {
    i += TAG.length;
    if (s[i] === SPACE) i++;
    if (s[i] !== OPEN) return { reason: 'tagged line has no `(` after SHA256' };
    const rest = s.subarray(i + 1);
    if (rest.length === 0) return { reason: 'tagged line ends after `(`' };
    return parseTagged(rest, escaped);
  }
  if (s.length - i < MIN_LINE_LENGTH + (s[i] === BACKSLASH ? 1 : 0)) return { reason: 'line is too short' };
  const digestStart = i;
  while (i < s.length && !isWhite(s[i])) i++;
  if (i === s.length) return { reason: 'digest is not followed by a blank' };
  const sha256 = hexDigest(s.subarray(digestStart, i));
  if (sha256 === undefined) return { reason: 'digest is not 64 hexadecimal digits' };
  i++;
  let format: ChecksumLineFormat;
  if (s.length - i === 1 || (s[i] !== SPACE && s[i] !== STAR)) {
    if (state.bsdReversed === 0) return { reason: 'BSD reversed line in a file of `hash  name` lines' };
    state.bsdReversed = 1;
    format = 'untagged';
  } else if (state.bsdReversed !== 1) {
    state.bsdReversed = 0;
    format = s[i] === STAR ? 'binary' : 'text';
    i++;
  } else {
    format = 'untagged';
  }
  let name: Buffer | undefined = s.subarray(i);
  if (escaped) {
    name = unescapeName(name);
    if (name === undefined) return { reason: 'file name has an invalid backslash escape' };
  }
  return { entry: { path: name.toString('utf8'), pathBytes: Buffer.from(name), sha256, format } };
}

export { formatChecksumLine, type ChecksumOutputFormat } from '../_internals/checksum-line.js';
