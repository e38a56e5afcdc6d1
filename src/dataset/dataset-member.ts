import { BackfillError, toBackfillError } from '../errors.js';
import { LineSplitter, decodeLine, parseRecordLine, tooLongError, type LineSink, type LongLineSink } from '../_internals/ndjson.js';
import { completeEnd } from '../_internals/utf8-check.js';
import { MANIFEST_NAME, MAX_MANIFEST_BYTES } from './defaults.js';
import type { DatasetByteLine, DatasetLine, DatasetMember, DatasetRecord, LineOptions, MemberStats } from './types.js';

/**
 * Lines are handed out in batches of at most this many bytes, whatever the
 * size of decoded chunks: a batch's records should die young. Batches of a
 * whole 512 KiB chunk made `recordBatches()` 1.6× slower (more records
 * outlived a scavenge and were promoted), and 64 KiB batches peaked ~30 MiB
 * lower than 256 KiB ones in `recordBatches()` and `lines()` at the same CPU
 * (32 KiB cost `lines()` ~7% more CPU for little less memory).
 */
const BATCH_BYTES = 64 * 1024;

/**
 * The most of an over-long line's first bytes an {@link UnreadableLine}
 * keeps (fewer when `maxLineBytes` is lower): enough to tell which record it
 * was, never the line.
 */
export const UNREADABLE_HEAD_BYTES = 4096;

/**
 * A line {@link ArchiveMember.checkedLineBatches} cannot hand over as text:
 * longer than `maxLineBytes` (`LINE_TOO_LONG`) or not UTF-8
 * (`ENCODING_INVALID`). Not part of the public surface.
 */
export interface UnreadableLine {
  readonly line: number;
  /** Why, naming the member and line: what `lineBatches()` would have thrown. */
  readonly error: BackfillError;
  /** The line's bytes (only its first ones when `truncated`, cut back to a whole character); a copy. */
  readonly bytes: Buffer;
  /** `bytes` as text, each invalid sequence replaced by U+FFFD. */
  readonly text: string;
  /** The whole line's length in bytes, without its ending. */
  readonly length: number;
  /** Whether `bytes` holds only the line's first bytes. */
  readonly truncated: boolean;
}

/**
 * A member's data as the tar parser hands it out: the same bytes it hashed.
 * `next()` gives `undefined` after the last chunk; `sha256` is known from then
 * on (`null` when member digests are off).
 */
export interface MemberData {
  next(): Promise<Buffer | undefined>;
  /**
   * The chunk last returned stays referenced (by the caller or by the line
   * splitter); unless this is called, its memory may be freed once the next
   * chunk is asked for.
   */
  keep(): void;
  readonly sha256: string | null | undefined;
}

/**
 * One archive member. All three read methods pull from the same data, and
 * whatever the caller leaves unread is drained by {@link ArchiveMember.finish},
 * so counts cover every byte and the digest is the parser's over those bytes.
 */
export class ArchiveMember implements DatasetMember {
  readonly #data: MemberData;
  readonly #splitter: LineSplitter;
  readonly #manifestParts: Buffer[] | undefined;
  readonly #maxLineBytes: number;
  #bytes = 0;
  #claimed = false;
  #ended = false;

  constructor(
    readonly name: string,
    readonly size: number,
    data: MemberData,
    maxLineBytes: number,
  ) {
    this.#data = data;
    this.#maxLineBytes = maxLineBytes;
    this.#splitter = new LineSplitter(name, maxLineBytes);
    this.#manifestParts = name === MANIFEST_NAME ? [] : undefined;
  }

  async *chunks(): AsyncGenerator<Buffer> {
    this.#claim();
    for (;;) {
      const chunk = await this.#next();
      if (chunk === undefined) return;
      this.#data.keep();
      this.#splitter.push(chunk);
      yield chunk;
    }
  }

  lines(): AsyncGenerator<DatasetLine>;
  lines(options: LineOptions<'buffer'>): AsyncGenerator<DatasetByteLine>;
  lines(options?: LineOptions): AsyncGenerator<DatasetLine | DatasetByteLine>;
  async *lines(options?: LineOptions): AsyncGenerator<DatasetLine | DatasetByteLine> {
    for await (const batch of this.lineBatches(options)) yield* batch;
  }

  async *records(): AsyncGenerator<DatasetRecord> {
    for await (const batch of this.recordBatches()) yield* batch;
  }

  async *recordBatches(): AsyncGenerator<DatasetRecord[]> {
    for await (const batch of this.lineBatches()) {
      yield batch.map(({ line, raw }) => ({ line, raw, value: parseRecordLine(raw, this.name, line) }));
    }
  }

  /** Drains what the caller did not read and returns the member's figures. */
  async finish(): Promise<MemberStats> {
    for (;;) {
      const chunk = await this.#next();
      if (chunk === undefined) break;
      this.#split(chunk);
    }
    this.#splitter.end();
    return {
      name: this.name,
      bytes: this.#bytes,
      sha256: this.#data.sha256 as string | null, // drained above, so known
      records: this.#manifestParts === undefined ? this.#splitter.records : null,
    };
  }

  /** The manifest's bytes, when this member is `manifest.json` and has been finished. */
  manifestBytes(): Buffer | undefined {
    return this.#manifestParts && Buffer.concat(this.#manifestParts);
  }

