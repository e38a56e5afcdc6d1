import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { constants, zstdCompressSync } from 'node:zlib';
import { ResultAsync } from 'neverthrow';
import tar from 'tar-stream';
import { BackfillError, toBackfillError } from '../errors.js';
import { writeFileAtomic } from '../_internals/write-file-atomic.js';
import { compareCodePoints } from '../index-backfill/python-json.js';
import { instant, invalid } from './options.js';

/** Options of {@link buildEpisodeTarball}. */
export interface EpisodeTarballOptions {
  /**
   * The `meta.json` member: an object is JSON-encoded; a string or bytes are
   * stored as they are (to build malformed metadata); `null` leaves
   * `meta.json` out.
   */
  readonly meta: unknown;
  /** Other members, by name; stored in name order. A name holding a NUL is `INVALID_ARGUMENT`. */
  readonly files?: Readonly<Record<string, string | Uint8Array>>;
  /**
   * Name of the metadata member.
   * @defaultValue `'meta.json'`
   */
  readonly metaName?: string;
  /**
   * Put `meta.json` after the other members instead of first.
   * @defaultValue false
   */
  readonly metaLast?: boolean;
  /**
   * Also write the tarball here (parent directories are created), through a
   * new file beside it renamed into place once whole: a file already there
   * is replaced whole or not at all (a reader that has it open keeps reading
   * the old bytes), and a symlink there is replaced, not written through.
   */
  readonly path?: string;
  /**
   * zstd level, a whole number from -131072 to 22 (others are
   * `INVALID_ARGUMENT`).
   * @defaultValue 3
   */
  readonly level?: number;
  /**
   * Modification time of every member, from 1970-01-01T00:00:00Z to
   * 2038-01-19T03:14:07Z (what the tar packer can write; others are
   * `INVALID_ARGUMENT`).
   * @defaultValue 2025-01-01T00:00:00Z
   */
  readonly mtime?: Date;
}

/** A built episode tarball. */
export interface EpisodeTarball {
  /** The `.tar.zst` bytes. */
  readonly bytes: Buffer;
  /** Lowercase hex SHA-256 of `bytes`. */
  readonly sha256: string;
  /** Where it was written, when `path` was given. */
  readonly path?: string;
}

const DEFAULT_MTIME = new Date('2025-01-01T00:00:00Z');
/** The packer writes a member's mtime as whole seconds in a 32-bit signed number; outside that it writes a broken header. */
const MAX_MTIME_MS = (2 ** 31 - 1) * 1000;

function metaBytes(meta: unknown): Buffer | undefined {
  if (meta === null || meta === undefined) return undefined;
  if (typeof meta === 'string') return Buffer.from(meta, 'utf8');
  if (meta instanceof Uint8Array) return Buffer.from(meta);
  let text: string | undefined;
  try {
    text = JSON.stringify(meta, null, 2) as string | undefined;
  } catch (error) {
    // A BigInt or a cycle: a mistake in the test, not an I/O failure.
    throw new BackfillError('INVALID_ARGUMENT', `meta must be JSON-encodable, a string or bytes; ${(error as Error).message}.`, {
      context: { option: 'meta' },
    });
  }
  // A function or a symbol encodes as nothing: meta.json would have held the text "undefined".
  if (text === undefined) throw invalid('meta', 'an object, a string, bytes or null', meta);
  return Buffer.from(`${text}\n`, 'utf8');
}

/** The members as bytes; a value that is neither text nor bytes is refused, naming it. */
function memberBytes(files: unknown): [string, Buffer][] {
  if (files === undefined) return [];
  if (typeof files !== 'object' || files === null || Array.isArray(files)) {
    throw invalid('files', 'an object of member names to strings or bytes', files);
  }
  return Object.entries(files).map(([name, data]): [string, Buffer] => {
    if (typeof data === 'string') return [name, Buffer.from(data, 'utf8')];
    if (data instanceof Uint8Array) return [name, Buffer.from(data)];
    throw invalid(`files[${JSON.stringify(name)}]`, 'a string or bytes (a Uint8Array)', data);
  });
}

