/**
 * The hashing worker thread of {@link HashPool}: hashes whole files, each
 * read into one reused buffer, so no bytes cross threads. A shared flag lets
 * an abort stop it between two reads of a large file. Each file comes as a
 * descriptor the main thread opened (and closes once the answer is in):
 * the path is never opened here, so what is hashed is the file the main
 * thread checked and probed, whatever the path names since.
 *
 * Started from its file (`.ts` under the sources, where Node strips the
 * types; `.js` in the package), so it may import only Node's own modules
 * and types: a relative import would name the wrong extension in one of
 * the two.
 *
 * @module
 * @internal
 */
import { createHash } from 'node:crypto';
import { fstatSync, readSync, type Stats } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

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
  | { readonly id: number; readonly sha256: string; readonly size: number }
  | { readonly id: number; readonly aborted: true }
  | { readonly id: number; readonly error: { readonly message: string; readonly code: string | undefined } };

function hashFile(request: HashRequest, buffer: Buffer, stop: Int32Array): HashReply {
  const { id, fd } = request;
  try {
    const before = fstatSync(fd);
    const hash = createHash('sha256');
    let size = 0;
    for (;;) {
      if (Atomics.load(stop, 0) !== 0) return { id, aborted: true };
      const n = readSync(fd, buffer, 0, buffer.length, size);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
      size += n;
    }
    if (changed(before, fstatSync(fd), size)) {
      return {
        id,
        error: { message: 'changed while it was being read (still being written?); run again once it is complete', code: undefined },
      };
    }
    return { id, sha256: hash.digest('hex'), size };
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