  lineBatches(): AsyncGenerator<DatasetLine[]>;
  lineBatches(options: LineOptions<'buffer'>): AsyncGenerator<DatasetByteLine[]>;
  lineBatches(options?: LineOptions): AsyncGenerator<DatasetLine[] | DatasetByteLine[]>;
  async *lineBatches(options?: LineOptions): AsyncGenerator<DatasetLine[] | DatasetByteLine[]> {
    this.#claim();
    const member = this.name;
    const out: { batch: (DatasetLine | DatasetByteLine)[] } = { batch: [] };
    const undecoded = options?.encoding === 'buffer';
    const sink: LineSink = undecoded
      ? (bytes, start, end, line) => out.batch.push({ line, raw: bytes.subarray(start, end) })
      : (bytes, start, end, line) => out.batch.push({ line, raw: decodeLine(bytes, start, end, member, line) });
    // The lines handed out undecoded are views of the chunk.
    yield* this.#batches(out, sink, undefined, undecoded) as AsyncGenerator<DatasetLine[] | DatasetByteLine[]>;
  }

  /**
   * {@link ArchiveMember.lineBatches} (decoded) that hands over each line it
   * cannot decode or hold as an {@link UnreadableLine} in its place, instead
   * of throwing: an over-long line's rest is skipped, never held.
   */
  async *checkedLineBatches(): AsyncGenerator<(DatasetLine | UnreadableLine)[]> {
    this.#claim();
    const member = this.name;
    const headBytes = Math.min(UNREADABLE_HEAD_BYTES, this.#maxLineBytes);
    this.#splitter.setAsideLongLines(headBytes);
    const out: { batch: (DatasetLine | UnreadableLine)[] } = { batch: [] };
    const sink: LineSink = (bytes, start, end, line) => {
      let raw: string;
      try {
        raw = decodeLine(bytes, start, end, member, line);
      } catch (thrown) {
        // Not UTF-8 (kept whole, since the limit bounds it), or more than a string holds (a limit raised past it: kept in part).
        const error = toBackfillError(thrown);
        const cut = error.code === 'LINE_TOO_LONG' ? start + completeEnd(bytes.subarray(start, start + headBytes)) : end;
        out.batch.push(unreadable(error, line, bytes.subarray(start, cut), end - start, cut < end));
        return;
      }
      out.batch.push({ line, raw });
    };
    const long: LongLineSink = (head, length, line) => {
      const whole = head.subarray(0, completeEnd(head));
      out.batch.push(unreadable(tooLongError(member, line, this.#maxLineBytes), line, whole, length, true));
    };
    yield* this.#batches(out, sink, long, false);
  }

  /**
   * Marks the member as one the caller skips: it is still drained, hashed
   * and its lines counted, but a line over `maxLineBytes` is counted too
   * rather than refused, as nothing reads its lines (a bad line elsewhere in
   * it, not JSON or not UTF-8, goes unnoticed alike).
   */
  skipLines(): void {
    if (this.#manifestParts === undefined) this.#splitter.setAsideLongLines(0);
  }

  /** Splits the member's chunks into `out.batch` through `sink` and `long`, handing out each batch once it has lines. */
  async *#batches<T>(out: { batch: T[] }, sink: LineSink, long: LongLineSink | undefined, keep: boolean): AsyncGenerator<T[]> {
    for (;;) {
      const chunk = await this.#next();
      if (chunk === undefined) break;
      if (keep) this.#data.keep();
      for (let at = 0; at < chunk.length; at += BATCH_BYTES) {
        this.#split(chunk.subarray(at, at + BATCH_BYTES), sink, long);
        if (out.batch.length > 0) {
          const full = out.batch;
          out.batch = [];
          yield full;
        }
      }
    }
    this.#splitter.end(sink, long);
    if (out.batch.length > 0) yield out.batch;
  }

  /** Splits `chunk` into lines; a chunk the splitter still refers to afterwards is kept. */
  #split(chunk: Buffer, sink?: LineSink, long?: LongLineSink): void {
    this.#splitter.push(chunk, sink, long);
    if (this.#splitter.holdsInput) this.#data.keep();
  }

  #claim(): void {
    if (this.#claimed) {
      throw new BackfillError('INVALID_ARGUMENT', `${this.name}: a member can be read once; call one of records(), lines() or chunks().`, {
        context: { member: this.name },
      });
    }
    this.#claimed = true;
  }

  async #next(): Promise<Buffer | undefined> {
    if (this.#ended) return undefined;
    const chunk = await this.#data.next();
    if (chunk === undefined) {
      this.#ended = true;
      return undefined;
    }
    this.#bytes += chunk.length;
    if (this.#manifestParts !== undefined) {
      if (this.#bytes > MAX_MANIFEST_BYTES) {
        throw new BackfillError('MANIFEST_INVALID', `manifest.json is larger than ${MAX_MANIFEST_BYTES} bytes.`, {
          context: { member: this.name },
        });
      }
      this.#manifestParts.push(Buffer.from(chunk)); // a copy: the chunk's memory may be freed
    }
    return chunk;
  }
}

/** An {@link UnreadableLine}, with a copy of `bytes`. */
function unreadable(error: BackfillError, line: number, bytes: Buffer, length: number, truncated: boolean): UnreadableLine {
  const copy = Buffer.from(bytes);
  return { line, error, bytes: copy, text: copy.toString('utf8'), length, truncated };
}
