import { realpath } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { err, errAsync, ok, Result, ResultAsync } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { loggerOf } from '../_internals/logger.js';
import { progressOf } from '../_internals/progress.js';
import { writeFileAtomic } from '../_internals/write-file-atomic.js';
import { formatChecksumLine, type ChecksumOutputFormat } from './checksums-file.js';
import { DEFAULT_HASH_CONCURRENCY, DEFAULT_HASH_CHUNK_BYTES } from './defaults.js';
import { checkHashOptions, hashFile, mapBounded } from './hash-file.js';
import { joinBytes, unsafePathReason } from './safe-path.js';
import type { HashingOptions } from './verify-checksums.js';

/** One line that {@link writeChecksums} wrote. */
export interface WrittenChecksum {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
}

/** What {@link writeChecksums} wrote. */
export interface WriteChecksumsResult {
  /** The sums file, resolved. */
  readonly path: string;
  /** The entries in the order written (byte order of their names). */
  readonly entries: readonly WrittenChecksum[];
  /** The exact bytes written. */
  readonly content: Buffer;
}

/** Options for {@link writeChecksums}. */
export interface WriteChecksumsOptions extends HashingOptions {
  /**
   * Directory the names in `files` are relative to; the names are written
   * as given.
   * @defaultValue the directory of `outPath`
   */
  readonly baseDir?: string;
  /**
   * Line form: `'text'` as `sha256sum`, `'binary'` as `sha256sum --binary`,
   * `'tag'` as `sha256sum --tag`.
   * @defaultValue `'text'`
   */
  readonly format?: ChecksumOutputFormat;
}

/**
 * Hashes `files` and writes a sums file that is byte-for-byte what
 * `sha256sum` prints for the same names, sorted by the bytes of their
 * names (so the output never depends on the caller's order or locale).
 * Duplicate names are written once. The file is written to a temporary
 * name and renamed into place, so readers never see half of it. A sums
 * file it replaces keeps its permission bits, and its owner and group
 * where this process may give them (root may: a service user's
 * `SHA256SUMS` rewritten under `sudo` stays that user's; another user
 * keeps the old group if it belongs to it, and otherwise writes the file
 * as its own, without a warning); another user's file in a sticky
 * directory (`/tmp`) lends nothing.
 *
 * Names must be relative and stay inside `baseDir`
 * (`CHECKSUM_PATH_UNSAFE` otherwise): {@link verifyChecksums} refuses
 * anything else. A name that leads to `outPath` itself (`SHA256SUMS`
 * among the files of `checksums write SHA256SUMS *`, or a symlink to it)
 * is `INVALID_ARGUMENT`, and nothing is written: the file's digest
 * changes as it is written, so its line could never verify.
 *
 * @example
 * ```ts
 * // Same bytes as: cd bundle && sha256sum a.tar.zst b.json > SHA256SUMS
 * const result = await writeChecksums(['b.json', 'a.tar.zst'], 'bundle/SHA256SUMS');
 * if (result.isErr()) throw result.error;
 * ```
 */
export function writeChecksums(
  files: readonly string[],
  outPath: string,
  options: WriteChecksumsOptions = {},
): ResultAsync<WriteChecksumsResult, BackfillError> {
  // Called from JavaScript with the arguments swapped or missing: an Err, not a TypeError thrown at the caller.
  if (typeof outPath !== 'string' || outPath === '') {
    return errAsync(new BackfillError('INVALID_ARGUMENT', `outPath must be the path of the sums file to write; got ${describe(outPath)}.`));
  }
  if (!Array.isArray(files) || files.some((file) => typeof file !== 'string')) {
    return errAsync(new BackfillError('INVALID_ARGUMENT', `files must be an array of path strings; got ${describe(files)}.`));
  }
  const target = resolve(outPath);
  return checkHashOptions(options)
    .andThen(() => listedNames(files))
    .asyncAndThen((names) =>
      ResultAsync.fromPromise(write(names, target, options), (error) => toBackfillError(error, 'IO_ERROR', { path: target })),
    );
}

