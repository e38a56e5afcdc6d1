import { createHash } from 'node:crypto';
import { close, constants, fstat, open, read } from 'node:fs';
import type { Duplex, Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { BackfillError, toBackfillError } from '../errors.js';
import { exceededLimit, type DecodeLimits } from '../_internals/decode-limits.js';
import {
  SNIFF_BYTES,
  type Compression,
  decoderFor,
  decompressionError,
  detectCompression,
  limitError,
  sniff,
  tarAndCompressed,
} from '../_internals/decompress.js';
import { deferred } from '../_internals/deferred.js';
import { notRegular } from '../_internals/file-kind.js';
import { workerModuleUrl } from '../_internals/worker-url.js';
import type { DecodeFailure, DecodeThreadData, FromDecodeThread, StoredDigest } from './decode-messages.js';
import { TarParser, type TarEvent } from './tar-parser.js';

/** A decoded piece of the tar stream and what the tar parser found in it. */
export interface TarPiece {
  readonly chunk: Buffer;
  readonly events: readonly TarEvent[];
  /** True when `chunk` spans a buffer of its own, which the reader may free once nothing refers to it. */
  readonly ownsBuffer: boolean;
}

/**
 * An input being decoded and parsed. File and stream inputs differ only in
 * where the work runs; both hand out the same pieces from the same parser.
 */
export interface DecodedInput {
  readonly compression: Compression;
  /** The next piece, `undefined` after the last; rejects with the decoding failure. */
  nextPiece(): Promise<TarPiece | undefined>;
  /** SHA-256 and size of the stored bytes, once all of them have been read. */
  readonly stored: Promise<StoredDigest>;
  /** Stops reading (if still reading) and releases the input. */
  close(): void;
}

const openFd = promisify(open);
const fstatFd = promisify(fstat);
const readFd = promisify(read);
const closeFd = promisify(close);

/** Compressed bytes per file read: small reads keep decoded pieces coming steadily. */
const READ_BYTES = 128 * 1024;
/**
 * Decoded bytes posted ahead of the reader, and the size of the pieces that
 * are copied (whole zstd frames go as they are). Each piece costs two messages
 * (the piece and its acknowledgement); 512 KiB pieces ran ~10% faster than
 * 256 KiB ones at the same peak RSS, while 1 MiB pieces added ~25 MiB of RSS
 * for little more.
 */
const MAX_IN_FLIGHT_BYTES = 4 * 1024 * 1024;
const PIECE_BYTES = 512 * 1024;

function unsupported(head: Buffer, where: { path?: string }): BackfillError {
  const both = tarAndCompressed(head);
  if (both !== undefined) {
    return new BackfillError(
      'UNSUPPORTED_FORMAT',
      `${where.path ?? 'input'} starts with a tar header and with a ${both} stream at once: GNU tar (tar -xf) reads it as a plain tar, ${both === 'zstd' ? 'zstd -dc' : 'gunzip'} as the archive compressed inside it, two archives in one file; rebuild the dataset.`,
      { context: where },
    );
  }
  return new BackfillError(
    'UNSUPPORTED_FORMAT',
    `${where.path ?? 'input'} is ${head.length === 0 ? 'empty' : 'not a tar, tar.gz or tar.zst archive (magic bytes)'}; pass a dataset tarball.`,
    { context: where },
  );
}

/** Pieces waiting for the reader, with one waiter at a time. */
class PieceQueue {
  readonly #pieces: TarPiece[] = [];
  #failure: BackfillError | undefined;
  #ended = false;
  #wake: (() => void) | undefined;

  push(piece: TarPiece): void {
    this.#pieces.push(piece);
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  fail(error: BackfillError): void {
    this.#failure ??= error;
    this.#notify();
  }

  get failure(): BackfillError | undefined {
    return this.#failure;
  }

  async next(): Promise<TarPiece | undefined> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      const piece = this.#pieces.shift();
      if (piece || this.#ended) return piece;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/**
 * A file is read, decompressed and parsed off the main thread: the decode
 * thread (decode-thread.ts) reads and hashes the file, has node:zlib decode
 * it on libuv's thread pool (two zstd frames at a time, as `zstd -dc | tar
 * -xO` spreads its work over two processes), and runs the tar parser and the
 * member hashes (when `hashMembers`) over the decoded pieces. The main thread is left line
 * splitting and whatever the caller does. Backpressure: the decode thread
 * posts at most about {@link MAX_IN_FLIGHT_BYTES} that the reader has not taken yet.
 *
 * The path is opened once, here: the thread reads the descriptor this
 * thread checked, so a file renamed over the path (or a FIFO put there)
 * after the check is never what is read. The descriptor is closed once the
 * thread has exited, when no read of it can be in flight.
 */
export async function openFile(path: string, limits: DecodeLimits, hashMembers: boolean): Promise<DecodedInput> {
  const head = Buffer.alloc(SNIFF_BYTES);
  let length: number;
  let fd: number | undefined;
  try {
    // Without blocking: a FIFO opens at once whether or not anyone writes to it yet.
    fd = await openFd(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    // A path is read from its start, and may be read again (the staging importer locates bad lines so):
    // a pipe can be read once only, and a device such as /dev/zero never ends.
    const kind = notRegular(await fstatFd(fd));
    if (kind !== undefined) {
      throw new BackfillError(
        'IO_ERROR',
        `${path} is ${kind}, not a regular file; save the tarball to a file first, or pass a stream of it (readDataset takes a Readable).`,
        { context: { path } },
      );
    }
    ({ bytesRead: length } = await readFd(fd, head, 0, SNIFF_BYTES, 0));
  } catch (e) {
    if (fd !== undefined) await closeFd(fd).catch(() => undefined);
    throw toBackfillError(e, 'IO_ERROR', { path });
  }
  const compression = detectCompression(head.subarray(0, length));
  if (compression === undefined || tarAndCompressed(head.subarray(0, length)) !== undefined) {
    await closeFd(fd).catch(() => undefined);
    throw unsupported(head.subarray(0, length), { path });
  }
  const opened = fd;
  const workerData: DecodeThreadData = {
    fd: opened,
    compression,
    limits,
    readBytes: READ_BYTES,
    maxInFlightBytes: MAX_IN_FLIGHT_BYTES,
    pieceBytes: PIECE_BYTES,
    hashMembers,
  };
  // No inherited flags: `node --input-type=module -e …` would refuse to start a module file.
  let decoder: Worker;
  try {
    decoder = new Worker(workerModuleUrl('decode-thread', import.meta.url), { execArgv: [], workerData });
  } catch (e) {
    await closeFd(opened).catch(() => undefined);
    throw toBackfillError(e, 'IO_ERROR', { path });
  }
  const queue = new PieceQueue();
  const stored = deferred<StoredDigest>();
  let settled = false;
  const fail = (error: BackfillError): void => {
    if (settled) return;
    settled = true;
    queue.fail(error);
    stored.reject(error);
  };
  const toError = (f: DecodeFailure): BackfillError => {
    if (f.stage === 'limit') return limitError(f.message === 'ratio' ? 'ratio' : 'bytes', limits);
    const cause = Object.assign(new Error(f.stage === 'io' ? `${path}: ${f.message}` : f.message), f.code ? { code: f.code } : {});
    return f.stage === 'io' ? toBackfillError(cause, 'IO_ERROR', { path }) : decompressionError(cause, compression, f.offset);
  };
  decoder.on('message', (m: FromDecodeThread) => {
    if (m.type === 'piece') {
      queue.push({ chunk: Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength), events: m.events, ownsBuffer: true });
    } else if (m.type === 'end') {
      settled = true;
      stored.resolve({ sha256: m.sha256, bytes: m.bytes });
      queue.end();
    } else {
      fail(toError(m.failure));
    }
  });
  decoder.on('error', (e) => fail(toBackfillError(e, 'IO_ERROR', { path })));
  // A thread that ends before the archive does would leave the reader waiting for pieces forever.
  decoder.on('exit', (code) => {
    close(opened, () => undefined);
    fail(
      new BackfillError('IO_ERROR', `${path}: the decode thread exited (code ${code}) before the end of the file.`, { context: { path } }),
    );
  });
  return {
    compression,
    stored: stored.promise,
    async nextPiece() {
      const piece = await queue.next();
      if (piece) decoder.postMessage({ type: 'ack', bytes: piece.chunk.length });
      return piece;
    },
    close() {
      fail(new BackfillError('ABORTED', 'reading the dataset was stopped.'));
      decoder.postMessage({ type: 'stop' });
      decoder.unref();
    },
  };
}

/** Resolves once `stream` drains or closes (a destroyed decoder never drains). */
function drainedOrClosed(stream: Duplex): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * A caller's Readable is decoded and parsed on this thread, by the same
 * decoder and tar parser the file threads run. Once the archive ends, the
 * rest of a compressed input is decompressed to its end and dropped (its
 * checksums and trailing bytes are checked, as for a file); the rest of a
 * plain tar is only hashed.
 */
export async function openStream(source: Readable, limits: DecodeLimits, hashMembers: boolean): Promise<DecodedInput> {
  let sniffed: { head: Buffer; stream: Readable };
  try {
    sniffed = await sniff(source);
  } catch (e) {
    throw toBackfillError(e, 'IO_ERROR');
  }
  const { head, stream } = sniffed;
  const compression = detectCompression(head);
  if (compression === undefined || tarAndCompressed(head) !== undefined) {
    source.destroy();
    throw unsupported(head, {});
  }
  const decoder = decoderFor(compression);
  const parser = new TarParser({ hashMembers });
  const hash = createHash('sha256');
  let storedBytes = 0;
  let decodedBytes = 0;
  let decoding = true;
  let finished = false;
  const stopDecoding = (): void => {
    decoding = false;
    decoder.destroy();
  };
  const stored = deferred<StoredDigest>();
  (async () => {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      storedBytes += chunk.length;
      if (decoding && !decoder.write(chunk)) await drainedOrClosed(decoder);
    }
    if (decoding) decoder.end();
    return { sha256: hash.digest('hex'), bytes: storedBytes };
  })().then(stored.resolve, (e: unknown) => {
    stopDecoding();
    stored.reject(toBackfillError(e, 'IO_ERROR'));
  });
  const decoded = decoder[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  /** After the end of the archive: the rest of the compressed stream, decoded to its end (or its failure). */
  let rest: Promise<void> = Promise.resolve();
  const drainRest = async (): Promise<void> => {
    for (;;) {
      const next = await readDecoded();
      if (next.done) return;
      decodedBytes += next.value.length;
      const exceeded = exceededLimit(decodedBytes, storedBytes, limits);
      if (exceeded) {
        stopDecoding();
        throw limitError(exceeded, limits);
      }
    }
  };
  const readDecoded = async (): Promise<IteratorResult<Buffer>> => {
    try {
      return await decoded.next();
    } catch (e) {
      if (!decoding) await stored.promise; // a failed input: its own error
      throw decompressionError(e, compression, storedBytes);
    }
  };
  return {
    compression,
    get stored() {
      return stored.promise.then(async (digest) => {
        await rest;
        return digest;
      });
    },
    async nextPiece() {
      if (finished) return undefined;
      const next = await readDecoded();
      if (next.done) {
        finished = true;
        return { chunk: Buffer.alloc(0), events: parser.end(), ownsBuffer: false };
      }
      decodedBytes += next.value.length;
      const exceeded = exceededLimit(decodedBytes, storedBytes, limits);
      if (exceeded) throw limitError(exceeded, limits);
      const events = parser.push(next.value);
      if (events.some((e) => e.type === 'error') || (compression === 'none' && parser.ended)) {
        finished = true;
        stopDecoding();
      } else if (parser.ended) {
        finished = true;
        rest = drainRest();
        rest.catch(() => undefined); // awaited through `stored`; closed early, nobody asks
      }
      // The decoder's output buffers are its own: they may hold the next chunk too.
      return { chunk: next.value, events, ownsBuffer: false };
    },
    close() {
      finished = true;
      stopDecoding();
      stream.destroy();
    },
  };
}
