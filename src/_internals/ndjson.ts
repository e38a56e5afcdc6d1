import { constants, isUtf8 } from 'node:buffer';
import { BackfillError } from '../errors.js';

const NEWLINE = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/**
 * An unfinished line's first piece is copied when it is at most this long
 * (chunks end mid-line, and lines are short), so the splitter rarely keeps a
 * caller's chunk alive; longer pieces are kept as they are (see {@link LineSplitter.holdsInput}).
 */
const COPIED_TAIL_BYTES = 16 * 1024;

/** Receives one non-blank line: `bytes[start, end)` is the line without its ending. */
export type LineSink = (bytes: Buffer, start: number, end: number, line: number) => void;

/**
 * Receives one non-blank line longer than the limit, when the splitter sets
 * such lines aside ({@link LineSplitter.setAsideLongLines}): `head` is a copy
 * of its first bytes, `length` its length without its ending.
 */
export type LongLineSink = (head: Buffer, length: number, line: number) => void;

/** The over-long line being skipped: its first bytes, its length so far, whether it is blank so far, and its last byte. */
interface Skipped {
  readonly head: Buffer;
  length: number;
  blank: boolean;
  last: number | undefined;
}

function isBlank(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    if (b !== SPACE && b !== TAB && b !== CR) return false;
  }
  return true;
}

/**
 * Splits a byte stream into NDJSON lines without decoding it first.
 *
 * Splitting on the byte 0x0A is safe for UTF-8 (it never occurs inside a
 * multi-byte sequence), so chunk boundaries can't corrupt characters. It
 * handles LF and CRLF, a last line without a newline, blank (whitespace-only)
 * lines, a UTF-8 BOM on the first line, and a maximum line length. Line
 * numbers are physical (blank lines count), so errors point at the real line.
 *
 * A line that spans chunks costs time linear in its length: its pieces are
 * kept as they arrive and joined once, when its newline (or the end) comes.
 */
export class LineSplitter {
  /** The pieces of the unfinished line, in order, and their total length. */
  #pieces: Buffer[] = [];
  #pending = 0;
  /** Whether a held piece is a view of a pushed chunk rather than a copy. */
  #holdsInput = false;
  #line = 0;
  #records = 0;
  /** How many first bytes of an over-long line to keep, when such lines are set aside rather than refused. */
  #headBytes: number | undefined;
  /** The over-long line whose rest is being skipped. */
  #skipped: Skipped | undefined;

  /**
   * @param member - named in errors
   * @param maxLineBytes - longest accepted line, without its line ending (and without a first line's BOM)
   * @param advice - what to do about a longer line, in its error
   */
  constructor(
    private readonly member: string,
    private readonly maxLineBytes: number,
    private readonly advice = 'raise maxLineBytes or fix the record',
  ) {}

  /**
   * Hands a line longer than the limit to the push's {@link LongLineSink}
   * instead of throwing `LINE_TOO_LONG`: its first `headBytes` bytes are
   * kept and the rest is skipped as it arrives, so such a line costs no more
   * memory than a line at the limit. Call before the first push.
   */
  setAsideLongLines(headBytes: number): void {
    this.#headBytes = headBytes;
  }

  /** Non-blank lines seen so far. */
  get records(): number {
    return this.#records;
  }

  /** Physical lines seen so far. */
  get lines(): number {
    return this.#line;
  }

  /** True while the unfinished line refers to the memory of a pushed chunk (the chunk must then stay intact). */
  get holdsInput(): boolean {
    return this.#holdsInput;
  }