/** zstd's compression levels (`ZSTD_minCLevel()` to `ZSTD_maxCLevel()`); it clamps others silently. */
const MIN_LEVEL = -(2 ** 17);
const MAX_LEVEL = 22;

async function build(options: EpisodeTarballOptions): Promise<EpisodeTarball> {
  const level = options.level ?? 3;
  if (!(Number.isInteger(level) && level >= MIN_LEVEL && level <= MAX_LEVEL)) {
    throw new BackfillError(
      'INVALID_ARGUMENT',
      `level must be a whole number from ${MIN_LEVEL} to ${MAX_LEVEL} (zstd's levels); got ${String(level)}.`,
    );
  }
  const ms = options.mtime === undefined ? DEFAULT_MTIME.getTime() : instant(options.mtime, 'mtime');
  const mtime = new Date(ms);
  if (!(ms >= 0 && ms <= MAX_MTIME_MS + 999)) {
    throw new BackfillError('INVALID_ARGUMENT', `mtime must be from 1970-01-01T00:00:00Z to 2038-01-19T03:14:07Z; got ${String(mtime)}.`);
  }
  const members = memberBytes(options.files).sort(([a], [b]) => compareCodePoints(a, b));
  const meta = metaBytes(options.meta);
  const metaName = options.metaName ?? 'meta.json';
  // A tar header ends a name at its first NUL: the member would be another one than asked for.
  for (const name of [...(meta === undefined ? [] : [metaName]), ...members.map(([n]) => n)]) {
    if (name.includes('\0')) {
      throw new BackfillError('INVALID_ARGUMENT', `member name ${JSON.stringify(name)} holds a NUL, which a tar header cannot hold.`);
    }
  }
  if (meta !== undefined) {
    const entry: [string, Buffer] = [metaName, meta];
    if (options.metaLast) members.push(entry);
    else members.unshift(entry);
  }
  const pack = tar.pack();
  const parts: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack as AsyncIterable<Buffer>) parts.push(chunk);
  })();
  for (const [name, data] of members) {
    await new Promise<void>((resolve, reject) => {
      pack.entry({ name, size: data.length, mode: 0o644, mtime, uid: 0, gid: 0, uname: '', gname: '', type: 'file' }, data, (e) =>
        e ? reject(e) : resolve(),
      );
    });
  }
  pack.finalize();
  await collected;
  const bytes = zstdCompressSync(Buffer.concat(parts), { params: { [constants.ZSTD_c_compressionLevel]: level } });
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (options.path === undefined) return { bytes, sha256 };
  await mkdir(dirname(options.path), { recursive: true });
  // A new file beside it, renamed into place once whole: a reader of the old tarball, or a test run
  // killed part-way, never sees half of one under the name, and a symlink there is replaced, not written through.
  await writeFileAtomic(options.path, bytes);
  return { bytes, sha256, path: options.path };
}

/**
 * Builds an episode tarball (`.tar.zst` holding `meta.json` and other
 * files), byte-for-byte deterministic: fixed member order, mtime, owner and
 * mode, and a fixed zstd level. For tests of code that reads episodes, such
 * as `backfillIndex`. An `mtime` that is not a valid `Date`, a member that
 * is neither a string nor bytes, or a `meta` that JSON cannot encode (a
 * BigInt, a cycle, a function) is `INVALID_ARGUMENT`, naming the option.
 *
 * @example
 * ```ts
 * import { buildEpisodeTarball } from '@stella/backfill-kit/testing';
 *
 * const built = await buildEpisodeTarball({
 *   meta: { code_version: { commit: 'a'.repeat(40) } },
 *   files: { 'frames.bin': Buffer.alloc(1024) },
 *   path: 'tmp/episodes/host-a/ep-0001.tar.zst',
 * });
 * if (built.isOk()) console.log(built.value.sha256);
 * ```
 */
export function buildEpisodeTarball(options: EpisodeTarballOptions): ResultAsync<EpisodeTarball, BackfillError> {
  return ResultAsync.fromPromise(build(options), (e) =>
    toBackfillError(e, 'IO_ERROR', options.path === undefined ? {} : { path: options.path }),
  );
}
