import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

/** Uncompressed bytes per zstd frame written by {@link ZstdFrameCompress}: 4 MiB (level 3's window is 2 MiB, so little ratio is lost). */
export const ZSTD_FRAME_BYTES = 4 * 1024 * 1024;
/** Frames compressed at once on libuv's thread pool. */
const FRAMES_IN_FLIGHT = 2;

/**
 * zstd compression as a sequence of independent frames of `frameBytes`
 * uncompressed bytes each (the last may be shorter), every one compressed
 * in one shot. Two reasons:
 * - The output depends only on the bytes, the level and the frame size.
 *   node:zlib's streaming zstd compressor does not promise that: how input
 *   pieces arrive, and whether the last one comes with the end of the
 *   stream, changes block boundaries, so two runs of the same write could
 *   differ by timing alone.
 * - Frames compress on two threads, and a reader can decode them apart.
 *
 * `zstd -d`, `tar --zstd` and every conforming decoder read concatenated
 * frames as one stream. Each frame records its content size (so a reader can
 * decode it in one call into a buffer of that size) and a checksum.
 */
export class ZstdFrameCompress extends Transform {
  readonly #params: Record<number, number>;
  readonly #frameBytes: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #framesStarted = 0;
  /** Frames being compressed, oldest first; their output goes out in this order. */
  readonly #inFlight: Promise<Buffer>[] = [];

  constructor(level: number, frameBytes = ZSTD_FRAME_BYTES) {
    super();
    this.#params = { [zlib.constants.ZSTD_c_compressionLevel]: level, [zlib.constants.ZSTD_c_checksumFlag]: 1 };
    this.#frameBytes = frameBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    while (this.#pendingBytes >= this.#frameBytes) this.#startFrame(this.#take(this.#frameBytes));
    this.#drain(FRAMES_IN_FLIGHT - 1).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    // An empty input still gets one (empty) frame: zero bytes are not a zstd stream.
    if (this.#pendingBytes > 0 || this.#framesStarted === 0) this.#startFrame(this.#take(this.#pendingBytes));
    this.#drain(0).then(() => callback(), callback);
  }

  /** The first `n` pending bytes as one buffer. */
  #take(n: number): Buffer {
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = n < all.length ? [all.subarray(n)] : [];
    this.#pendingBytes = all.length - n;
    return all.subarray(0, n);
  }

  #startFrame(bytes: Buffer): void {
    this.#framesStarted += 1;
    const frame = new Promise<Buffer>((resolve, reject) =>
      zlib.zstdCompress(bytes, { params: this.#params, pledgedSrcSize: bytes.length }, (error, out) =>
        error ? reject(error) : resolve(out),
      ),
    );
    // Awaited in #drain; until then a failure must not count as unhandled.
    frame.catch(() => undefined);
    this.#inFlight.push(frame);
  }

  /** Pushes finished frames, in order, until at most `keep` are still compressing. */
  async #drain(keep: number): Promise<void> {
    while (this.#inFlight.length > keep) this.push(await this.#inFlight.shift()!);
  }
}
