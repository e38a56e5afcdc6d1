import { close, constants, fstat, open, read } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { decompressionError } from '../_internals/decompress.js';
import { MetaProbe, type MetaProbeOptions } from './episode-meta.js';
import { isInside } from './episode-walk.js';
import { decodeFsName, fsPath } from './fs-name.js';
import type { FileDigest } from './hash-pool.js';

const openFile = promisify(open);
const fstatFile = promisify(fstat);
const closeFile = promisify(close);
/** Reads at `position`: the hashing thread reads the same descriptor meanwhile, so its file offset is left alone. */
const readInto = (fd: number, buffer: Buffer, position: number): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buffer, 0, buffer.length, position, (e, n) => (e ? reject(e) : resolve(n))));

/** The path of the open file `fd`, where the system says it (Linux); undefined elsewhere. */
const openedPath = (fd: number): Promise<string | undefined> =>
  readlink(`/proc/self/fd/${fd}`, { encoding: 'buffer' }).then(decodeFsName, () => undefined);

/**
 * The problem of a tarball whose zstd frames are cut short or followed by
 * other bytes: `zstd -d` fails on it, so the runbook's tool gives its row
 * no commit, and neither does this, whatever `meta.json` said.
 */
function framingProblem(path: string, framing: NonNullable<FileDigest['framing']>): BackfillError {
  const problem = decompressionError(framing.error, 'zstd', framing.offset);
  return new BackfillError(
    problem.code,
    `${path}: ${problem.message} (zstd -t refuses the file: a copy or upload cut short, or bytes added after it?); the row is written without commit.`,
    { cause: problem, context: { ...problem.context, path } },
  );
}

/** One tarball's facts: hash and size of the stored file, and its commit when readable. */
export interface EpisodeScan {
  readonly sha256: string;
  readonly size: number;
  readonly commit: string | undefined;
  /** Why there is no commit, when there is none. */
  readonly problem: BackfillError | undefined;
}

/** Options of {@link scanEpisode}. */
export interface ScanEpisodeOptions extends Omit<MetaProbeOptions, 'path'> {
  /** Read buffer for the `meta.json` probe, reused across tarballs by the caller (its size is the read size). */
  readonly buffer: Buffer;
  /**
   * Hashes the whole of the open file `fd` on another thread (a `HashPool`)
   * while this thread probes it; `fd` stays open until the promise settles.
   */
  readonly hashFile: (fd: number, path: string) => Promise<FileDigest>;
  /** Refuse the file (`IO_ERROR`) when `path` itself is a symbolic link. */
  readonly noFollow?: boolean;
  /**
   * A resolved directory the file must lie in once open: `IO_ERROR` when it
   * does not (a directory on `path` replaced by a link since the walk).
   * Checked where the system names an open file's path (`/proc/self/fd`).
   */
  readonly within?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Reads an episode tarball's facts, through one open file, so that the hash
 * and the commit are of one file whatever is renamed over the path
 * meanwhile: the SHA-256 and size of every byte (from `hashFile`, on
 * another thread), and the commit in its first
 * `meta.json`, for which this thread reads the file only until the probe
 * has an answer (zstd and tar stop there), so memory stays flat whatever the
 * tarball's size. A zstd file whose frames `hashFile` finds cut short, or
 * followed by other bytes, has no commit either (`zstd -d` fails on it, and
 * the runbook's tool writes no commit). An error means the file could not be read at all
 * (missing, not a regular file, I/O error); a bad archive is an
 * `EpisodeScan` with a `problem`.
 */
export async function scanEpisode(path: string, options: ScanEpisodeOptions): Promise<Result<EpisodeScan, BackfillError>> {
  const { buffer, signal } = options;
  const probe = new MetaProbe({ ...options, path });
  // Plain descriptors and one reused buffer rather than streams or
  // FileHandles: per-tarball buffers and handle objects made garbage
  // collection a large share of the run's CPU. O_NONBLOCK keeps a FIFO
  // named *.tar.zst from blocking open().
  let fd: number;
  try {
    fd = await openFile(fsPath(path), constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    return err(toBackfillError(e, 'IO_ERROR', { path }));
  }
  let digest: Promise<FileDigest> | undefined;
  try {
    if (!(await fstatFile(fd)).isFile()) return err(new BackfillError('IO_ERROR', `${path}: not a regular file`, { context: { path } }));
    const { within } = options;
    const opened = within === undefined ? undefined : await openedPath(fd);
    if (within !== undefined && opened !== undefined && !isInside(within, opened)) {
      return err(
        new BackfillError(
          'IO_ERROR',
          `${path}: the file opened is ${opened}, outside the episodes root ${within} (a directory on its path was replaced by a symbolic link since the walk?); not read`,
          { context: { path } },
        ),
      );
    }
    digest = options.hashFile(fd, path);
    digest.catch(() => undefined); // awaited below, after the probe
    for (let position = 0; !probe.settled; ) {
      if (signal?.aborted) throw new BackfillError('ABORTED', `${path}: reading was aborted.`, { context: { path } });
      const bytesRead = await readInto(fd, buffer, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      await probe.write(buffer.subarray(0, bytesRead));
    }
    probe.end();
    const meta = await probe.outcome;
    const { sha256, size, framing } = await digest;
    // The probe stopped at meta.json: damage past it is known from the framing the hashing thread followed.
    if (meta.problem === undefined && framing !== undefined)
      return ok({ sha256, size, commit: undefined, problem: framingProblem(path, framing) });
    return ok({ sha256, size, commit: meta.commit, problem: meta.problem });
  } catch (e) {
    probe.stop();
    return err(toBackfillError(e, 'IO_ERROR', { path }));
  } finally {
    // Not while the hashing thread may still read it: by then the number could name another file.
    await digest?.catch(() => undefined);
    await closeFile(fd).catch(() => undefined);
  }
}