/** The names to list, once each, in byte order: `CHECKSUM_PATH_UNSAFE` for one that is empty, absolute or climbs out. */
function describe(value: unknown): string {
  return Array.isArray(value)
    ? `an array holding ${value.map((v) => typeof v).join(', ') || 'nothing'}`
    : typeof value === 'string'
      ? JSON.stringify(value)
      : typeof value;
}

function listedNames(files: readonly string[]): Result<Buffer[], BackfillError> {
  const names = [...new Set(files)].map((name) => Buffer.from(name, 'utf8')).sort(Buffer.compare);
  const safe = (name: Buffer): Result<Buffer, BackfillError> => {
    const reason = name.length === 0 ? 'is empty' : unsafePathReason(name);
    if (reason === undefined) return ok(name);
    return err(
      new BackfillError(
        'CHECKSUM_PATH_UNSAFE',
        `${JSON.stringify(name.toString('utf8'))} ${reason}; list files by their path relative to the sums file.`,
        { context: { path: name.toString('utf8') } },
      ),
    );
  };
  return Result.combine(names.map(safe));
}

/**
 * The first of `names` that leads to `target` once it is written: spelled
 * as `target` under `baseDir` (`./SHA256SUMS`, `sub/../SHA256SUMS`), or a
 * path whose symlinks lead to it. A hard link to the old file is not one:
 * the rename leaves it the old file, whose digest it lists.
 */
async function sumsFileAmong(names: readonly Buffer[], baseDir: string, target: string): Promise<Buffer | undefined> {
  const spelled = Buffer.from(target, 'utf8').toString('latin1');
  const realTarget = await realpath(dirname(target)).then(
    (dir) => Buffer.from(join(dir, basename(target)), 'utf8'),
    () => undefined,
  );
  for (const name of names) {
    const path = joinBytes(baseDir, name);
    if (posix.normalize(path.toString('latin1')) === spelled) return name;
    const real = await realpath(path, { encoding: 'buffer' }).catch(() => undefined);
    if (real !== undefined && realTarget !== undefined && real.equals(realTarget)) return name;
  }
  return undefined;
}

/** Hashes the files and writes the sums file through a temporary file and a rename. */
async function write(names: readonly Buffer[], target: string, options: WriteChecksumsOptions): Promise<WriteChecksumsResult> {
  const concurrency = options.concurrency ?? DEFAULT_HASH_CONCURRENCY;
  const baseDir = resolve(options.baseDir ?? dirname(target));
  const logger = loggerOf(options.logger);
  const onProgress = progressOf(options.onProgress, logger, 'writeChecksums');
  const { signal } = options;
  const itself = await sumsFileAmong(names, baseDir, target);
  if (itself !== undefined) {
    throw new BackfillError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(itself.toString('utf8'))} is ${target}, the sums file being written: its digest changes as it is written, so its line could never verify; leave it out of the files.`,
      { context: { path: itself.toString('utf8') } },
    );
  }
  let filesDone = 0;
  let bytesHashed = 0;
  const digests = await mapBounded(names, concurrency, async (name) => {
    const digest = await hashFile(joinBytes(baseDir, name), {
      signal,
      chunkBytes: options.chunkBytes ?? DEFAULT_HASH_CHUNK_BYTES,
      onChunk: (chunk) => (bytesHashed += chunk.length),
    }).catch((error: unknown) => {
      throw toBackfillError(error, 'IO_ERROR', { path: name.toString('utf8') });
    });
    filesDone++;
    onProgress({ filesDone, filesTotal: names.length, bytesHashed });
    return digest;
  });
  const entries = names.map((name, i) => ({ path: name.toString('utf8'), ...(digests[i] as { sha256: string; bytes: number }) }));
  const content = Buffer.concat(
    names.map((name, i) => formatChecksumLine(name, (digests[i] as { sha256: string }).sha256, options.format ?? 'text')),
  );
  await writeFileAtomic(target, content, signal).catch((error: unknown) => {
    throw toBackfillError(error, 'IO_ERROR', { path: target });
  });
  logger.info('writeChecksums wrote', { path: target, files: entries.length, bytes: bytesHashed });
  return { path: target, entries, content };
}
