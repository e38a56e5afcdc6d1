import { isUtf8 } from 'node:buffer';
import { BackfillError } from '../errors.js';

const LF = 0x0a;
const REPLACEMENT = Buffer.from('\uFFFD', 'utf8');

/** Bytes a sequence starting with `lead` takes (1 for ASCII, a stray continuation byte or an invalid lead). */
function sequenceLength(lead: number): number {
  if (lead >= 0xf0 && lead <= 0xf7) return 4;
  if (lead >= 0xe0) return lead <= 0xef ? 3 : 1;
  return lead >= 0xc0 ? 2 : 1;
}

/** Where `bytes` ends in an unfinished multi-byte sequence (that the next chunk may complete); its length if it doesn't. */
export function completeEnd(bytes: Buffer): number {
  for (let i = bytes.length - 1; i >= Math.max(0, bytes.length - 3); i--) {
    const b = bytes[i]!;
    if (b < 0x80 || b >= 0xc0) return i + sequenceLength(b) > bytes.length ? i : bytes.length;
  }
  return bytes.length;
}

/** LFs in `bytes` before `end`. */
function countLf(bytes: Buffer, end: number): number {
  let n = 0;
  for (let i = bytes.indexOf(LF); i !== -1 && i < end; i = bytes.indexOf(LF, i + 1)) n += 1;
  return n;
}

/**
 * Offset of the first invalid sequence in `bytes` (known to hold one): the
 * decoder replaces it with U+FFFD, and everything before it decodes and
 * re-encodes to the same bytes, so the first U+FFFD not spelled out as
 * EF BF BD in the input marks it.
 */
function firstInvalid(bytes: Buffer): number {
  let at = 0;
  for (const char of bytes.toString('utf8')) {
    if (char === '\uFFFD' && !bytes.subarray(at, at + 3).equals(REPLACEMENT)) return at;
    at += Buffer.byteLength(char);
  }
  return bytes.length;
}

/**
 * Checks a byte stream is UTF-8 as its chunks arrive, without holding more
 * than an unfinished character between chunks; the error names the file, the
 * byte offset and the line of the first bad byte.
 */
export class Utf8Check {
  #carry: Buffer = Buffer.alloc(0);
  /** File offset of `#carry`'s first byte, and LFs before it. */
  #offset = 0;
  #lines = 0;

  /**
   * @param path - the file named in errors
   * @param member - the dataset member the file becomes (named in the error's context)
   */
  constructor(
    private readonly path: string,
    private readonly member: string,
  ) {}

  push(chunk: Buffer): void {
    const bytes = this.#carry.length === 0 ? chunk : Buffer.concat([this.#carry, chunk]);
    const end = completeEnd(bytes);
    this.#check(bytes.subarray(0, end));
    this.#carry = Buffer.from(bytes.subarray(end));
  }

  /** Checks what is left: a character cut off by the end of the file is invalid. */
  end(): void {
    this.#check(this.#carry);
  }

  #check(bytes: Buffer): void {
    if (!isUtf8(bytes)) {
      const at = firstInvalid(bytes);
      const line = this.#lines + countLf(bytes, at) + 1;
      const offset = this.#offset + at;
      throw new BackfillError(
        'ENCODING_INVALID',
        `${this.path}: not valid UTF-8 at byte ${offset} (line ${line}); re-encode the file as UTF-8.`,
        { context: { path: this.path, member: this.member, offset, line } },
      );
    }
    this.#offset += bytes.length;
    this.#lines += countLf(bytes, bytes.length);
  }
}
