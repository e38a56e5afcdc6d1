import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { BackfillError } from '../errors.js';
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
  /** Called with every chunk hashed (to feed a second consumer from the same read). */
  readonly onChunk?: ((chunk: Buffer) => void) | undefined;
}

/**
 * SHA-256 of a file, streamed with large reads. Throws the Node error
 * (`ENOENT`, `EISDIR`, an AbortError…); callers turn it into a verdict.
 *
 * @internal
 */
export async function hashFile(path: string | Buffer, options: HashFileOptions = {}): Promise<FileDigest> {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = createReadStream(path, {
    highWaterMark: options.chunkBytes ?? DEFAULT_HASH_CHUNK_BYTES,
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
    options.onChunk?.(chunk);
  }
  return { sha256: hash.digest('hex'), bytes };
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

/** `INVALID_ARGUMENT` unless `value` is absent or a positive integer. @internal */
export function invalidPositiveInt(value: number | undefined, name: string): BackfillError | undefined {
  if (value === undefined || (Number.isInteger(value) && value > 0)) return undefined;
  return new BackfillError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${String(value)}.`);
}
