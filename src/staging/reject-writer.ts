/**
 * The reject file of `onInvalid: 'reject'`: one NDJSON line per refused
 * input line, with the reason, so nothing is dropped silently (as pgloader
 * does with its reject files).
 *
 * @module
 */
import { constants, type WriteStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { ResultAsync } from 'neverthrow';
import { BackfillError, toBackfillError, type BackfillErrorCode } from '../errors.js';
import { notRegular } from '../_internals/file-kind.js';
import { NEW_FILE_MODE } from '../_internals/new-file-mode.js';

/**
 * Opens `path` for writing, creating it, but never through a symbolic link
 * (`ELOOP` becomes a clear `IO_ERROR`). Without blocking: a FIFO at the path
 * with no reader fails at once (`ENXIO`) instead of holding the import,
 * and one with a reader is refused as not a regular file.
 */
async function openNoFollow(path: string): Promise<FileHandle> {
  try {
    return await open(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
      NEW_FILE_MODE,
    );
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENXIO')
      throw notRegularFile(path, 'a named pipe (FIFO) with no reader, or a socket', error);
    if ((error as { code?: unknown }).code !== 'ELOOP') throw error;
    throw new BackfillError(
      'IO_ERROR',
      `rejectPath ${path} is a symbolic link; the reject file is never written through one. Pass the path of a regular file.`,
      {
        cause: error,
        context: { path },
      },
    );
  }
}

/** The refusal of a reject path that is `kind` ({@link notRegular}'s words), not a regular file. */
const notRegularFile = (path: string, kind: string, cause?: unknown): BackfillError =>
  new BackfillError(
    'IO_ERROR',
    `rejectPath ${path} is ${kind}; the reject file is written only as a regular file. Pass the path of a regular file.`,
    {
      ...(cause === undefined ? {} : { cause }),
      context: { path },
    },
  );

/** One line of a reject file. */
export interface RejectEntry {
  readonly member: string;
  readonly line: number;
  /** The error code that refused the line, e.g. `JSON_MALFORMED`. */
  readonly code: BackfillErrorCode;
  /** Why, in words, naming the member and line. */
  readonly reason: string;
  /**
   * The input line, unchanged; for a line that is not UTF-8, its text with
   * U+FFFD in place of each invalid sequence; for a line longer than
   * `maxLineBytes`, its first bytes (at most 4 KiB, and at most the limit).
   */
  readonly raw: string;
  /** Present (`true`) when `raw` holds only the first bytes of a line longer than `maxLineBytes`. */
  readonly truncated?: true;
  /** With `truncated`: the whole line's length in bytes, without its line ending. */
  readonly bytes?: number;
  /** Present when the line's bytes are not UTF-8: exactly the bytes `raw` shows (the first ones, with `truncated`), in base64. */
  readonly rawBase64?: string;
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

  /**
   * Creates (or truncates) the reject file. Refused before anything is
   * truncated: a symbolic link (whoever planted it chose what would be
   * overwritten), anything but a regular file (a FIFO would hold the import
   * until someone read it, and hand that reader the rejected lines) and the
   * file `input` (the tarball being read) under any name.
   */
  static open(path: string, input?: string): ResultAsync<RejectWriter, BackfillError> {
    return ResultAsync.fromPromise(
      (async () => {
        const file = await openNoFollow(path);
        try {
          const [written, read] = await Promise.all([file.stat(), input === undefined ? undefined : stat(input).catch(() => undefined)]);
          const kind = notRegular(written);
          if (kind !== undefined) throw notRegularFile(path, kind);
          if (read !== undefined && written.dev === read.dev && written.ino === read.ino) {
            throw new BackfillError('INVALID_ARGUMENT', `rejectPath ${path} is the tarball being imported; write the rejects elsewhere.`, {
              context: { path },
            });
          }
          await file.truncate(0);
        } catch (error) {
          await file.close();
          throw error;
        }
        const stream = file.createWriteStream();
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
    const { member, line: at, code, reason, raw, truncated, bytes, rawBase64 } = entry;
    const fields = { member, line: at, code, reason, raw, truncated, bytes, rawBase64 }; // in this order; JSON drops the absent ones
    const line = `${JSON.stringify(fields)}\n`;
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
