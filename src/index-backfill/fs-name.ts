/**
 * File names as Python's `os.fsdecode` / `os.fsencode` see them on Linux
 * (UTF-8 with `surrogateescape`), so that a name that is not valid UTF-8
 * keeps its identity: each byte that is not part of a valid sequence becomes
 * the lone surrogate U+DC80–U+DCFF, as the runbook's tool reads it, and goes
 * back to that byte when the file is opened. Node's own decoding turns every
 * such byte into U+FFFD, so `x\xff.tar.zst` and `x\u{fffd}.tar.zst` would be
 * one name, and the first file read (and indexed) twice in place of the other.
 *
 * @module
 * @internal
 */
import { isUtf8 } from 'node:buffer';

/** Bytes of the well-formed UTF-8 sequence at `i` (Unicode table 3-7), or 0 when there is none. */
function validSequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!;
  if (b0 < 0x80) return 1;
  const cont = (at: number, lo = 0x80, hi = 0xbf): boolean => {
    const b = bytes[at];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const [lo, hi] = b0 === 0xe0 ? [0xa0, 0xbf] : b0 === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const [lo, hi] = b0 === 0xf0 ? [0x90, 0xbf] : b0 === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

/**
 * A file name's bytes as text, as Python's `os.fsdecode` gives it: UTF-8,
 * with each byte outside a valid sequence as the lone surrogate U+DC00 + byte.
 */
export function decodeFsName(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const n = validSequenceLength(bytes, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + bytes[i]!);
      i += 1;
    } else {
      out += bytes.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

/** A lone low surrogate of the escaped range: only {@link decodeFsName} makes one. */
const ESCAPED_BYTE = /(?<![\ud800-\udbff])[\udc80-\udcff]/;

/**
 * The path to hand to `node:fs` for `path` (Python's `os.fsencode`): the
 * string itself, or its bytes when it holds bytes {@link decodeFsName}
 * escaped.
 */
export function fsPath(path: string): string | Buffer {
  if (!ESCAPED_BYTE.test(path)) return path;
  const parts: Buffer[] = [];
  for (const char of path) {
    const unit = char.charCodeAt(0);
    parts.push(char.length === 1 && unit >= 0xdc80 && unit <= 0xdcff ? Buffer.of(unit - 0xdc00) : Buffer.from(char, 'utf8'));
  }
  return Buffer.concat(parts);
}
