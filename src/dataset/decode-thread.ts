/**
 * The decode thread (see openFile in decoded-input.ts): reads the file,
 * hashes the stored bytes and decompresses them (node:zlib decodes on libuv's
 * thread pool, two zstd frames at a time, so this thread is free meanwhile),
 * runs the reader's tar parser over the decoded pieces, hashing each member's
 * data (unless the reader turned member digests off), and posts every piece with what the parser found in it to the main
 * thread. Once the archive ends, the rest of a compressed file is still
 * decompressed (and the output dropped) to its end, so that a gzip CRC or
 * zstd checksum that does not match, a stream cut short or bytes appended
 * after it fail the read as `gzip -t` and `zstd -t` fail them; the rest of a
 * plain tar is only hashed.
 *
 * Worker module: it imports `node:` builtins and, with `.ts` specifiers that
 * the build rewrites, modules that do the same, so Node can run it from the
 * TypeScript sources as well as from the compiled package.
 */
import { createHash } from 'node:crypto';
import { read } from 'node:fs';
import type { Duplex } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { exceededLimit } from '../_internals/decode-limits.ts';
import { createCheckedGunzip } from '../_internals/gunzip-checked.ts';
import { ZstdDecompress, ownsBuffer } from '../_internals/zstd-frames.ts';
import type { DecodeFailure, DecodeThreadData, FromDecodeThread } from './decode-messages.ts';
import { TarParser, type TarEvent } from './tar-parser.ts';

const { fd, compression, limits, readBytes, maxInFlightBytes, pieceBytes, hashMembers } = workerData as DecodeThreadData;
const port = parentPort!;
const parser = new TarParser({ hashMembers });

const hash = createHash('sha256');
let stored = 0;
let produced = 0;
/** Bytes that may still be posted before the reader takes some. */
let credits = maxInFlightBytes;
let failed = false;
/** False once the tar has ended or was refused: nothing more is parsed or posted. */
let parsing = true;
/** False once nothing more is decompressed: the rest of the file is only hashed (a plain tar after its end, a refused archive). */
let decoding = true;

// The file is read into reused buffers: fresh buffers per read left garbage
// that this thread collected late, and peak RSS grew with the input (~30 MiB
// more at 4× the input). Plain tar, and the rest of a file after the end of
// the archive, use one buffer, done with as soon as it is handed on. zstd
// keeps what it is given until it has decoded it, so it reads into buffers
// of a small pool that return once decoded (ZstdDecompress's onInputDone);
// gzip gets a copy of each read.
const input = Buffer.allocUnsafe(readBytes);
/** Read buffers waiting for zstd input, at most {@link READ_BUFFERS}: 2 MiB ahead of the decoders. */
const readBuffers: ArrayBuffer[] = [];
const READ_BUFFERS = 16;
let readBuffersMade = 0;

/** Where the next read lands: a pool buffer for zstd (undefined when all are with the decoder), else the one input buffer. */
function readTarget(): Buffer | undefined {
  if (!decoding || compression !== 'zstd') return input;
  if (readBuffers.length === 0 && readBuffersMade < READ_BUFFERS) {
    readBuffersMade += 1;
    return Buffer.allocUnsafeSlow(readBytes);
  }
  const buffer = readBuffers.pop();
  return buffer && Buffer.from(buffer);
}

const decoder: Duplex | undefined =
  compression === 'zstd'
    ? new ZstdDecompress({
        onInputDone: (chunk) => {
          readBuffers.push(chunk.buffer as ArrayBuffer);
          readMore();
        },
      })
    : compression === 'gzip'
      ? createCheckedGunzip(128 * 1024)
      : undefined;

let reading = false;
let sourceEnded = false;
let waitingDrain = false;

