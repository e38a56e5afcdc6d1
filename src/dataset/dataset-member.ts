import { BackfillError } from '../errors.js';
import { LineSplitter, decodeLine, parseRecordLine, type LineSink } from '../_internals/ndjson.js';
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

  /** The manifest's text, when this member is `manifest.json` and has been finished. */
  manifestText(): string | undefined {
    return this.#manifestParts && Buffer.concat(this.#manifestParts).toString('utf8');
  }

  lineBatches(): AsyncGenerator<DatasetLine[]>;
  lineBatches(options: LineOptions<'buffer'>): AsyncGenerator<DatasetByteLine[]>;
  lineBatches(options?: LineOptions): AsyncGenerator<DatasetLine[] | DatasetByteLine[]>;
  async *lineBatches(options?: LineOptions): AsyncGenerator<DatasetLine[] | DatasetByteLine[]> {
    this.#claim();
    const member = this.name;
    let batch: (DatasetLine | DatasetByteLine)[] = [];
    const undecoded = options?.encoding === 'buffer';
    const sink: LineSink = undecoded
      ? (bytes, start, end, line) => batch.push({ line, raw: bytes.subarray(start, end) })
      : (bytes, start, end, line) => batch.push({ line, raw: decodeLine(bytes, start, end, member, line) });
    for (;;) {
      const chunk = await this.#next();
      if (chunk === undefined) break;
      if (undecoded) this.#data.keep(); // the lines handed out are views of the chunk
      for (let at = 0; at < chunk.length; at += BATCH_BYTES) {
        this.#split(chunk.subarray(at, at + BATCH_BYTES), sink);
        if (batch.length > 0) {
          const full = batch;
          batch = [];
          yield full as DatasetLine[] | DatasetByteLine[];
        }
      }
    }
    this.#splitter.end(sink);
    if (batch.length > 0) yield batch as DatasetLine[] | DatasetByteLine[];
  }

  /** Splits `chunk` into lines; a chunk the splitter still refers to afterwards is kept. */
  #split(chunk: Buffer, sink?: LineSink): void {
    this.#splitter.push(chunk, sink);
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
