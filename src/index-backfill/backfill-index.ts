import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { err, ok, Result, ResultAsync, safeTry } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { loggerOf } from '../_internals/logger.js';
import { progressOf } from '../_internals/progress.js';
import {
  DECODER_SLICE_BYTES,
  DEFAULT_INDEX_BACKFILL_CONCURRENCY,
  DEFAULT_INDEX_MAX_DECOMPRESSED_BYTES,
  DEFAULT_INDEX_MAX_LINE_BYTES,
  DEFAULT_INDEX_MAX_META_BYTES,
  DEFAULT_INDEX_READ_CHUNK_BYTES,
  INDEX_SCHEMA_VERSION,
  INDEX_LOCK_SUFFIX,
  MAX_INDEX_READ_CHUNK_BYTES,
} from './defaults.js';
import { findDuplicateEpisodes, listEpisodes, type EpisodeEntry, type EpisodeListing } from './episode-walk.js';
import { scanEpisode } from './episode-scan.js';
import { HashPool } from './hash-pool.js';
import { readIndexedEpisodeIds } from './existing-index.js';
import { creationPath, indexPathAtStart } from './index-appender.js';
import { formatReceivedAt } from './index-row.js';
import { IndexTail } from './index-tail.js';
import { acquireLock, type HeldLock } from './lock-file.js';
import { OrderedRowWriter, type Slot } from './ordered-row-writer.js';
import type { BackfillIndexOptions, DuplicateEpisode, IndexBackfillReport, IndexBackfillWarning, IndexRow } from './types.js';

function positiveInt(
  name: string,
  value: number | undefined,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): Result<number, BackfillError> {
  if (value === undefined) return ok(fallback);
  if (Number.isSafeInteger(value) && value > 0 && value <= max) return ok(value);
  return err(
    new BackfillError('INVALID_ARGUMENT', `${name} must be an integer from 1 to ${max}, got ${String(value)}.`, {
      context: { option: name },
    }),
  );
}

/** The row's `received_at_wall` from the clock, which must give a time Python's isoformat can write: the append cannot be taken back. */
function receivedAt(now: () => Date): string {
  const at: unknown = now();
  const year = at instanceof Date ? at.getUTCFullYear() : Number.NaN;
  if (!(year >= 1 && year <= 9999)) {
    throw new BackfillError('INVALID_ARGUMENT', `now() must return a valid Date in the years 0001 to 9999, got ${String(at)}.`, {
      context: { option: 'now' },
    });
  }
  return formatReceivedAt(at as Date);
}

interface Settings {
  readonly concurrency: number;
  readonly readChunkBytes: number;
  readonly maxDecompressedBytes: number;
  readonly maxMetaBytes: number;
  readonly maxIndexLineBytes: number;
}

function validate(options: BackfillIndexOptions): Result<Settings, BackfillError> {
  for (const name of ['episodesRoot', 'index'] as const) {
    if (typeof options[name] !== 'string' || options[name] === '') {
      return err(new BackfillError('INVALID_ARGUMENT', `${name} must be a non-empty path.`, { context: { option: name } }));
    }
  }
  return Result.combine([
    positiveInt('concurrency', options.concurrency, DEFAULT_INDEX_BACKFILL_CONCURRENCY),
    positiveInt('readChunkBytes', options.readChunkBytes, DEFAULT_INDEX_READ_CHUNK_BYTES, MAX_INDEX_READ_CHUNK_BYTES),
    positiveInt('maxDecompressedBytes', options.maxDecompressedBytes, DEFAULT_INDEX_MAX_DECOMPRESSED_BYTES),
    positiveInt('maxMetaBytes', options.maxMetaBytes, DEFAULT_INDEX_MAX_META_BYTES),
    positiveInt('maxIndexLineBytes', options.maxIndexLineBytes, DEFAULT_INDEX_MAX_LINE_BYTES),
  ]).map(([concurrency, readChunkBytes, maxDecompressedBytes, maxMetaBytes, maxIndexLineBytes]) => ({
    concurrency,
    readChunkBytes,
    maxDecompressedBytes,
    maxMetaBytes,
    maxIndexLineBytes,
  }));
}