function send(message: FromDecodeThread, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function fail(stage: DecodeFailure['stage'], error: unknown): void {
  if (failed) return;
  failed = true;
  const { message, code } = error instanceof Error ? (error as Error & { code?: string }) : { message: String(error), code: undefined };
  send({ type: 'error', failure: { stage, message, offset: stored, ...(typeof code === 'string' ? { code } : {}) } });
  decoder?.destroy();
}

// Decoded bytes leave in pieces, each a buffer of its own that is
// transferred, not copied: a whole zstd frame's output as it is (writeDataset's
// frames hold 4 MiB of tar), anything else copied into pieces of pieceBytes.
// At most maxInFlightBytes wait unread further on.
let piece = new Uint8Array(pieceBytes);
let fill = 0;
function flushPiece(): void {
  if (fill === 0 || failed || !parsing) return;
  const full = fill === piece.length ? piece : piece.slice(0, fill);
  piece = new Uint8Array(pieceBytes);
  fill = 0;
  postPiece(full);
}

/** Posts a piece and what the parser found in it; after the archive's end (or a refusal) nothing more is decoded. */
function postPiece(chunk: Uint8Array): void {
  credits -= chunk.byteLength; // before posting: the transfer empties `chunk`
  if (credits <= 0) decoder?.pause();
  post(chunk, parser.push(chunk));
}

function post(chunk: Uint8Array, events: readonly TarEvent[]): void {
  send({ type: 'piece', chunk, events }, [chunk.buffer as ArrayBuffer]);
  if (events.some((e) => e.type === 'error')) stopDecoding();
  else if (events.some((e) => e.type === 'end')) archiveEnded();
}

function copyIn(chunk: Buffer): void {
  produced += chunk.length;
  const exceeded = exceededLimit(produced, stored, limits);
  if (exceeded) {
    fail('limit', new Error(exceeded));
    return;
  }
  if (!parsing) {
    // After the end of the archive: decoded only to check the stream to its end, then dropped.
    if (!ownsBuffer(chunk)) releaseDecoderBuffer(chunk);
    return;
  }
  if (ownsBuffer(chunk)) {
    flushPiece();
    if (!failed && parsing) postPiece(chunk);
    return;
  }
  for (let at = 0; at < chunk.length && !failed && parsing; ) {
    const n = Math.min(piece.length - fill, chunk.length - at);
    piece.set(chunk.subarray(at, at + n), fill);
    fill += n;
    at += n;
    if (fill === piece.length) flushPiece();
  }
  releaseDecoderBuffer(chunk);
}

/**
 * The decoder writes into fresh buffers, and every chunk is copied as it
 * arrives, so a buffer's memory is freed as soon as the decoder is done with
 * it rather than when this thread next collects garbage (it allocates little
 * else, so that came late: ~40 MiB more peak RSS). The decoder is done with a
 * buffer once a chunk reaches its end, or once a chunk arrives in another
 * buffer (the last, partly filled buffer of each zstd frame: files of many
 * frames left one per frame waiting). Never the file's read buffer, which is
 * reused.
 */
let lastBuffer: ArrayBuffer | undefined;
function releaseDecoderBuffer(chunk: Buffer): void {
  if (!decoder) return;
  const buffer = chunk.buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer };
  if (lastBuffer !== undefined && lastBuffer !== buffer) free(lastBuffer);
  lastBuffer = buffer;
  if (chunk.byteOffset + chunk.byteLength === buffer.byteLength) free(buffer);
}

function free(buffer: ArrayBuffer): void {
  if (buffer.byteLength > 0) (buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
  if (buffer === lastBuffer) lastBuffer = undefined;
}

let finished = false;
/** Posts what is left and the stored digest, once: the last piece may end the archive, which finishes too. */
function finish(): void {
  if (failed || finished) return;
  finished = true;
  flushPiece();
  if (parsing) post(new Uint8Array(0), parser.end());
  if (failed) return;
  send({ type: 'end', sha256: hash.digest('hex'), bytes: stored });
}

/**
 * The archive has ended. A compressed file is still decompressed to its end
 * (nothing more is posted): its checksums and what follows its last frame or
 * member are checked as `gzip -t` and `zstd -t` check them. The rest of a
 * plain tar is only hashed, as GNU tar ignores it.
 */
function archiveEnded(): void {
  if (!parsing) return;
  parsing = false;
  fill = 0;
  if (!decoder) {
    stopDecoding();
    return;
  }
  // Paused while the reader had no room: nothing is posted any more, so nothing waits for it.
  decoder.resume();
  readMore();
}

/** The archive was refused (or has ended, for a plain tar): stop decompressing, keep hashing what is left of the file (if it has all been read, that is the end). */
function stopDecoding(): void {
  parsing = false;
  if (!decoding) return;
  decoding = false;
  waitingDrain = false;
  decoder?.destroy();
  if (sourceEnded) finish();
  else readMore();
}

// One read in flight at a time, at the offset read up to (the descriptor is
// the main thread's: its file position is not relied on); the next starts
// once this one's bytes are handed on (so the input buffer is free again) and
// the reader has room.
function readMore(): void {
  if (reading || failed || sourceEnded || waitingDrain) return;
  if (parsing && credits <= 0) return;
  const target = readTarget();
  if (!target) return; // the decoders still hold every read buffer; one returning reads on
  reading = true;
  read(fd, target, 0, target.length, stored, (error, n) => {
    reading = false;
    if (failed) return;
    if (error) return fail('io', error);
    if (n === 0) {
      sourceEnded = true;
      if (decoding && decoder) decoder.end();
      else finish();
      return;
    }
    const chunk = target.subarray(0, n);
    hash.update(chunk);
    stored += n;
    if (!decoding) {
      // only hashed
    } else if (!decoder) {
      copyIn(chunk);
    } else if (!decoder.write(compression === 'zstd' ? chunk : Buffer.from(chunk))) {
      waitingDrain = true;
      decoder.once('drain', () => {
        waitingDrain = false;
        readMore();
      });
    }
    readMore();
  });
}

if (decoder) {
  decoder.on('data', copyIn);
  decoder.on('error', (error) => {
    if (decoding) fail('decode', error);
  });
  decoder.on('end', () => {
    if (decoding) finish();
  });
}

readMore();

port.on('message', (m: { type: 'ack'; bytes: number } | { type: 'stop' }) => {
  if (m.type === 'ack') {
    credits += m.bytes;
    if (failed || (parsing && credits <= 0)) return;
    decoder?.resume();
    readMore();
  } else {
    failed = true;
    decoder?.destroy();
    port.close();
  }
});
