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
  push(chunk: Buffer, sink?: LineSink): void {
    let start = 0;
    if (this.#pending > 0) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl === -1) {
        this.#hold(chunk);
        return;
      }
      // Only the straddling line is copied; the rest is scanned in place.
      const joined = this.#takeHeld(chunk.subarray(0, nl));
      this.#emit(joined, 0, joined.length, sink);
      start = nl + 1;
    }
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) break;
      this.#emit(chunk, start, nl, sink);
      start = nl + 1;
    }
    if (start < chunk.length) this.#hold(chunk.subarray(start));
  }

  /** Flushes a last line that had no newline. */
  end(sink?: LineSink): void {
    if (this.#pending > 0) {
      const rest = this.#takeHeld();
      this.#emit(rest, 0, rest.length, sink);
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
    if (this.#pending > this.maxLineBytes + allowance) this.#tooLong(this.#line + 1);
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

  #tooLong(line: number): never {
    throw new BackfillError(
      'LINE_TOO_LONG',
      `${this.member} line ${line}: longer than maxLineBytes (${this.maxLineBytes}); ${this.advice}.`,
      {
        context: { member: this.member, line },
      },
    );
  }

  #emit(bytes: Buffer, start: number, end: number, sink: LineSink | undefined): void {
    this.#line += 1;
    if (this.#line === 1 && end - start >= 3 && bytes[start] === BOM[0] && bytes[start + 1] === BOM[1] && bytes[start + 2] === BOM[2])
      start += 3;
    if (end > start && bytes[end - 1] === CR) end -= 1;
    if (end - start > this.maxLineBytes) this.#tooLong(this.#line);
    if (end === start) return;
    const first = bytes[start];
    if ((first === SPACE || first === TAB) && isBlank(bytes, start, end)) return;
    this.#records += 1;
    sink?.(bytes, start, end, this.#line);
  }
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
