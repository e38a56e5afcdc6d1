/**
 * The decode thread (see decode-threads.ts): reads the file, hashes the stored
 * bytes and decompresses them, then posts the tar bytes in pieces to the
 * parse thread. Once the parse thread reports the end of the archive it stops
 * decompressing and only reads and hashes the rest of the file.
 *
 * Worker module: it imports `node:` builtins and, with `.ts` specifiers that
 * the build rewrites, modules that do the same, so Node can run it from the
 * TypeScript sources as well as from the compiled package.
 */
import { createHash } from 'node:crypto';
import { close, open, read } from 'node:fs';
import type { Duplex } from 'node:stream';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import zlib from 'node:zlib';
import { exceededLimit } from '../_internals/decode-limits.ts';
import { ZstdDecompress } from '../_internals/zstd-frames.ts';
import type { DecodeFailure, DecodeThreadData, ToParseThread } from './decode-messages.ts';

const { path, compression, limits, readBytes, maxInFlight, pieceBytes, toParser } = workerData as DecodeThreadData & {
  toParser: MessagePort;
};
const port = parentPort!;

const hash = createHash('sha256');
let stored = 0;
let produced = 0;
let credits = maxInFlight;
let failed = false;
/** False once the tar has ended: the rest of the file is only hashed. */
let decoding = true;
const decoder: Duplex | undefined =
  compression === 'zstd' ? new ZstdDecompress() : compression === 'gzip' ? zlib.createGunzip({ chunkSize: 128 * 1024 }) : undefined;

// The file is read into one reused buffer: fresh buffers per read left
// garbage that this thread collected late, and peak RSS grew with the input.
const input = Buffer.allocUnsafe(readBytes);
let fd: number | undefined;
let reading = false;
let sourceEnded = false;
let waitingDrain = false;

function send(message: ToParseThread, transfer: ArrayBuffer[] = []): void {
  toParser.postMessage(message, transfer);
}

// Closed only between reads, so a read in flight can't land on a reused descriptor.
function closeFile(): void {
  if (reading || fd === undefined) return;
  close(fd, () => undefined);
  fd = undefined;
}

function fail(stage: DecodeFailure['stage'], error: unknown): void {
  if (failed) return;
  failed = true;
  const { message, code } = error instanceof Error ? (error as Error & { code?: string }) : { message: String(error), code: undefined };
  send({ type: 'error', failure: { stage, message, offset: stored, ...(typeof code === 'string' ? { code } : {}) } });
  closeFile();
  decoder?.destroy();
}

// Decoded bytes leave in pieces of pieceBytes, each a buffer of its own that
// is transferred, not copied; at most maxInFlight wait unread further on.
let piece = new Uint8Array(pieceBytes);
let fill = 0;
function flushPiece(): void {
  if (fill === 0 || failed || !decoding) return;
  const full = fill === piece.length ? piece : piece.slice(0, fill);
  send({ type: 'chunk', chunk: full }, [full.buffer as ArrayBuffer]);
  piece = new Uint8Array(pieceBytes);
  fill = 0;
  credits -= 1;
  if (credits <= 0) decoder?.pause();
}

function copyIn(chunk: Buffer): void {
  produced += chunk.length;
  const exceeded = exceededLimit(produced, stored, limits);
  if (exceeded) return void fail('limit', new Error(exceeded));
  for (let at = 0; at < chunk.length && !failed && decoding; ) {
    const n = Math.min(piece.length - fill, chunk.length - at);
    piece.set(chunk.subarray(at, at + n), fill);
    fill += n;
    at += n;
    if (fill === piece.length) flushPiece();
  }
  releaseDecoderBuffer(chunk);
}

/**
 * The decoder writes into fresh buffers; once a chunk reaches the end of its
 * buffer the decoder has moved on to a new one, and the chunk is copied, so
 * its memory is freed now rather than when this thread next collects
 * garbage (this thread allocates little else, so that came late: ~40 MiB
 * more peak RSS). Never the file's read buffer, which is reused.
 */
function releaseDecoderBuffer(chunk: Buffer): void {
  if (decoder && chunk.byteOffset + chunk.byteLength === chunk.buffer.byteLength) {
    (chunk.buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
  }
}

function finish(): void {
  if (failed) return;
  flushPiece();
  closeFile();
  send({ type: 'end', sha256: hash.digest('hex'), bytes: stored });
}

/** The archive has ended: stop decompressing, keep hashing what is left of the file. */
function stopDecoding(): void {
  if (!decoding) return;
  decoding = false;
  waitingDrain = false;
  decoder?.destroy();
  readMore();
}

// One read in flight at a time; the next starts once this one's bytes are
// handed on (so the input buffer is free again) and the reader has room.
function readMore(): void {
  if (reading || failed || sourceEnded || waitingDrain || fd === undefined) return;
  if (decoding && credits <= 0) return;
  reading = true;
  read(fd, input, 0, input.length, null, (error, n) => {
    reading = false;
    if (failed) return closeFile();
    if (error) return fail('io', error);
    if (n === 0) {
      sourceEnded = true;
      if (decoding && decoder) decoder.end();
      else finish();
      return;
    }
    const chunk = input.subarray(0, n);
    hash.update(chunk);
    stored += n;
    if (!decoding) {
      // only hashed
    } else if (!decoder) {
      copyIn(chunk);
    } else if (!decoder.write(Buffer.from(chunk))) {
      // The decoder keeps what it is given until it gets to it, so it gets a copy.
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

open(path, 'r', (error, opened) => {
  if (error) return fail('io', error);
  fd = opened;
  readMore();
});

toParser.on('message', (m: { type: 'tar-end' }) => {
  if (m.type === 'tar-end') stopDecoding();
});

port.on('message', (m: { type: 'ack'; n: number } | { type: 'stop' }) => {
  if (m.type === 'ack') {
    credits += m.n;
    if (failed || credits <= 0) return;
    decoder?.resume();
    readMore();
  } else {
    failed = true;
    closeFile();
    decoder?.destroy();
    toParser.close();
    port.close();
  }
});
