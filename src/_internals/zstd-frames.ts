import { Duplex, type TransformOptions } from 'node:stream';
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

/** True when `head` starts with the magic of a zstd frame or of a skippable frame, whatever follows. */
export function startsLikeZstd(head: Buffer): boolean {
  if (head.length < 4) return false;
  const magic = head.readUInt32LE(0);
  return magic === ZSTD_MAGIC || (magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC;
}

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

/**
 * A part of the compressed input: bytes of a zstd frame (`endsFrame` when
 * they close it) or of a skippable frame. A zstd frame's first part is its
 * whole header (`startsFrame`), with the content size the header declares,
 * if it does.
 */
interface FramePart {
  readonly bytes: Buffer;
  readonly skippable: boolean;
  readonly startsFrame: boolean;
  readonly endsFrame: boolean;
  readonly contentSize?: number;
}

type Field = 'magic' | 'skip-size' | 'skip-data' | 'frame-header' | 'header-rest' | 'block-header' | 'block-data' | 'checksum';

/** Follows frame boundaries through compressed bytes pushed in any pieces. */
class FrameWalker {
  #field: Field = 'magic';
  /** Bytes still needed to finish the current field. */
  #need = 4;
  /** The current small field; for a zstd frame, its magic and whole header (at most 18 bytes). */
  readonly #small = Buffer.alloc(18);
  #smallFill = 0;
  /** Where the current field starts in #small: a frame's header fields follow its magic. */
  #fieldStart = 0;
  #descriptor = 0;
  #hasChecksum = false;
  #skippable = false;
  #lastBlock = false;
  /** Compressed bytes walked so far. */
  offset = 0;

  /** True between frames, where the input may end. */
  get betweenFrames(): boolean {
    return this.#field === 'magic' && this.#smallFill === 0;
  }

  /** True while a zstd frame's magic or header is being read: those bytes are held back until the header is whole. */
  get #inHeader(): boolean {
    return this.#field === 'magic' || this.#field === 'frame-header' || this.#field === 'header-rest';
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
      if (end > partStart || endsFrame)
        parts.push({ bytes: chunk.subarray(partStart, end), skippable: this.#skippable, startsFrame: false, endsFrame });
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
      // Magic bytes are held back until they say which kind of frame follows, a zstd frame's header until it is whole.
      if (this.#inHeader) partStart = at;
      if (this.#need > 0) break;
      const field = this.#small.subarray(this.#fieldStart, this.#smallFill);
      this.#smallFill = 0;
      switch (this.#field) {
        case 'magic': {
          const magic = field.readUInt32LE(0);
          if (magic === ZSTD_MAGIC) {
            this.#skippable = false;
            this.#smallFill = 4; // the header follows the magic
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
          const size = field.readUInt32LE(0);
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
          const descriptor = field[0]!;
          this.#descriptor = descriptor;
          const singleSegment = (descriptor >> 5) & 1;
          const fcsFlag = descriptor >> 6;
          const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
          const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
          this.#hasChecksum = ((descriptor >> 2) & 1) === 1;
          this.#lastBlock = false;
          const rest = (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
          if (rest === 0) this.#headerDone(parts, this.#small.subarray(0, 5));
          else {
            this.#smallFill = 5;
            this.#next('header-rest', rest);
          }
          break;
        }
        case 'header-rest':
          this.#headerDone(parts, this.#small.subarray(0, 5 + field.length));
          break;
        case 'block-header': {
          const header = field.readUIntLE(0, 3);
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

  /** Emits a zstd frame's magic and header as its first part, with the content size the header declares. */
  #headerDone(parts: FramePart[], header: Buffer): void {
    const singleSegment = (this.#descriptor >> 5) & 1;
    const fcsFlag = this.#descriptor >> 6;
    const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
    const fcs = header.subarray(header.length - fcsBytes);
    const contentSize =
      fcsBytes === 0
        ? undefined
        : fcsBytes === 2
          ? fcs.readUInt16LE(0) + 256
          : fcsBytes === 8
            ? Number(fcs.readBigUInt64LE(0))
            : fcs.readUIntLE(0, fcsBytes);
    parts.push({
      bytes: Buffer.from(header),
      skippable: false,
      startsFrame: true,
      endsFrame: false,
      ...(contentSize === undefined ? {} : { contentSize }),
    });
    this.#next('block-header', 3);
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
    this.#fieldStart = this.#smallFill;
  }
}

/**
 * Follows a zstd file's frames through its bytes, pushed in any pieces,
 * reading only frame and block headers (nothing is decoded), and says
 * whether the file is whole as framing goes: frames only (skippable ones
 * too), the last one complete. A file cut short inside a frame, or with
 * bytes after its last frame that start no frame, fails `zstd -t`; this
 * finds both for the cost of the headers. Damage inside a block's data is
 * found only by decoding.
 */
export class ZstdFraming {
  readonly #walker = new FrameWalker();
  #error: Error | undefined;

  /** Bytes followed so far: where the framing broke, once {@link ZstdFraming.end} gives an error. */
  get offset(): number {
    return this.#walker.offset;
  }

  /** Takes the file's next bytes. */
  push(chunk: Buffer): void {
    if (this.#error === undefined) this.#error = this.#walker.split(chunk).error;
  }

  /** Once every byte was pushed: why the framing is not whole (codes `ZSTD_TRUNCATED`, `ZSTD_FRAME_MAGIC`, `ZSTD_BLOCK_TYPE`), or undefined. */
  end(): Error | undefined {
    if (this.#error !== undefined || this.#walker.betweenFrames) return this.#error;
    return Object.assign(new Error('zstd stream ended in the middle of a frame (truncated)'), {
      code: 'ZSTD_TRUNCATED',
    });
  }
}

/**
 * Frames decoded at once. Each frame's decoder does its work on libuv's
 * thread pool, so while one frame's output is handed on, the next frame is
 * already being decoded on another core.
 */
const FRAMES_AT_ONCE = 2;
/** Output a frame behind the one being handed on may hold before its decoder pauses. */
const AHEAD_BYTES = 4 * 1024 * 1024;
/**
 * Compressed bytes a frame's decoder may queue before input waits for it:
 * enough for a whole frame as writeDataset writes them (4 MiB of tar, well
 * under 1 MiB compressed), so the next frame's input can follow at once.
 */
const QUEUED_INPUT_BYTES = 2 * 1024 * 1024;

/**
 * Largest frame decoded in one call, into a buffer of exactly its size:
 * writeDataset's frames (4 MiB of tar each) and any other frame whose header
 * declares a size up to this. One call per frame instead of a callback per
 * output chunk saved ~0.15 s of the decode thread's CPU per 256 MB; larger
 * frames, and frames of unknown size, are streamed.
 */
const WHOLE_FRAME_MAX_BYTES = 8 * 1024 * 1024;

/** One frame's decoding, whole or streamed. Until the frames before it are out, its output is held; once it leads, output goes to the sink. */
interface Frame {
  /** Settles once the frame's last byte is out, or with its decoding error. */
  readonly done: Promise<void>;
  /** Takes compressed bytes of the frame; `decoded` is called once they are no longer needed. Resolves once it may take more. */
  write(bytes: Buffer, decoded: (error?: Error | null) => void): Promise<void> | undefined;
  /** The frame's last bytes have been written. */
  end(): void;
  /** From now on output goes to `sink` (false: the sink is full until {@link Frame.resume}), held output first. */
  lead(sink: (chunk: Buffer) => boolean): void;
  /** The sink has room again. */
  resume(): void;
  destroy(): void;
}

/** Output chunks that are a whole frame's output in a buffer of their own (see {@link ownsBuffer}). */
const wholeOutputs = new WeakSet<Buffer>();

/**
 * True when `chunk` came out of a {@link ZstdDecompress} as a whole frame's
 * output in a buffer nothing else uses: its reader may transfer or free the
 * buffer. Streamed frames' chunks share their decoder's buffers.
 */
export function ownsBuffer(chunk: Buffer): boolean {
  return wholeOutputs.has(chunk);
}

/**
 * A frame of known size, at most {@link WHOLE_FRAME_MAX_BYTES}: its
 * compressed bytes are copied together as they come (so the writer gets
 * each chunk back at once) and decoded by one node:zlib call on libuv's
 * thread pool into a buffer of the frame's size. Its one output chunk is
 * held until the frame leads; the frame is done once the sink has room
 * for more.
 */
class WholeFrame implements Frame {
  readonly done: Promise<void>;
  #input: Buffer;
  #fill = 0;
  #output: Buffer | undefined;
  #sink: ((chunk: Buffer) => boolean) | undefined;
  #destroyed = false;
  readonly #settle: { resolve: () => void; reject: (error: Error) => void };
  #waitingRoom = false;
  /** The frame ran past its bound: its input is dropped and `done` has failed. */
  #refused = false;

  readonly contentSize: number;

  constructor(contentSize: number, header: Buffer) {
    this.contentSize = contentSize;
    // ZSTD_COMPRESSBOUND plus room for the header and checksum: no encoder writes more for this content size.
    const bound = contentSize + (contentSize >> 8) + (contentSize < 128 * 1024 ? (128 * 1024 - contentSize) >> 11 : 0) + 32;
    this.#input = Buffer.allocUnsafeSlow(bound);
    let settle!: { resolve: () => void; reject: (error: Error) => void };
    this.done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    this.#settle = settle;
    this.done.catch(() => undefined); // awaited when the frame leads
    this.write(header, () => undefined);
  }

  write(bytes: Buffer, decoded: () => void): undefined {
    if (this.#refused) {
      decoded();
      return undefined;
    }
    // A frame past the bound is corrupt or crafted: held on to, it could fill memory with the whole file before zstd refused it.
    if (this.#fill + bytes.length > this.#input.length) {
      this.#refused = true;
      release(this.#input);
      this.#input = Buffer.alloc(0);
      this.#settle.reject(
        Object.assign(
          new Error(`a zstd frame holds more compressed bytes than its declared content size (${this.contentSize} bytes) allows`),
          { code: 'ZSTD_FRAME_OVERSIZED' },
        ),
      );
    } else {
      bytes.copy(this.#input, this.#fill);
      this.#fill += bytes.length;
    }
    decoded();
    return undefined;
  }

  end(): void {
    if (this.#refused) return;
    const input = this.#input.subarray(0, this.#fill);
    this.#input = Buffer.alloc(0);
    // One spare byte of output: a full output buffer would make node:zlib ask the decoder again with a new one.
    const chunkSize = Math.max(64, this.contentSize + 1);
    zlib.zstdDecompress(input, { chunkSize }, (error, output) => {
      release(input);
      if (this.#destroyed) return;
      // zstd itself refuses a frame whose output differs from the size its header declares.
      if (error) return this.#settle.reject(error);
      // A small output may share Buffer's pool: it is copied into a buffer of its own, which can be handed over.
      let own = output;
      if (output.byteOffset !== 0 || output.buffer.byteLength !== chunkSize) {
        own = Buffer.allocUnsafeSlow(output.length);
        output.copy(own);
      }
      wholeOutputs.add(own);
      this.#output = own;
      this.#flush();
    });
  }

  lead(sink: (chunk: Buffer) => boolean): void {
    this.#sink = sink;
    this.#flush();
  }

  resume(): void {
    if (!this.#waitingRoom) return;
    this.#waitingRoom = false;
    this.#settle.resolve();
  }

  destroy(): void {
    this.#destroyed = true;
    this.#output = undefined;
  }

  #flush(): void {
    const output = this.#output;
    if (!this.#sink || output === undefined) return;
    this.#output = undefined;
    if (output.length === 0 || this.#sink(output)) this.#settle.resolve();
    else this.#waitingRoom = true; // the next frame waits until the reader has room
  }
}

/**
 * Frees a buffer of its own (from allocUnsafeSlow) at once: the thread that
 * decodes allocates little else, so it collects garbage late, and frames'
 * inputs left to the collector raised peak RSS by ~30 MiB.
 */
function release(buffer: Buffer): void {
  (buffer.buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
}

/**
 * A streamed frame: a node:zlib decoder of its own. Until it leads, its
 * output is held (at most about {@link AHEAD_BYTES}).
 */
class StreamedFrame implements Frame {
  readonly #decoder: zlib.ZstdDecompress;
  readonly done: Promise<void>;
  #held: Buffer[] = [];
  #heldBytes = 0;
  #sink: ((chunk: Buffer) => boolean) | undefined;

  constructor(chunkSize: number) {
    // node:zlib passes stream options through to its Transform; its types leave them out.
    const options: zlib.ZstdOptions & TransformOptions = { chunkSize, writableHighWaterMark: QUEUED_INPUT_BYTES };
    const decoder = zlib.createZstdDecompress(options);
    this.#decoder = decoder;
    this.done = settled(decoder, 'end');
    this.done.catch(() => undefined); // awaited when the frame leads
    decoder.on('data', (chunk: Buffer) => {
      if (this.#sink) {
        if (!this.#sink(chunk)) decoder.pause();
        return;
      }
      this.#held.push(chunk);
      this.#heldBytes += chunk.length;
      if (this.#heldBytes >= AHEAD_BYTES) decoder.pause();
    });
  }

  write(bytes: Buffer, decoded: (error?: Error | null) => void): Promise<void> | undefined {
    return this.#decoder.write(bytes, decoded) ? undefined : settled(this.#decoder, 'drain');
  }

  end(): void {
    this.#decoder.end();
  }

  lead(sink: (chunk: Buffer) => boolean): void {
    this.#sink = sink;
    let room = true;
    for (const chunk of this.#held) room = sink(chunk);
    this.#held = [];
    this.#heldBytes = 0;
    if (room) this.#decoder.resume();
    else this.#decoder.pause();
  }

  resume(): void {
    this.#decoder.resume();
  }

  destroy(): void {
    this.#decoder.destroy();
  }
}

/**
 * A zstd decompressor for any number of frames (see the module comment),
 * with node:zlib doing the decoding, up to {@link FRAMES_AT_ONCE} frames in
 * parallel, output in order. Backpressure holds: the leading frame's decoder
 * pauses while this stream's reader is full, the next one once it holds
 * {@link AHEAD_BYTES}, and input waits while both are busy.
 */
export class ZstdDecompress extends Duplex {
  readonly #walker = new FrameWalker();
  readonly #chunkSize: number;
  /** Frames not yet fully out, in order: the first leads, the last may still take input. */
  readonly #frames: Frame[] = [];
  /** The frame taking input, until its last byte has been written. */
  #open: Frame | undefined;
  /** Wakes a wait for the frames to move on. */
  #moved: (() => void) | undefined;
  #failure: Error | undefined;
  readonly #onInputDone: ((chunk: Buffer) => void) | undefined;
  readonly #wholeFrameMaxBytes: number;

  /**
   * @param options.chunkSize - bytes per output chunk (node:zlib's 16 KiB default costs a callback per 16 KiB)
   * @param options.onInputDone - called with each written chunk once every byte of it has been decoded
   *   (a written chunk is held until then, after its write has completed): a writer may then reuse it
   * @param options.streamEveryFrame - decode every frame as its bytes come, none whole: for a reader that
   *   wants the first decoded bytes soon and may stop early (a whole frame yields nothing until all of its
   *   compressed bytes are in)
   */
  constructor(
    options: {
      readonly chunkSize?: number;
      readonly onInputDone?: (chunk: Buffer) => void;
      readonly streamEveryFrame?: boolean;
    } = {},
  ) {
    const chunkSize = options.chunkSize ?? DECODER_CHUNK_BYTES;
    super({ readableHighWaterMark: chunkSize });
    this.#chunkSize = chunkSize;
    this.#onInputDone = options.onInputDone;
    this.#wholeFrameMaxBytes = options.streamEveryFrame ? -1 : WHOLE_FRAME_MAX_BYTES;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const { parts, error } = this.#walker.split(chunk);
    // Counts the parts of `chunk` still being decoded (plus one until all are written).
    let undecoded = 1;
    const decoded = (): void => {
      undecoded -= 1;
      if (undecoded === 0) this.#onInputDone?.(chunk);
    };
    const track = (): ((error?: Error | null) => void) => {
      undecoded += 1;
      return (writeError) => {
        if (!writeError) decoded(); // a failed decoder may still be using it
      };
    };
    this.#feed(parts, track)
      .then(() => {
        decoded();
        return error ? this.#closedFramesOut() : undefined;
      })
      .then(() => callback(error), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    const truncated = this.#walker.betweenFrames
      ? undefined
      : Object.assign(new Error('zstd stream ended in the middle of a frame (truncated)'), { code: 'ZSTD_TRUNCATED' });
    // What was decoded before the end (or the truncation) goes out first.
    this.#closedFramesOut().then(() => {
      if (!truncated) this.push(null);
      callback(truncated);
    }, callback);
  }

  override _read(): void {
    this.#frames[0]?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    for (const frame of this.#frames) frame.destroy();
    this.#wake();
    callback(error);
  }

  /** Writes each part to its frame's decoder; `track` gives the callback for a part's write, called once it is decoded. */
  async #feed(parts: FramePart[], track: () => (error?: Error | null) => void): Promise<void> {
    for (const part of parts) {
      if (part.skippable) continue;
      const frame = part.startsFrame ? await this.#startFrame(part) : this.#open!;
      if (part.bytes.length > 0 && !part.startsFrame) await frame.write(part.bytes, track());
      if (part.endsFrame) {
        frame.end();
        this.#open = undefined;
      }
    }
  }

  /** Opens the next frame's decoder, given its header, once fewer than {@link FRAMES_AT_ONCE} frames are busy. */
  async #startFrame(header: FramePart): Promise<Frame> {
    while (this.#frames.length >= FRAMES_AT_ONCE) await this.#nextMove();
    const size = header.contentSize;
    let frame: Frame;
    if (size !== undefined && size <= this.#wholeFrameMaxBytes) frame = new WholeFrame(size, header.bytes);
    else {
      frame = new StreamedFrame(this.#chunkSize);
      await frame.write(header.bytes, () => undefined);
    }
    this.#open = frame;
    this.#frames.push(frame);
    if (this.#frames.length === 1) this.#lead(frame);
    return frame;
  }

  /** Hands `frame`'s output on; when it is all out, the next frame leads. */
  #lead(frame: Frame): void {
    frame.lead((chunk) => this.push(chunk));
    frame.done.then(
      () => {
        this.#frames.shift();
        const next = this.#frames[0];
        if (next) this.#lead(next);
        this.#wake();
      },
      (error: Error) => {
        this.#failure = error;
        this.destroy(error);
      },
    );
  }

  /** Resolves once every frame whose input is complete is out (rejects if one fails). */
  async #closedFramesOut(): Promise<void> {
    while (this.#frames.some((frame) => frame !== this.#open)) await this.#nextMove();
  }

  /** Resolves the next time a frame finishes (rejects once decoding has failed or stopped). */
  #nextMove(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.destroyed) return Promise.reject(new Error('zstd decoding was stopped'));
    return new Promise<void>((resolve) => (this.#moved = resolve));
  }

  #wake(): void {
    const wake = this.#moved;
    this.#moved = undefined;
    wake?.();
  }
}

/** Waits for `event` on a frame's decoder, or rejects with its error. */
function settled(decoder: zlib.ZstdDecompress, event: 'drain' | 'end'): Promise<void> {
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