  /**
   * Feeds one chunk; calls `sink` for every complete non-blank line. The end
   * of a chunk that holds an unfinished line may be kept without copying
   * ({@link LineSplitter.holdsInput}), so a caller must not refill a chunk's
   * buffer after pushing it.
   */
  push(chunk: Buffer, sink?: LineSink, long?: LongLineSink): void {
    let start = 0;
    if (this.#skipped !== undefined) {
      const nl = chunk.indexOf(NEWLINE);
      this.#skip(this.#skipped, chunk, nl === -1 ? chunk.length : nl);
      if (nl === -1) return;
      this.#endSkip(long);
      start = nl + 1;
    } else if (this.#pending > 0) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl === -1) {
        this.#hold(chunk);
        return;
      }
      // Only the straddling line is copied; the rest is scanned in place.
      const joined = this.#takeHeld(chunk.subarray(0, nl));
      this.#emit(joined, 0, joined.length, sink, long);
      start = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) break;
      this.#emit(chunk, start, nl, sink, long);
      start = nl + 1;
    }
    if (start < chunk.length) this.#hold(chunk.subarray(start));
  }

  /** Flushes a last line that had no newline. */
  end(sink?: LineSink, long?: LongLineSink): void {
    if (this.#skipped !== undefined) this.#endSkip(long);
    else if (this.#pending > 0) {
      const rest = this.#takeHeld();
      this.#emit(rest, 0, rest.length, sink, long);
    }
  }

  /**
   * Keeps a piece of the unfinished line. The early length check allows for
   * what #emit strips later (a CR whose LF is still to come, a first line's
   * BOM), so a line exactly at the limit passes however it is chunked.
   */
  #hold(piece: Buffer): void {
    this.#pending += piece.length;
    const allowance = 1 + (this.#line === 0 ? BOM.length : 0);
    if (this.#pending > this.maxLineBytes + allowance) {
      if (this.#headBytes === undefined) this.#tooLong(this.#line + 1);
      this.#startSkip(piece);
      return;
    }
    const copy = this.#pieces.length === 0 && piece.length <= COPIED_TAIL_BYTES;
    this.#pieces.push(copy ? Buffer.from(piece) : piece);
    this.#holdsInput ||= !copy;
  }

  /** The held line plus `tail` (its last piece), joined with one copy. */
  #takeHeld(tail?: Buffer): Buffer {
    if (tail !== undefined) this.#pieces.push(tail);
    const length = this.#pending + (tail?.length ?? 0);
    const joined = this.#pieces.length === 1 ? this.#pieces[0]! : Buffer.concat(this.#pieces, length);
    this.#pieces = [];
    this.#pending = 0;
    this.#holdsInput = false;
    return joined;
  }

  /**
   * Starts skipping the unfinished line, held so far plus `piece`, which is
   * already too long: its first bytes are copied, the held pieces let go.
   */
  #startSkip(piece: Buffer): void {
    const pieces = [...this.#pieces, piece];
    const bom = this.#line === 0 ? BOM.length : 0;
    const headBytes = this.#headBytes ?? 0;
    const head = Buffer.concat(pieces, Math.min(this.#pending, headBytes + bom));
    const dropped = bom > 0 && head.subarray(0, bom).equals(BOM) ? bom : 0;
    const skipped: Skipped = {
      head: head.subarray(dropped, dropped + headBytes),
      length: this.#pending - dropped,
      blank: true,
      last: undefined,
    };
    for (const p of pieces) this.#skip(skipped, p, p.length, false);
    this.#skipped = skipped;
    this.#pieces = [];
    this.#pending = 0;
    this.#holdsInput = false;
  }

  /** Passes over `bytes[0, end)` of the skipped line, noting only whether it is still blank and its last byte. */
  #skip(skipped: Skipped, bytes: Buffer, end: number, count = true): void {
    if (count) skipped.length += end;
    if (skipped.blank) skipped.blank = isBlank(bytes, 0, end);
    if (end > 0) skipped.last = bytes[end - 1];
  }

  /** The skipped line has ended: a blank one is dropped like any blank line, another goes to `long`. */
  #endSkip(long: LongLineSink | undefined): void {
    const skipped = this.#skipped!;
    this.#skipped = undefined;
    this.#line += 1;
    if (skipped.blank) return;
    this.#records += 1;
    long?.(skipped.head, skipped.length - (skipped.last === CR ? 1 : 0), this.#line);
  }

  #tooLong(line: number): never {
    throw tooLongError(this.member, line, this.maxLineBytes, this.advice);
  }

  #emit(bytes: Buffer, start: number, end: number, sink: LineSink | undefined, long: LongLineSink | undefined): void {
    this.#line += 1;
    if (this.#line === 1 && end - start >= 3 && bytes[start] === BOM[0] && bytes[start + 1] === BOM[1] && bytes[start + 2] === BOM[2])
      start += 3;
    if (end > start && bytes[end - 1] === CR) end -= 1;
    if (end - start > this.maxLineBytes) {
      if (this.#headBytes === undefined) this.#tooLong(this.#line);
      if (isBlank(bytes, start, end)) return;
      this.#records += 1;
      long?.(Buffer.from(bytes.subarray(start, start + this.#headBytes)), end - start, this.#line);
      return;
    }
    if (end === start) return;
    const first = bytes[start];
    if ((first === SPACE || first === TAB) && isBlank(bytes, start, end)) return;
    this.#records += 1;
    sink?.(bytes, start, end, this.#line);
  }
}

/** The error of `member`'s line `line`, longer than `maxLineBytes`; `advice` says what to do about it. */
export function tooLongError(
  member: string,
  line: number,
  maxLineBytes: number,
  advice = 'raise maxLineBytes or fix the record',
): BackfillError {
  return new BackfillError('LINE_TOO_LONG', `${member} line ${line}: longer than maxLineBytes (${maxLineBytes}); ${advice}.`, {
    context: { member, line },
  });
}

/** What to do about a line longer than a string holds: the library's advice, which the CLI, reading no line undecoded, words its own way. */
export const UNDECODED_ADVICE = "read it undecoded ({ encoding: 'buffer' }) or fix the record";

/**
 * Decodes one line as UTF-8, refusing invalid sequences instead of replacing
 * them. The strict check runs only when the fast decode produced U+FFFD, so
 * valid text pays for one decode, not two passes.
 */
export function decodeLine(bytes: Buffer, start: number, end: number, member: string, line: number): string {
  let text: string;
  try {
    text = bytes.toString('utf8', start, end);
  } catch (error) {
    // A maxLineBytes raised past what a string holds (Infinity, or over 512 MiB) lets such a line get this far.
    if ((error as { code?: unknown }).code !== 'ERR_STRING_TOO_LONG') throw error;
    throw new BackfillError(
      'LINE_TOO_LONG',
      `${member} line ${line}: ${end - start} bytes, more text than a JavaScript string holds (${constants.MAX_STRING_LENGTH} characters); ${UNDECODED_ADVICE}.`,
      { cause: error, context: { member, line } },
    );
  }
  if (text.includes('\uFFFD') && !isUtf8(bytes.subarray(start, end))) {
    throw new BackfillError('ENCODING_INVALID', `${member} line ${line}: not valid UTF-8; re-encode the member as UTF-8.`, {
      context: { member, line },
    });
  }
  return text;
}

/**
 * Parses one NDJSON line into an object, with errors that name the member
 * and line.
 */
export function parseRecordLine(raw: string, member: string, line: number): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new BackfillError('JSON_MALFORMED', `${member} line ${line}: not valid JSON (${(error as Error).message}); fix the line.`, {
      cause: error,
      context: { member, line },
      detail: raw,
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw new BackfillError(
      'RECORD_NOT_OBJECT',
      `${member} line ${line}: expected a JSON object, found ${kind}; each line must be one object.`,
      {
        context: { member, line },
      },
    );
  }
  return value as Record<string, unknown>;
}
