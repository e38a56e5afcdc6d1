import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { notRegular } from '../_internals/file-kind.js';
import { DEFAULT_HASH_CHUNK_BYTES } from './defaults.js';

/** What hashing one file measured. */
export interface FileDigest {
  readonly sha256: string;
  readonly bytes: number;
}

/** Options for {@link hashFile}. */
export interface HashFileOptions {
  readonly signal?: AbortSignal | undefined;
  readonly chunkBytes?: number | undefined;
  /** Called with every chunk hashed (to feed a second consumer from the same read); the buffer is reused after the call returns. */
  readonly onChunk?: ((chunk: Buffer) => void) | undefined;
  /**
   * Called once the file is open, before anything is read, with its
   * descriptor and fstat: a rejection stops the call (nothing is read).
   */
  readonly confirm?: ((fd: number, stats: Stats) => Promise<void>) | undefined;
}

function refuse(path: string | Buffer, what: string): BackfillError {
  const shown = Buffer.isBuffer(path) ? path.toString('utf8') : path;
  return new BackfillError('IO_ERROR', `${shown} is ${what}; only regular files are hashed.`, { context: { path: shown } });
}

function aborted(): BackfillError {
  return new BackfillError('ABORTED', 'The operation was aborted.');
}

/**
 * SHA-256 of a regular file (symlinks are followed), read in large chunks.
 * A directory, FIFO, socket or device is refused (`IO_ERROR`) before it is
 * opened, and opened without blocking, so a pipe with no writer cannot hang
 * the call and `/dev/zero` is never read. `signal` is checked before every
 * read. Other failures throw the Node error (`ENOENT`, `EACCES`…); callers
 * turn them into a verdict.
 *
 * @internal
 */
export async function hashFile(path: string | Buffer, options: HashFileOptions = {}): Promise<FileDigest> {
  const { signal } = options;
  if (signal?.aborted) throw aborted();
  const kind = notRegular(await stat(path));
  if (kind !== undefined) throw refuse(path, kind);
  // O_NONBLOCK: the file may have been swapped for a FIFO since the stat; the fstat below catches it.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stats = await handle.stat();
    const swapped = notRegular(stats);
    if (swapped !== undefined) throw refuse(path, swapped);
    await options.confirm?.(handle.fd, stats);
    const hash = createHash('sha256');
    // No 4 MiB buffer for a 100-byte file; a file that grows meanwhile still reads to its end, in more reads.
    const buffer = Buffer.allocUnsafe(Math.min(options.chunkBytes ?? DEFAULT_HASH_CHUNK_BYTES, stats.size + 1));
    let bytes = 0;
    for (;;) {
      if (signal?.aborted) throw aborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      bytes += bytesRead;
      options.onChunk?.(chunk);
    }
    return { sha256: hash.digest('hex'), bytes };
  } finally {
    await handle.close();
  }
}

/**
 * Runs `task` over `items` with at most `limit` in flight, keeping results in
 * input order. Stops starting new tasks once one rejects.
 *
 * @internal
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  async function worker(): Promise<void> {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await task(items[index] as T, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  }
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, () => worker());
  await Promise.all(workers);
  return results;
}

/** `INVALID_ARGUMENT` unless `concurrency` and `chunkBytes` are absent or positive integers. @internal */
export function checkHashOptions(options: { readonly concurrency?: number; readonly chunkBytes?: number }): Result<void, BackfillError> {
  const positive = (value: number | undefined, name: string): Result<void, BackfillError> =>
    value === undefined || (Number.isInteger(value) && value > 0)
      ? ok(undefined)
      : err(new BackfillError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${String(value)}.`));
  return positive(options.concurrency, 'concurrency').andThen(() => positive(options.chunkBytes, 'chunkBytes'));
}
