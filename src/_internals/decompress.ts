import { PassThrough, Readable, Transform, type Duplex, type TransformCallback } from 'node:stream';
import { BackfillError } from '../errors.js';
import type { DecodeLimits } from './decode-limits.js';
import { BLOCK, checksumMatches } from './tar-header.js';
import { createCheckedGunzip } from './gunzip-checked.js';
import { ZstdDecompress, startsLikeZstd, startsWithZstd } from './zstd-frames.js';

/** Compression of a dataset archive, detected from magic bytes. */
export type Compression = 'zstd' | 'gzip' | 'none';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/** Bytes needed to see the `ustar` magic of a tar header (offset 257). */
const USTAR_MAGIC_END = 262;
/** Bytes sniffed: a whole tar header, whose checksum tells a v7 header (which has no magic). */
export const SNIFF_BYTES = BLOCK;

/**
 * Detects the container from magic bytes (never from the file name), zstd
 * also behind leading skippable frames (as pzstd writes). A plain tar starts
 * with a ustar/GNU header, a v7 header (no magic: its checksum matches, which
 * is how GNU tar tells one), or zero bytes when it is empty (`tar -cf x.tar
 * -T /dev/null` writes only the end-of-archive blocks). Returns `undefined`
 * for anything else.
 */
export function detectCompression(head: Buffer): Compression | undefined {
  if (startsWithZstd(head)) return 'zstd';
  if (head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  if (head.length < USTAR_MAGIC_END) return undefined;
  if (head.subarray(257, 262).toString('latin1') === 'ustar' || head.subarray(0, USTAR_MAGIC_END).every((b) => b === 0)) return 'none';
  if (head.length >= BLOCK && checksumMatches(head.subarray(0, BLOCK))) return 'none';
  return undefined;
}

/**
 * The compressed stream `head` also starts, when its first block is a tar
 * header as well (its checksum matches): `'zstd'` for a zstd or skippable
 * frame's magic, `'gzip'` for gzip's. GNU tar (`tar -xf`, which prefers a
 * plain tar when the first block looks like one) reads such a file as the
 * tar those headers make, while `zstd -dc`, `gunzip` and `tar --zstd` read
 * the archive compressed inside it: two archives in one file, whichever the
 * reader picked.
 */
export function tarAndCompressed(head: Buffer): 'zstd' | 'gzip' | undefined {
  if (head.length < BLOCK || !checksumMatches(head.subarray(0, BLOCK))) return undefined;
  if (startsLikeZstd(head)) return 'zstd';
  if (head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  return undefined;
}

/**
 * The decoder for `compression`: zstd and gzip of any number of frames or
 * members; plain tar passes through. With `streamEveryFrame`, zstd frames
 * are decoded as their bytes come, for a reader that stops early.
 */
export function decoderFor(compression: Compression, streamEveryFrame = false): Duplex {
  if (compression === 'zstd') return new ZstdDecompress({ streamEveryFrame });
  if (compression === 'gzip') return createCheckedGunzip(128 * 1024);
  return new PassThrough();
}

/** The error for decoded output past a {@link DecodeLimits} limit. */
export function limitError(which: 'bytes' | 'ratio', limits: DecodeLimits): BackfillError {
  const message =
    which === 'bytes'
      ? `decompressed output passed the limit of ${limits.maxBytes} bytes (possible decompression bomb); raise maxDecompressedBytes if the dataset really is this large.`
      : `decompressed output grew past ${limits.maxRatio} times the compressed bytes read (possible decompression bomb); raise maxCompressionRatio if the dataset really compresses this well.`;
  return new BackfillError('SIZE_LIMIT_EXCEEDED', message, { context: { limit: which } });
}

/** Counts decompressed bytes and fails once they pass `limit` (bomb guard). */
class SizeLimit extends Transform {
  #seen = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.limit) {
      callback(limitError('bytes', { maxBytes: this.limit, maxRatio: Infinity }));
      return;
    }
    callback(null, chunk);
  }
}

/** Maps a decoder's failure onto a coded error that says which. */
export function decompressionError(error: unknown, compression: Compression, compressedOffset: number): BackfillError {
  if (error instanceof BackfillError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const truncated =
    /unexpected end|end of (file|stream)|ended in (the )?middle|truncated|incomplete/i.test(message) ||
    (error as { code?: string }).code === 'Z_BUF_ERROR';
  return new BackfillError(
    truncated ? 'COMPRESSION_TRUNCATED' : 'COMPRESSION_CORRUPT',
    `${compression} stream ${truncated ? 'ends early' : 'is corrupt'} near compressed byte ${compressedOffset}: ${message}`,
    { cause: error, context: { offset: compressedOffset } },
  );
}

/**
 * The transforms that turn stored bytes into tar bytes: the decoder for the
 * detected compression (none for plain tar) and a size-limit guard.
 */
export function decodingStages(compression: Compression, maxDecompressedBytes: number, streamEveryFrame = false): Duplex[] {
  return [decoderFor(compression, streamEveryFrame), new SizeLimit(maxDecompressedBytes)];
}

/**
 * Reads the first {@link SNIFF_BYTES} bytes of `source` (fewer if it is
 * shorter) and returns them with a stream that replays them followed by the
 * rest, so the caller still reads from byte 0. Destroying that stream
 * destroys `source`.
 */
export async function sniff(source: Readable): Promise<{ head: Buffer; stream: Readable }> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const parts: Buffer[] = [];
  let length = 0;
  let finished = false;
  while (length < SNIFF_BYTES) {
    const next = await it.next();
    if (next.done) {
      finished = true;
      break;
    }
    parts.push(next.value);
    length += next.value.length;
  }
  const head = Buffer.concat(parts, length);
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      while (!finished) {
        const next = await it.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await it.return?.();
    }
  }
  return { head, stream: Readable.from(replay(), { objectMode: false, highWaterMark: 1 }) };
}