function duplicateWarning(d: DuplicateEpisode, dryRun: boolean): IndexBackfillWarning {
  const where = d.paths.join(', ');
  const outcome = d.alreadyIndexed
    ? `the index already has a row for it, so every one of these counts as indexed and none ${dryRun ? 'would get' : 'got'} a row of its own`
    : `each ${dryRun ? 'would get' : 'got'} its own row, so the index ${dryRun ? 'would list' : 'now lists'} it ${d.paths.length} times`;
  return {
    code: 'EPISODE_ID_DUPLICATE',
    path: d.paths[0]!,
    message: `episode ${d.episodeId} is on ${d.hosts.length} hosts (${where}); ${outcome}. Keep the genuine tarball, move the other away, and correct the index rows for ${d.episodeId}.`,
  };
}

const aborted = (): BackfillError =>
  new BackfillError('ABORTED', 'the index backfill was aborted; rows already appended are complete lines, and a new run adds the rest.');

/** What a run starts from: its checked settings, the episodes on disk and, unless a dry run, the held lock. */
interface Prepared {
  readonly settings: Settings;
  readonly listing: EpisodeListing;
  readonly lock: HeldLock | undefined;
}

/**
 * `<index>.backfill.lock` beside the file the index path leads to, so that
 * runs given different paths to one index (one through a link) share a lock.
 */
async function defaultLockPath(index: string): Promise<string> {
  // A link to an index not created yet: beside the file it will lead to, as once it exists.
  const target = await realpath(index).catch(async () => {
    const created = await creationPath(index);
    return join(await realpath(dirname(created)).catch(() => dirname(created)), basename(created));
  });
  return `${target}${INDEX_LOCK_SUFFIX}`;
}

/** The same file: one path, or (when both exist) one device and inode. */
async function sameFile(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true;
  const [sa, sb] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)]);
  if (sa !== undefined && sb !== undefined) return sa.dev === sb.dev && sa.ino === sb.ino;
  // A missing index behind a link: compare where both lead.
  const [ra, rb] = await Promise.all([realpath(dirname(a)).catch(() => dirname(a)), realpath(dirname(b)).catch(() => dirname(b))]);
  return join(ra, basename(a)) === join(rb, basename(b));
}

/**
 * The lock to take: `lockPath`, unless it names the index itself (the lock
 * would be created as the index, or a later run take the index for a stale
 * lock and delete it), or the default beside the index.
 */
async function lockPathFor(options: BackfillIndexOptions): Promise<Result<string, BackfillError>> {
  const { lockPath, index } = options;
  if (lockPath === undefined) return ok(await defaultLockPath(index));
  if (await sameFile(lockPath, index)) {
    return err(
      new BackfillError(
        'INVALID_ARGUMENT',
        `lockPath (--lock-path) ${lockPath} is the index itself; give the lock a file of its own, such as ${index}${INDEX_LOCK_SUFFIX} or one in a directory this user can write. Nothing was done.`,
        { context: { option: 'lockPath', path: lockPath } },
      ),
    );
  }
  return ok(lockPath);
}

/** The steps before anything is scanned; a failure here leaves nothing done. */
function prepare(options: BackfillIndexOptions, warn: (warning: IndexBackfillWarning) => void): ResultAsync<Prepared, BackfillError> {
  return safeTry(async function* () {
    const settings = yield* validate(options);
    if (options.signal?.aborted) return err(aborted());
    const listing = yield* await listEpisodes(options.episodesRoot, {
      host: options.host,
      followSymlinks: options.followSymlinks ?? false,
      warn,
    });
    // Lock before reading the index, so two runs cannot both decide the same rows are missing.
    const lock = options.dryRun ? undefined : yield* await acquireLock(yield* await lockPathFor(options));
    return ok({ settings, listing, lock });
  });
}

/** What scanning one tarball needs besides the tarball. */
interface ScanContext {
  readonly settings: Settings;
  readonly hashes: HashPool;
  readonly followSymlinks: boolean;
  /** The resolved episodes root, which every file opened must lie in unless `followSymlinks`. */
  readonly realRoot: string;
  readonly requireHexCommit: boolean;
  readonly now: () => Date;
  readonly signal: AbortSignal | undefined;
}

