import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { MessageChannel, Worker, type Transferable } from 'node:worker_threads';
import { BackfillError } from '../errors.js';
import type { Compression } from './types.js';

/**
 * Decoding runs on two worker threads for file inputs, the way
 * `zstd -dc | tar -xO` spreads its work over two processes: the decode
 * worker reads the file, hashes the stored bytes and decompresses them; the
 * member-hash worker follows the decoded tar blocks and hashes every member's
 * data, then passes each piece on to the main thread, which is left only tar
 * parsing and line splitting. zstd and the two SHA-256 passes are the
 * heaviest steps, and one thread doing all three was what set the pace.
 *
 * To hash members the second worker follows the tar blocks itself (headers,
 * PAX `size` records, GNU long names, padding); it only needs where each
 * regular member's data starts and ends. The main thread still parses the
 * archive fully with tar-stream, matches the worker's digests to its members
 * by order, and checks the byte counts agree.
 *
 * The workers are plain JavaScript evaluated from strings, so they run the
 * same from the TypeScript sources (tests, tsx) and from the compiled package.
 */
const MEMBER_HASH_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { from } = workerData;

// Follows the decoded tar stream block by block and hashes the data of each
// member the main thread treats as a regular file (any type but links,
// devices, directories, FIFOs and the meta headers), posting one digest per
// member in order.
const PAX = 0x78;
const PAX_GLOBAL = 0x67;
const META = new Set([PAX, PAX_GLOBAL, 0x4c, 0x4b]); // 'x', 'g', GNU 'L' and 'K'
const NOT_REGULAR = new Set([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, ...META]);
const walk = { header: Buffer.alloc(512), fill: 0, remaining: 0, padding: 0, kind: 'none', paxParts: [], paxSize: undefined, globalPaxSize: undefined, hash: undefined, bytes: 0 };

