/**
 * The hashing worker thread of {@link HashPool}: hashes whole files, each
 * read into one reused buffer, so no bytes cross threads. A shared flag lets
 * an abort stop it between two reads of a large file. Each file comes as a
 * descriptor the main thread opened (and closes once the answer is in):
 * the path is never opened here, so what is hashed is the file the main
 * thread checked and probed, whatever the path names since.
 *
 * A file that starts like zstd has its frames followed too, from their
 * headers only ({@link ZstdFraming}): the probe on the main thread stops
 * decompressing at `meta.json`, so a file cut short after it, or with bytes
 * after its last frame, is found here or not at all.
 *
 * Started from its file (`.ts` under the sources, where Node strips the
 * types; `.js` in the package), so it imports Node's own modules and, with
 * `.ts` specifiers that the build rewrites, modules that do the same.
 *
 * @module
 * @internal
 */
import { createHash } from 'node:crypto';
import { fstatSync, readSync, type Stats } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { startsLikeZstd, ZstdFraming } from '../_internals/zstd-frames.ts';

/** What the pool hands each worker when it starts. */
export interface HashThreadData {
  /** Bytes per read. */
  readonly readBytes: number;
  /** One Int32; non-zero asks every worker to stop at its next read. */
  readonly stop: SharedArrayBuffer;
}

/** One file to hash. */
export interface HashRequest {
  readonly id: number;
  /**
   * The open file, read from its start to its end at explicit offsets, which
   * leave the descriptor's file offset alone: the main thread reads the same
   * descriptor meanwhile, and a read after the pool rejected the job (it
   * does so at once on close) changes nothing for whoever holds the number next.
   */
  readonly fd: number;
}

/** The answer for one {@link HashRequest}. */
export type HashReply =
  | {
      readonly id: number;
      readonly sha256: string;
      readonly size: number;
      /** Why a file that starts like zstd is not whole as its frames go (cut short, bytes after the last frame). */
      readonly framing?: { readonly message: string; readonly code: string | undefined; readonly offset: number };
    }
  | { readonly id: number; readonly aborted: true }
  | { readonly id: number; readonly error: { readonly message: string; readonly code: string | undefined } };

function hashFile(request: HashRequest, buffer: Buffer, stop: Int32Array): HashReply {
  const { id, fd } = request;
  try {
    const before = fstatSync(fd);
    const hash = createHash('sha256');
    let size = 0;
    // The first bytes, until there are 4 to say whether the file starts like zstd; then its frames, when it does.
    let head: Buffer | undefined = Buffer.alloc(0);
    let framing: ZstdFraming | undefined;
    for (;;) {
      if (Atomics.load(stop, 0) !== 0) return { id, aborted: true };
      const n = readSync(fd, buffer, 0, buffer.length, size);
      if (n === 0) break;
      const bytes = buffer.subarray(0, n);
      hash.update(bytes);
      size += n;
      if (head === undefined) framing?.push(bytes);
      else {
        // Copied only while fewer than 4 bytes have come (the read buffer is reused), not the whole first read.
        const start: Buffer = head.length === 0 ? bytes : Buffer.concat([head, bytes]);
        if (start.length < 4) head = Buffer.from(start);
        else {
          framing = startsLikeZstd(start) ? new ZstdFraming() : undefined;
          framing?.push(start);
          head = undefined;
        }
      }
    }
    if (changed(before, fstatSync(fd), size)) {
      return {
        id,
        error: { message: 'changed while it was being read (still being written?); run again once it is complete', code: undefined },
      };
    }
    const damage = framing?.end();
    const code = (damage as NodeJS.ErrnoException | undefined)?.code;
    return {
      id,
      sha256: hash.digest('hex'),
      size,
      ...(damage === undefined ? {} : { framing: { message: damage.message, code, offset: framing!.offset } }),
    };
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    return { id, error: { message: String(error.message ?? error), code: error.code } };
  }
}

/** Whether the file was written to while it was read, so the hash and size describe no one state of it. */
function changed(before: Stats, after: Stats, bytesRead: number): boolean {
  return bytesRead !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs;
}

if (parentPort !== null) {
  const port = parentPort;
  const data = workerData as HashThreadData;
  const buffer = Buffer.allocUnsafe(data.readBytes);
  const stop = new Int32Array(data.stop);
  port.on('message', (request: HashRequest) => port.postMessage(hashFile(request, buffer, stop)));
}