/** Scans one tarball into its row, or into a warning when it cannot be read; throws only when aborted. */
async function scanToSlot(episode: EpisodeEntry, buffer: Buffer, ctx: ScanContext): Promise<Slot> {
  // What the walk approved is opened without following a link, so a file swapped for one since is refused.
  const noFollow = !ctx.followSymlinks;
  const scanned = await scanEpisode(episode.source, {
    buffer,
    hashFile: (fd, path) => ctx.hashes.hash(fd, path),
    noFollow,
    within: noFollow ? ctx.realRoot : undefined,
    maxDecompressedBytes: ctx.settings.maxDecompressedBytes,
    maxMetaBytes: ctx.settings.maxMetaBytes,
    requireHexCommit: ctx.requireHexCommit,
    signal: ctx.signal,
  });
  if (scanned.isErr()) {
    if (scanned.error.code === 'ABORTED') throw scanned.error;
    const message = `${scanned.error.message}; cannot be read, skipped, no row written.`;
    return { row: undefined, warning: { code: scanned.error.code, path: episode.path, message } };
  }
  const { sha256, size, commit, problem } = scanned.value;
  const row: IndexRow = {
    received_at_wall: receivedAt(ctx.now),
    host_id: episode.host,
    episode_id: episode.episodeId,
    sha256,
    size_bytes: size,
    schema_version: INDEX_SCHEMA_VERSION,
    backfilled: true,
    ...(commit === undefined ? {} : { commit }),
  };
  return { row, warning: problem ? { code: problem.code, path: episode.path, message: problem.message } : undefined };
}

async function run(options: BackfillIndexOptions): Promise<Result<IndexBackfillReport, BackfillError<IndexBackfillReport>>> {
  const { index, signal } = options;
  const dryRun = options.dryRun ?? false;
  const logger = loggerOf(options.logger);
  const onProgress = progressOf(options.onProgress, logger, 'index backfill');
  const warnings: IndexBackfillWarning[] = [];
  const warn = (warning: IndexBackfillWarning): void => {
    warnings.push(warning);
    logger.warn(warning.message, { code: warning.code, path: warning.path });
  };
  const prepared = await prepare(options, warn);
  // Nothing was scanned or written yet: there is no partial report to hand back.
  if (prepared.isErr()) return err(prepared.error.withPartial<IndexBackfillReport>(undefined));
  const { settings, listing, lock } = prepared.value;
  const { episodes, symlinksNotFollowed } = listing;

  // Where the first read of the index begins: what others append from there on is read again before each row.
  // Which file it is, too: rows are appended to that one only, not to another put (or created) in its place.
  const read = await stat(index).then(
    ({ dev, ino, size }) => ({ dev, ino, size }),
    () => undefined,
  );
  // And whether the path is a symbolic link: one planted there since is never followed (a run as root would append wherever it led).
  const start = await indexPathAtStart(index);
  const writer = new OrderedRowWriter(
    index,
    dryRun,
    warn,
    dryRun ? undefined : new IndexTail(index, read?.size ?? 0, settings.maxIndexLineBytes),
    read,
    start,
  );
  let alreadyIndexed = 0;
  let duplicateEpisodes: DuplicateEpisode[] = [];
  const report = (): IndexBackfillReport => ({
    scanned: episodes.length,
    alreadyIndexed: alreadyIndexed + writer.indexedMeanwhile,
    toBackfill: writer.rows.length,
    rows: writer.rows,
    appended: writer.appended,
    skipped: writer.skipped,
    warnings,
    symlinksNotFollowed,
    duplicateEpisodes,
    dryRun,
  });
  let failure: BackfillError | undefined;
  // Hashing threads start only when there is something to hash (a rerun that appends nothing needs none).
  let hashes: HashPool | undefined;
  const stopHashing = (): void => hashes?.abort();
  signal?.addEventListener('abort', stopHashing, { once: true });
  try {
    const seen = await readIndexedEpisodeIds(index, { maxLineBytes: settings.maxIndexLineBytes, warn });
    if (seen.isErr()) return err(seen.error.withPartial(report()));
    duplicateEpisodes = findDuplicateEpisodes(episodes, seen.value);
    for (const d of duplicateEpisodes) warn(duplicateWarning(d, dryRun));
    const pending: EpisodeEntry[] = episodes.filter((e) => !seen.value.has(e.episodeId));
    alreadyIndexed = episodes.length - pending.length;
    if (pending.length > 0) {
      hashes = new HashPool(settings.readChunkBytes);
      const ctx: ScanContext = {
        settings,
        hashes,
        followSymlinks: options.followSymlinks ?? false,
        realRoot: listing.realRoot,
        requireHexCommit: options.requireHexCommit ?? false,
        now: options.now ?? (() => new Date()),
        signal,
      };
      let next = 0;
      let done = 0;
      const lane = async (): Promise<void> => {
        // One probe buffer per lane, reused for every tarball it scans: one
        // decoder slice, since meta.json nearly always sits in the first block.
        const buffer = Buffer.allocUnsafe(Math.min(settings.readChunkBytes, DECODER_SLICE_BYTES));
        while (failure === undefined && writer.failure === undefined && next < pending.length) {
          if (signal?.aborted) {
            failure ??= aborted();
            return;
          }
          const at = next;
          next += 1;
          try {
            await writer.fill(at, await scanToSlot(pending[at]!, buffer, ctx));
          } catch (e) {
            failure ??=
              e instanceof BackfillError && e.code === 'ABORTED' ? aborted() : toBackfillError(e, 'IO_ERROR', { path: pending[at]!.path });
            return;
          }
          done += 1;
          onProgress({ scanned: episodes.length, total: pending.length, done, appended: writer.appended });
        }
      };
      await Promise.all(Array.from({ length: Math.min(settings.concurrency, pending.length) }, lane));
    }
  } finally {
    signal?.removeEventListener('abort', stopHashing);
    await hashes?.close();
    await writer.close();
    await lock?.release();
  }
  failure ??= writer.failure;
  if (failure) return err(failure.withPartial(report()));
  logger.info(
    `index backfill: scanned ${episodes.length}, already indexed ${alreadyIndexed + writer.indexedMeanwhile}${writer.indexedMeanwhile > 0 ? ` (${writer.indexedMeanwhile} by the receiver while this ran)` : ''}, ${dryRun ? 'would append' : 'appended'} ${writer.rows.length}`,
    { index },
  );
  return ok(report());
}

