import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { BackfillError } from '../errors.js';
import type { Compression } from './types.js';

/**
 * Decompression runs on a worker thread for file inputs: zstd and SHA-256 of
 * the stored bytes are the two heaviest steps, and moving them off the main
 * thread lets tar parsing, member hashing and line splitting run alongside
 * them, as `zstd -dc | tar -xO` does with two processes.
 *
 * The worker is plain JavaScript evaluated from a string, so it runs the same
 * from the TypeScript sources (tests, tsx) and from the compiled package.
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { createReadStream } = require('node:fs');
const { createHash } = require('node:crypto');
const zlib = require('node:zlib');
const { path, compression, maxBytes, zstdPath, readBytes, maxInFlight, pieceBytes } = workerData;

const hash = createHash('sha256');
let stored = 0;
let produced = 0;
let credits = maxInFlight;
let failed = false;
const source = createReadStream(path, { highWaterMark: readBytes });
const decoder = compression === 'zstd'
  ? (zlib.createZstdDecompress ? zlib.createZstdDecompress() : new (require(zstdPath).DecompressStream)())
  : compression === 'gzip' ? zlib.createGunzip() : null;
const output = decoder || source;

function fail(stage, error) {
  if (failed) return;
  failed = true;
  parentPort.postMessage({ type: 'error', stage, message: String(error && error.message || error), code: error && error.code, offset: stored });
  source.destroy();
  if (decoder) decoder.destroy();
}

source.on('data', (chunk) => {
  hash.update(chunk);
  stored += chunk.length;
  if (decoder && !decoder.write(chunk)) {
    source.pause();
    decoder.once('drain', () => source.resume());
  }
});
source.on('end', () => { if (decoder) decoder.end(); });
source.on('error', (e) => fail('io', e));
if (decoder) decoder.on('error', (e) => fail('decode', e));

// The stored stream is consumed by 'data' above; decoded bytes leave here.
// zstd emits one large chunk per input chunk (~6 MB for 1 MB in); posting
// pieces of at most pieceBytes keeps the read-ahead small and bounded.
const emit = (chunk) => {
  produced += chunk.length;
  if (produced > maxBytes) return fail('limit', new Error('limit'));
  for (let at = 0; at < chunk.length; at += pieceBytes) {
    // Copy into a buffer we own, so transferring it can't detach a pooled slab.
    const piece = new Uint8Array(Math.min(pieceBytes, chunk.length - at));
    piece.set(chunk.subarray(at, at + piece.length));
    parentPort.postMessage({ type: 'chunk', chunk: piece }, [piece.buffer]);
    credits -= 1;
  }
  if (credits <= 0) (decoder || source).pause();
};
if (decoder) decoder.on('data', emit);
else source.on('data', emit);
(decoder || source).on('end', () => {
  if (!failed) parentPort.postMessage({ type: 'end', sha256: hash.digest('hex'), bytes: stored });
});

parentPort.on('message', (m) => {
  if (m.type === 'ack') {
    credits += m.n;
    if (credits > 0 && !failed) (decoder || source).resume();
  } else if (m.type === 'stop') {
    failed = true;
    source.destroy();
    if (decoder) decoder.destroy();
    parentPort.close();
  }
});
`;

const requireHere = createRequire(import.meta.url);
/** Decoded pieces posted ahead of the reader, and their size: ~2 MiB of read-ahead. */
const MAX_IN_FLIGHT = 16;
const PIECE_BYTES = 256 * 1024;

/** How the stored file was read: its SHA-256 and size. */
export interface StoredDigest {
  readonly sha256: string;
  readonly bytes: number;
}

/** The worker's failure, before it is mapped to an error code. */
export interface DecodeFailure {
  readonly stage: 'io' | 'decode' | 'limit';
  readonly message: string;
  readonly code?: string;
  readonly offset: number;
}

/**
 * Starts a decode worker for `path`. Returns the decoded tar bytes as a
 * Readable (backpressure flows back to the worker through acks) and a
 * promise for the stored file's digest. `toError` maps a worker failure to
 * the error the Readable is destroyed with.
 */
export function startDecodeWorker(
  path: string,
  compression: Compression,
  maxBytes: number,
  readBytes: number,
  toError: (failure: DecodeFailure) => BackfillError,
): { tar: Readable; stored: Promise<StoredDigest>; stop: () => void } {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { path, compression, maxBytes, zstdPath: requireHere.resolve('zstd-napi'), readBytes, maxInFlight: MAX_IN_FLIGHT, pieceBytes: PIECE_BYTES },
  });
  let owed = 0;
  let settled = false;
  let resolveStored!: (d: StoredDigest) => void;
  let rejectStored!: (e: BackfillError) => void;
  const stored = new Promise<StoredDigest>((resolve, reject) => {
    resolveStored = resolve;
    rejectStored = reject;
  });
  stored.catch(() => undefined);
  const tar = new Readable({
    highWaterMark: 1024 * 1024,
    read() {
      if (owed > 0) {
        worker.postMessage({ type: 'ack', n: owed });
        owed = 0;
      }
    },
    destroy(error, callback) {
      stop();
      callback(error);
    },
  });
  const finish = (error?: BackfillError): void => {
    if (settled) return;
    settled = true;
    if (error) {
      rejectStored(error);
      tar.destroy(error);
    }
  };
  worker.on('message', (m: { type: string; chunk?: Uint8Array; sha256?: string; bytes?: number } & Partial<DecodeFailure>) => {
    if (m.type === 'chunk' && m.chunk) {
      const chunk = Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength);
      if (tar.push(chunk)) worker.postMessage({ type: 'ack', n: 1 });
      else owed += 1;
    } else if (m.type === 'end') {
      settled = true;
      resolveStored({ sha256: m.sha256!, bytes: m.bytes! });
      tar.push(null);
    } else if (m.type === 'error') {
      finish(toError(m as DecodeFailure));
    }
  });
  worker.on('error', (e) => finish(toError({ stage: 'io', message: e.message, offset: 0 })));
  function stop(): void {
    if (!settled) finish(new BackfillError('ABORTED', 'reading the dataset was stopped.'));
    worker.postMessage({ type: 'stop' });
    worker.unref();
  }
  return { tar, stored, stop };
}
