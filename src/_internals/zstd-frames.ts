import { Duplex } from 'node:stream';
import zlib from 'node:zlib';

/**
 * zstd through `node:zlib` (Node >= 22.15), for files of any number of
 * frames. Node's zstd decoder stops at the end of the first frame (it treats
 * the frame's end as the stream's end), while `zstd -d` and `pzstd` output
 * hold many frames, optionally behind skippable frames. So the compressed
 * bytes are walked frame by frame here (only frame and block headers are
 * read), each frame goes to a fresh decoder, and skippable frames are
 * dropped. This module imports only `node:` builtins, so a worker thread can
 * load it from the TypeScript sources.
 */

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames have magic 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** Output chunk size of each frame's decoder: node:zlib's 16 KiB default costs a callback per 16 KiB. */
const DECODER_CHUNK_BYTES = 128 * 1024;

/**
 * True when `head` starts with a zstd frame, possibly behind skippable frames
 * that fit in `head` (pzstd writes a 12-byte one first).
 */
export function startsWithZstd(head: Buffer): boolean {
  for (let at = 0; at + 4 <= head.length; ) {
    const magic = head.readUInt32LE(at);
    if (magic === ZSTD_MAGIC) return true;
    if ((magic & SKIPPABLE_MASK) >>> 0 !== SKIPPABLE_MAGIC || at + 8 > head.length) return false;
    at += 8 + head.readUInt32LE(at + 4);
  }
  return false;
}

/** A part of the compressed input: bytes of a zstd frame (`end` when they close it) or of a skippable frame. */
interface FramePart {
  readonly bytes: Buffer;
  readonly skippable: boolean;
  readonly endsFrame: boolean;
}

type Field = 'magic' | 'skip-size' | 'skip-data' | 'frame-header' | 'header-rest' | 'block-header' | 'block-data' | 'checksum';

/** Follows frame boundaries through compressed bytes pushed in any pieces. */
class FrameWalker {
  #field: Field = 'magic';
  /** Bytes still needed to finish the current field. */
  #need = 4;
  readonly #small = Buffer.alloc(8);
  #smallFill = 0;
  #hasChecksum = false;
  #skippable = false;
  #lastBlock = false;
  /** Compressed bytes walked so far. */
  offset = 0;

  /** True between frames, where the input may end. */
  get betweenFrames(): boolean {
    return this.#field === 'magic' && this.#smallFill === 0;
  }

  /** The parts of `chunk`, and the error that stopped the walk in it, if any: the parts before it are still good. */
  split(chunk: Buffer): { parts: FramePart[]; error?: Error } {
    const parts: FramePart[] = [];
    try {
      this.#walk(chunk, parts);
    } catch (error) {
      return { parts, error: error as Error };
    }
    return { parts };
  }