function octal(block, at, length) {
  if (block[at] & 0x80) {
    // GNU base-256 (sizes of 8 GiB and more)
    let value = 0;
    for (let i = at + 1; i < at + length; i++) value = value * 256 + block[i];
    return value;
  }
  const text = block.toString('latin1', at, at + length).replace(/[\0 ]+$/, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function paxSize(records) {
  const match = /(?:^|\n)\d+ size=(\d+)\n/.exec(records.toString('utf8'));
  return match ? Number(match[1]) : undefined;
}

function onHeader() {
  const block = walk.header;
  // Like tar-stream, read on past zero blocks: entries may follow them.
  if (block.every((b) => b === 0)) return;
  const type = block[156];
  let size = octal(block, 124, 12);
  if (!NOT_REGULAR.has(type)) {
    if (walk.paxSize !== undefined) size = walk.paxSize;
    walk.kind = 'file';
    walk.hash = createHash('sha256');
    walk.bytes = 0;
  } else {
    walk.kind = type === PAX ? 'pax' : type === PAX_GLOBAL ? 'pax-global' : 'skip';
    walk.paxParts = [];
  }
  // A PAX size applies to the next real entry; long-name and global headers sit in between.
  if (!META.has(type)) walk.paxSize = undefined;
  walk.remaining = size;
  walk.padding = (512 - (size % 512)) % 512;
  if (size === 0) endData();
}

function endData() {
  if (walk.kind === 'file') {
    parentPort.postMessage({ type: 'member', sha256: walk.hash.digest('hex'), bytes: walk.bytes });
    walk.hash = undefined;
  } else if (walk.kind === 'pax') {
    // As tar-stream does: a global size counts only where an entry has a PAX header of its own.
    walk.paxSize = paxSize(Buffer.concat(walk.paxParts)) ?? walk.globalPaxSize;
  } else if (walk.kind === 'pax-global') {
    walk.globalPaxSize = paxSize(Buffer.concat(walk.paxParts));
  }
  walk.kind = 'none';
}

function walkTar(chunk) {
  let at = 0;
  while (at < chunk.length) {
    if (walk.remaining > 0) {
      const n = Math.min(walk.remaining, chunk.length - at);
      const data = chunk.subarray(at, at + n);
      if (walk.kind === 'file') { walk.hash.update(data); walk.bytes += n; }
      else if (walk.kind === 'pax' || walk.kind === 'pax-global') walk.paxParts.push(Buffer.from(data));
      at += n;
      walk.remaining -= n;
      if (walk.remaining === 0) endData();
    } else if (walk.padding > 0) {
      const n = Math.min(walk.padding, chunk.length - at);
      at += n;
      walk.padding -= n;
    } else {
      const n = Math.min(512 - walk.fill, chunk.length - at);
      chunk.copy(walk.header, walk.fill, at, at + n);
      walk.fill += n;
      at += n;
      if (walk.fill === 512) { walk.fill = 0; onHeader(); }
    }
  }
}

// Everything the decode worker sends passes through here, in order, so the
// main thread gets a member's digest right after the piece holding its end.
from.on('message', (m) => {
  if (m.type === 'chunk') {
    walkTar(Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength));
    parentPort.postMessage(m, [m.chunk.buffer]);
  } else {
    parentPort.postMessage(m);
  }
});
parentPort.on('message', (m) => {
  if (m.type === 'stop') {
    from.close();
    parentPort.close();
  }
});
`;

const DECODE_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { open, read, close } = require('node:fs');
const { createHash } = require('node:crypto');
const zlib = require('node:zlib');
const { path, compression, maxBytes, zstdBindingPath, readBytes, maxInFlight, pieceBytes, out } = workerData;

const hash = createHash('sha256');
let stored = 0;

let produced = 0;
let credits = maxInFlight;
let failed = false;
// zstd-napi's context decodes straight into the pieces that are posted (no
// intermediate chunks, no copy); a node:zlib stream (gzip, and zstd where
// Node has it) emits chunks of its own, which are copied into pieces.
const dctx = compression === 'zstd' && !zlib.createZstdDecompress ? new (require(zstdBindingPath).DCtx)() : undefined;
const decoder = dctx ? undefined
  : compression === 'zstd' ? zlib.createZstdDecompress()
  : compression === 'gzip' ? zlib.createGunzip() : undefined;
let inFrame = false;

// The file is read into one reused buffer: fresh buffers per read left
// garbage that this thread collected late, and peak RSS grew with the input.
const input = Buffer.allocUnsafe(readBytes);
let fd;
let reading = false;
let sourceEnded = false;
let waitingDrain = false;

// Closed only between reads, so a read in flight can't land on a reused descriptor.
function closeFile() {
  if (reading || fd === undefined) return;
  close(fd, () => {});
  fd = undefined;
}

function fail(stage, error) {
  if (failed) return;
  failed = true;
  out.postMessage({ type: 'error', stage, message: String(error && error.message || error), code: error && error.code, offset: stored });
  closeFile();
  if (decoder) decoder.destroy();
}

// Decoded bytes leave in pieces of pieceBytes, each a buffer of its own that
// is transferred, not copied; at most maxInFlight wait unread on the main thread.
let piece = new Uint8Array(pieceBytes);
let fill = 0;
function flushPiece() {
  if (fill === 0 || failed) return;
  const full = fill === piece.length ? piece : piece.slice(0, fill);
  produced += fill;
  if (produced > maxBytes) return fail('limit', new Error('limit'));
  out.postMessage({ type: 'chunk', chunk: full }, [full.buffer]);
  piece = new Uint8Array(pieceBytes);
  fill = 0;
  credits -= 1;
  if (credits <= 0 && decoder) decoder.pause();
}
function copyIn(chunk) {
  for (let at = 0; at < chunk.length && !failed; ) {
    const n = Math.min(piece.length - fill, chunk.length - at);
    piece.set(chunk.subarray(at, at + n), fill);
    fill += n;
    at += n;
    if (fill === piece.length) flushPiece();
  }
}
// One read of zstd can inflate without bound (a bomb); when the main thread
// stops taking pieces, the rest of the input waits here until it acks.
let pendingSrc;
function decodeIn(chunk) {
  let src = chunk;
  for (;;) {
    let result;
    try {
      result = dctx.decompressStream(piece.subarray(fill), src);
    } catch (e) {
      return fail('decode', e);
    }
    const [ret, out, consumed] = result;
    const room = piece.length - fill;
    fill += out;
    src = src.subarray(consumed);
    inFrame = ret !== 0;
    if (fill === piece.length) flushPiece();
    if (failed) return;
    // Done with this input once it is used up and the context holds no more output.
    if (src.length === 0 && (out < room || ret === 0)) return;
    if (credits <= 0) {
      pendingSrc = src;
      return;
    }
  }
}

function finish() {
  if (failed) return;
  if (dctx && inFrame) return fail('decode', new Error('zstd stream ended in the middle of a frame'));
  flushPiece();
  closeFile();
  if (!failed) out.postMessage({ type: 'end', sha256: hash.digest('hex'), bytes: stored });
}

// One read in flight at a time; the next starts once this one's bytes are
// decoded (so the input buffer is free again) and the main thread has room.
function readMore() {
  if (reading || failed || sourceEnded || waitingDrain || pendingSrc || fd === undefined) return;
  if (!decoder && credits <= 0) return;
  reading = true;
  read(fd, input, 0, input.length, null, (e, n) => {
    reading = false;
    if (failed) return closeFile();
    if (e) return fail('io', e);
    if (n === 0) {
      sourceEnded = true;
      if (decoder) decoder.end();
      else finish();
      return;
    }
    const chunk = input.subarray(0, n);
    hash.update(chunk);
    stored += n;
    if (dctx) decodeIn(chunk);
    else if (!decoder) copyIn(chunk);
    // zlib keeps what it is given until it gets to it, so it gets a copy.
    else if (!decoder.write(Buffer.from(chunk))) {
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
  decoder.on('error', (e) => fail('decode', e));
  decoder.on('end', finish);
}
open(path, 'r', (e, opened) => {
  if (e) return fail('io', e);
  fd = opened;
  readMore();
});

parentPort.on('message', (m) => {
  if (m.type === 'ack') {
    credits += m.n;
    if (failed || credits <= 0) return;
    if (pendingSrc) {
      const src = pendingSrc;
      pendingSrc = undefined;
      decodeIn(src);
    }
    if (decoder) decoder.resume();
    readMore();
  } else if (m.type === 'stop') {
    failed = true;
    closeFile();
    if (decoder) decoder.destroy();
    out.close();
    parentPort.close();
  }
});
`;

const requireHere = createRequire(import.meta.url);
/**
 * Decoded pieces posted ahead of the reader, and their size: 4 MiB of
 * read-ahead. Each piece costs three messages (decode worker, member-hash
 * worker, ack); 512 KiB pieces ran ~10% faster than 256 KiB ones at the same
 * peak RSS, while 1 MiB pieces added ~25 MiB of RSS for little more.
 */
const MAX_IN_FLIGHT = 8;
const PIECE_BYTES = 512 * 1024;

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

function startWorker(source: string, workerData: Record<string, unknown>, transferList: Transferable[]): Worker {
  return new Worker(source, {
    eval: true,
    // No inherited flags: `node --input-type=module -e …` would make this CommonJS source an ES module.
    execArgv: [],
    workerData,
    transferList,
  });
}

/**
 * Starts the decode and member-hash workers for `path`. Returns the decoded
 * tar bytes as a Readable (backpressure flows back to the decode worker
 * through acks), a promise for the stored file's digest, and
 * `memberDigest(i)`, the digest of the i-th regular member's data. `toError`
 * maps a worker failure to the error the Readable is destroyed with.
 */
export function startDecodeWorker(
  path: string,
  compression: Compression,
  maxBytes: number,
  readBytes: number,
  toError: (failure: DecodeFailure) => BackfillError,
): { tar: Readable; stored: Promise<StoredDigest>; memberDigest: (index: number) => Promise<StoredDigest>; stop: () => void } {
  // The decode worker talks to the member-hash worker over its own channel;
  // acks and stops come straight from here.
  const { port1: out, port2: from } = new MessageChannel();
  const worker = startWorker(DECODE_SOURCE, { path, compression, maxBytes, zstdBindingPath: requireHere.resolve('zstd-napi/binding'), readBytes, maxInFlight: MAX_IN_FLIGHT, pieceBytes: PIECE_BYTES, out }, [out]);
  const hasher = startWorker(MEMBER_HASH_SOURCE, { from }, [from]);
  let owed = 0;
  let settled = false;
  let resolveStored!: (d: StoredDigest) => void;
  let rejectStored!: (e: BackfillError) => void;
  const stored = new Promise<StoredDigest>((resolve, reject) => {
    resolveStored = resolve;
    rejectStored = reject;
  });
  stored.catch(() => undefined);
  // Digests arrive right after the chunk holding a member's last byte, so
  // usually before the main thread has parsed that far; a waiter covers the rest.
  const digests: StoredDigest[] = [];
  const waiters = new Map<number, (d: StoredDigest) => void>();
  const memberDigest = (index: number): Promise<StoredDigest> => {
    const known = digests[index];
    if (known) return Promise.resolve(known);
    return Promise.race([new Promise<StoredDigest>((resolve) => waiters.set(index, resolve)), stored.then(() => missingDigest(index))]);
  };
  const missingDigest = (index: number): StoredDigest => {
    const known = digests[index];
    if (known) return known;
    throw new BackfillError('TAR_CORRUPT', `the archive's member ${index + 1} has no end the decoder could follow; the tar is malformed.`);
  };
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
  // Mapped only while unsettled: `toError` records the reader's failure.
  const fail = (failure: DecodeFailure): void => {
    if (!settled) finish(toError(failure));
  };
  hasher.on('message', (m: { type: string; chunk?: Uint8Array; sha256?: string; bytes?: number } & Partial<DecodeFailure>) => {
    if (m.type === 'chunk' && m.chunk) {
      const chunk = Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength);
      if (tar.push(chunk)) worker.postMessage({ type: 'ack', n: 1 });
      else owed += 1;
    } else if (m.type === 'member') {
      const digest = { sha256: m.sha256!, bytes: m.bytes! };
      digests.push(digest);
      waiters.get(digests.length - 1)?.(digest);
      waiters.delete(digests.length - 1);
    } else if (m.type === 'end') {
      settled = true;
      resolveStored({ sha256: m.sha256!, bytes: m.bytes! });
      tar.push(null);
    } else if (m.type === 'error') {
      fail(m as DecodeFailure);
    }
  });
  for (const w of [worker, hasher]) {
    w.on('error', (e) => fail({ stage: 'io', message: e.message, offset: 0 }));
    // A worker that ends before the archive does would leave the reader waiting for pieces forever.
    w.on('exit', (code) => fail({ stage: 'io', message: `a decode worker thread exited (code ${code}) before the end of the archive`, offset: 0 }));
  }
  function stop(): void {
    if (!settled) finish(new BackfillError('ABORTED', 'reading the dataset was stopped.'));
    for (const w of [worker, hasher]) {
      w.postMessage({ type: 'stop' });
      w.unref();
    }
  }
  return { tar, stored, memberDigest, stop };
}