/**
 * Rebuilds missing rows of an append-only `index.jsonl` from the episode
 * tarballs on disk (`<episodesRoot>/<host>/<episode>.tar.zst`), like the
 * runbook's `index_backfill.py` but reading each tarball once, several at a
 * time, and stopping decompression at `meta.json`.
 *
 * Rows are appended in the runbook tool's order (hosts sorted, then files), as
 * whole lines through `O_APPEND`, and the file is `fsync`ed before the
 * result resolves; a live receiver can keep appending meanwhile. An
 * advisory lock (`<index>.backfill.lock`) keeps two backfills apart
 * (`LOCKED`). A missing episodes directory is `EPISODES_ROOT_MISSING`.
 * Bad tarballs never stop the run: a corrupt archive or unusable
 * `meta.json` gives a row without `commit` plus a warning, and a file that
 * cannot be read at all is skipped with a warning. Symbolic links that lead
 * out of the episodes root are not followed unless `followSymlinks` is set
 * (`symlinksNotFollowed`), and an episode id found on more than one host is
 * reported (`duplicateEpisodes`). An index line longer than
 * `maxIndexLineBytes` stops the run with `LINE_TOO_LONG` before anything is
 * appended. When the run stops after the episodes were listed (abort, write
 * error, unreadable index) the error's `partial` is the report so far, with
 * the rows already written in `appended`.
 *
 * @example
 * ```ts
 * import { backfillIndex } from '@stella/backfill-kit/index-backfill';
 *
 * const result = await backfillIndex({ episodesRoot: '/var/lib/cis490/episodes', index: '/var/lib/cis490/index.jsonl' });
 * if (result.isErr()) throw result.error;
 * const { scanned, alreadyIndexed, toBackfill, warnings } = result.value;
 * console.log(`scanned: ${scanned} already-indexed: ${alreadyIndexed} to-backfill: ${toBackfill}`);
 * for (const w of warnings) console.warn(w.message);
 * ```
 */
export function backfillIndex(options: BackfillIndexOptions): ResultAsync<IndexBackfillReport, BackfillError<IndexBackfillReport>> {
  return new ResultAsync(run(options).catch((e: unknown) => err(toBackfillError(e).withPartial<IndexBackfillReport>(undefined))));
}
