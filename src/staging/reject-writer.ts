/**
 * The reject file of `onInvalid: 'reject'`: one NDJSON line per refused
 * input line, with the reason, so nothing is dropped silently (as pgloader
 * does with its reject files).
 *
 * @module
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { ResultAsync } from 'neverthrow';
import { toBackfillError, type BackfillError, type BackfillErrorCode } from '../errors.js';

/** One line of a reject file. */
export interface RejectEntry {
  readonly member: string;
  readonly line: number;
  /** The error code that refused the line, e.g. `JSON_MALFORMED`. */
  readonly code: BackfillErrorCode;
  /** Why, in words, naming the member and line. */
  readonly reason: string;
  /** The input line, unchanged. */
  readonly raw: string;
}

/**
 * Appends {@link RejectEntry} lines to an NDJSON file, respecting the
 * file stream's backpressure. The file is created (or truncated) on open.
 *
 * @example
 * ```ts
 * const result = await RejectWriter.open('import.rejects.ndjson');
 * if (result.isErr()) throw result.error;
 * const rejects = result.value;
 * await rejects.write({ member: 'linksets.ndjson', line: 4, code: 'JSON_MALFORMED', reason: '…', raw: '{oops' });
 * await rejects.close(); // ok(1)
 * ```
 */
export class RejectWriter {
  readonly #stream: WriteStream;
  readonly path: string;
  #count = 0;
  #failure: unknown;

  private constructor(path: string, stream: WriteStream) {
    this.path = path;
    this.#stream = stream;
    stream.on('error', (e) => {
      this.#failure ??= e;
    });
  }

  /** Creates (or truncates) the reject file. */
  static open(path: string): ResultAsync<RejectWriter, BackfillError> {
    return ResultAsync.fromPromise(
      (async () => {
        const stream = createWriteStream(path, { flags: 'w' });
        await once(stream, 'open');
        return new RejectWriter(path, stream);
      })(),
      (e) => toBackfillError(e, 'IO_ERROR', { path }),
    );
  }

  /** Lines written so far. */
  get count(): number {
    return this.#count;
  }

  /** Appends one entry; waits only when the file falls behind. */
  async write(entry: RejectEntry): Promise<void> {
    if (this.#failure !== undefined) throw toBackfillError(this.#failure, 'IO_ERROR', { path: this.path });
    this.#count += 1;
    const line = `${JSON.stringify({ member: entry.member, line: entry.line, code: entry.code, reason: entry.reason, raw: entry.raw })}\n`;
    if (!this.#stream.write(line)) await once(this.#stream, 'drain');
  }

  /** Flushes and closes the file; resolves with the number of entries. */
  close(): ResultAsync<number, BackfillError> {
    return ResultAsync.fromPromise(
      (async () => {
        if (!this.#stream.closed) {
          const closed = once(this.#stream, 'close');
          this.#stream.end();
          await closed;
        }
        if (this.#failure !== undefined) throw this.#failure;
        return this.#count;
      })(),
      (e) => toBackfillError(e, 'IO_ERROR', { path: this.path }),
    );
  }
}