  #walk(chunk: Buffer, parts: FramePart[]): void {
    let partStart = 0;
    let at = 0;
    const close = (endsFrame: boolean, end: number): void => {
      if (end > partStart || endsFrame) parts.push({ bytes: chunk.subarray(partStart, end), skippable: this.#skippable, endsFrame });
      partStart = end;
    };
    while (at < chunk.length) {
      const n = Math.min(this.#need, chunk.length - at);
      const small = this.#field !== 'skip-data' && this.#field !== 'block-data';
      if (small) chunk.copy(this.#small, this.#smallFill, at, at + n);
      this.#smallFill += small ? n : 0;
      at += n;
      this.offset += n;
      this.#need -= n;
      // Magic bytes are held back until they say which kind of frame follows.
      if (this.#field === 'magic') partStart = at;
      if (this.#need > 0) break;
      this.#smallFill = 0;
      switch (this.#field) {
        case 'magic': {
          const magic = this.#small.readUInt32LE(0);
          if (magic === ZSTD_MAGIC) {
            this.#skippable = false;
            parts.push({ bytes: Buffer.from(this.#small.subarray(0, 4)), skippable: false, endsFrame: false });
            this.#next('frame-header', 1);
          } else if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
            this.#skippable = true;
            this.#next('skip-size', 4);
          } else {
            throw Object.assign(new Error(`unknown zstd frame magic 0x${magic.toString(16)} at compressed byte ${this.offset - 4}`), {
              code: 'ZSTD_FRAME_MAGIC',
            });
          }
          break;
        }
        case 'skip-size': {
          const size = this.#small.readUInt32LE(0);
          if (size === 0) {
            close(true, at);
            this.#next('magic', 4);
          } else this.#next('skip-data', size);
          break;
        }
        case 'skip-data':
          close(true, at);
          this.#next('magic', 4);
          break;
        case 'frame-header': {
          const descriptor = this.#small[0]!;
          const singleSegment = (descriptor >> 5) & 1;
          const fcsFlag = descriptor >> 6;
          const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
          const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
          this.#hasChecksum = ((descriptor >> 2) & 1) === 1;
          this.#lastBlock = false;
          const rest = (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
          if (rest === 0) this.#next('block-header', 3);
          else this.#next('header-rest', rest);
          break;
        }
        case 'header-rest':
          this.#next('block-header', 3);
          break;
        case 'block-header': {
          const header = this.#small.readUIntLE(0, 3);
          this.#lastBlock = (header & 1) === 1;
          const type = (header >> 1) & 3;
          const size = header >> 3;
          const stored = type === 1 ? 1 : size; // an RLE block stores one byte
          if (type === 3)
            throw Object.assign(new Error(`reserved zstd block type at compressed byte ${this.offset - 3}`), { code: 'ZSTD_BLOCK_TYPE' });
          if (stored > 0) this.#next('block-data', stored);
          else this.#afterBlock(close, at);
          break;
        }
        case 'block-data':
          this.#afterBlock(close, at);
          break;
        case 'checksum':
          close(true, at);
          this.#next('magic', 4);
          break;
      }
    }
    close(false, chunk.length);
  }

  #afterBlock(close: (endsFrame: boolean, end: number) => void, at: number): void {
    if (!this.#lastBlock) this.#next('block-header', 3);
    else if (this.#hasChecksum) this.#next('checksum', 4);
    else {
      close(true, at);
      this.#next('magic', 4);
    }
  }

  #next(field: Field, need: number): void {
    this.#field = field;
    this.#need = need;
  }
}

/**
 * A zstd decompressor for any number of frames (see the module comment),
 * with node:zlib doing the decoding. Backpressure holds: a frame's decoder
 * pauses while this stream's reader is full.
 */
export class ZstdDecompress extends Duplex {
  readonly #walker = new FrameWalker();
  #decoder: zlib.ZstdDecompress | undefined;

  constructor() {
    super({ readableHighWaterMark: DECODER_CHUNK_BYTES });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const { parts, error } = this.#walker.split(chunk);
    this.#feed(parts).then(() => callback(error), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.#walker.betweenFrames) {
      callback(Object.assign(new Error('zstd stream ended in the middle of a frame (truncated)'), { code: 'ZSTD_TRUNCATED' }));
      return;
    }
    this.push(null);
    callback();
  }

  override _read(): void {
    this.#decoder?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#decoder?.destroy();
    callback(error);
  }

  async #feed(parts: FramePart[]): Promise<void> {
    for (const part of parts) {
      if (part.skippable) continue;
      this.#decoder ??= this.#open();
      const decoder = this.#decoder;
      if (part.bytes.length > 0 && !decoder.write(part.bytes)) await this.#settled(decoder, 'drain');
      if (part.endsFrame) {
        decoder.end();
        await this.#settled(decoder, 'end');
        this.#decoder = undefined;
      }
    }
  }

  #open(): zlib.ZstdDecompress {
    const decoder = zlib.createZstdDecompress({ chunkSize: DECODER_CHUNK_BYTES });
    decoder.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) decoder.pause();
    });
    return decoder;
  }

  /** Waits for `event` on the frame's decoder, or rejects with its error. */
  #settled(decoder: zlib.ZstdDecompress, event: 'drain' | 'end'): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        decoder.off(event, onEvent);
        reject(error);
      };
      const onEvent = (): void => {
        decoder.off('error', onError);
        resolve();
      };
      decoder.once(event, onEvent);
      decoder.once('error', onError);
    });
  }
}
