import { constants, fstatSync, readSync, statfsSync, writeSync } from 'node:fs';
import { lstat, open, readlink, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { BackfillError } from '../errors.js';
import { fileSizeLimit } from '../_internals/file-size-limit.js';
import { NEW_FILE_MODE } from '../_internals/new-file-mode.js';

/** The file a create of `path` makes: the last link's target when `path` is a (dangling) symbolic link, else `path`. */
export async function creationPath(path: string): Promise<string> {
  let at = path;
  // Linux follows at most 40 links.
  for (let hop = 0; hop < 40; hop += 1) {
    const target = await readlink(at).catch(() => undefined);
    if (target === undefined) break;
    at = resolve(dirname(at), target);
  }
  return at;
}

/**
 * Refuses (`IO_ERROR`) to let a run as root create a missing index in a
 * directory another user owns: the new file would belong to root, and the
 * receiver, running as that user, could no longer append its rows; also
 * through a symbolic link to a missing index. An existing index is
 * appended to whoever runs, and keeps its owner.
 */
async function refuseRootCreation(path: string, at: string = path): Promise<void> {
  if (process.geteuid?.() !== 0) return;
  // stat, not lstat: a link to a missing index creates the file it names.
  const missing = await stat(at).then(
    () => false,
    (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
  );
  const dir = dirname(missing ? await creationPath(at) : at);
  const owner = missing
    ? await stat(dir).then(
        (s) => s.uid,
        () => 0,
      )
    : 0;
  if (owner === 0) return;
  // The directory as the user named it, not as /proc/self/fd names the one held open.
  const shown = at === path ? dir : dir.replace(dirname(at), dirname(path));
  throw new BackfillError(
    'IO_ERROR',
    `${path} does not exist, and this run as root would create it owned by root in ${shown}, which belongs to uid ${owner}: the receiver, running as that user, could not append to it any more. Nothing was appended. Run the backfill as that user (sudo -u <user> …), as the runbook says, or create the index as that user first.`,
    { context: { path, owner } },
  );
}

/** The file a run read as the index: which one (device and inode), and how many bytes it held. */
export interface IndexIdentity {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
}

/** What the index path itself was when the run looked at it: the target of the symbolic link it was, or undefined for none. */
export interface IndexPathAtStart {
  readonly link: string | undefined;
  /**
   * The directory that held the index path then, held open (where
   * `/proc/self/fd` can name it) so the index is opened in that very
   * directory: a directory on the way there swapped for a symbolic link
   * since cannot lead the run elsewhere. {@link closeIndexPathAtStart} closes it.
   */
  readonly dir: FileHandle | undefined;
}

/** What the index path was when the run looked at it, for {@link IndexAppender.open}. */
export async function indexPathAtStart(path: string): Promise<IndexPathAtStart> {
  const isLink = await lstat(path).then(
    (s) => s.isSymbolicLink(),
    () => false,
  );
  const link = isLink ? await readlink(path).catch(() => undefined) : undefined;
  const pinnable = await stat('/proc/self/fd').then(
    (s) => s.isDirectory(),
    () => false,
  );
  const dir = pinnable ? await open(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined) : undefined;
  return { link, dir };
}

/** Closes the directory {@link indexPathAtStart} held open. */
export async function closeIndexPathAtStart(start: IndexPathAtStart | undefined): Promise<void> {
  await start?.dir?.close().catch(() => undefined);
}

/** Where to open `path`: in the directory held open since the run started, when there is one. */
const pinned = (path: string, start: IndexPathAtStart | undefined): string =>
  start?.dir === undefined ? path : `/proc/self/fd/${start.dir.fd}/${basename(path)}`;

const BECAME_LINK = 'became a symbolic link (it was none)';
const LINK_CHANGED = 'is a symbolic link whose target changed (or it was removed)';

/** `IO_ERROR`: the index path is not the link (or the non-link) it was when the run looked at it. */
function linkPlanted(path: string, change: string): BackfillError {
  return new BackfillError(
    'IO_ERROR',
    `${path} ${change} since this run looked at it; nothing was appended through it, as a symbolic link put at the index path can lead the rows into any file (one of root's, for a run as root). Check who put it there, and run the backfill again on the index as it is meant to be.`,
    { context: { path } },
  );
}
const REPLACED = (appended: number): string =>
  `was replaced or removed (the path no longer names the file this run read${appended === 0 ? '' : `; the ${appended} rows it appended are in that file, wherever it is now`})`;
const TRUNCATED = (size: number, held: number): string => `was truncated (it holds ${size} bytes, less than the ${held} it held)`;

/** `IO_ERROR`: the index changed in a way an append-only file never does, so no row is appended. */
function indexChanged(path: string, change: string): BackfillError {
  return new BackfillError(
    'IO_ERROR',
    `${path} ${change} while this run went on; it stopped before appending more. The index is append-only: run the backfill again on the index as it is now.`,
    { context: { path } },
  );
}

/**
 * Appends whole lines to the index through an `O_APPEND` descriptor, one
 * `write` per line, so lines from a live receiver and from here never mix.
 * The file is never truncated, replaced, chmod-ed or chown-ed; one missing
 * when the run read the index is created as Python's `open(path, "a")`
 * creates it (0664 minus umask: never writable by every user, even under
 * `umask 000`), except by root in a directory another user owns.
 */
export class IndexAppender {
  #startsMidLine: boolean;
  /** The least the file can hold while others only append: its size when opened plus what this run wrote. */
  #atLeast: number;
  #appended = 0;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    startsMidLine: boolean,
    size: number,
    /** The largest file this process may write ({@link fileSizeLimit}). */
    private readonly sizeLimit: number,
  ) {
    this.#startsMidLine = startsMidLine;
    this.#atLeast = size;
  }

  /**
   * Opens `path` for appending and notes whether it ends in the middle of a
   * line; see {@link refuseRootCreation}. `read` is the file the run read
   * as the index (undefined when there was none): the path must still name
   * it, no shorter, or nothing is opened, created or appended
   * (`IO_ERROR`), as {@link IndexAppender.checkStillTheIndex} refuses later rows.
   * `start` says what the path itself was when the run looked at it: a path
   * that was no symbolic link then is opened without following one
   * (`O_NOFOLLOW`), and one that was a link must still hold the same target,
   * or nothing is opened (`IO_ERROR`): whoever owns the index's directory
   * could otherwise plant a link there and lead the rows of a run with more
   * rights than theirs (root) into any file. Without `start`, links are followed.
   */
  static async open(path: string, read?: IndexIdentity, start?: IndexPathAtStart): Promise<IndexAppender> {
    const at = pinned(path, start);
    if (start?.link !== undefined && (await readlink(at).catch(() => undefined)) !== start.link) throw linkPlanted(path, LINK_CHANGED);
    // Only a missing index is created, never the one that was read.
    if (read === undefined) await refuseRootCreation(path, at);
    const noFollow = start !== undefined && start.link === undefined ? constants.O_NOFOLLOW : 0;
    // The index that was read, once removed, is not created anew: the rows would be all the new file held.
    const flags = constants.O_RDWR | constants.O_APPEND | noFollow | (read === undefined ? constants.O_CREAT : 0);
    const handle = await open(at, flags, NEW_FILE_MODE).catch((e: unknown) => {
      const code = (e as NodeJS.ErrnoException).code;
      if (noFollow !== 0 && code === 'ELOOP') throw linkPlanted(path, BECAME_LINK);
      if (read !== undefined && code === 'ENOENT') throw indexChanged(path, REPLACED(0));
      throw e;
    });
    try {
      const { size, dev, ino } = await handle.stat();
      if (start?.link !== undefined && (await readlink(at).catch(() => undefined)) !== start.link) throw linkPlanted(path, LINK_CHANGED);
      const change =
        read === undefined
          ? undefined
          : dev !== read.dev || ino !== read.ino
            ? REPLACED(0)
            : size < read.size
              ? TRUNCATED(size, read.size)
              : undefined;
      if (change !== undefined) throw indexChanged(path, change);
      let midLine = false;
      if (size > 0) {
        const last = Buffer.alloc(1);
        await handle.read(last, 0, 1, size - 1);
        midLine = last[0] !== 0x0a;
      }
      return new IndexAppender(handle, path, midLine, size, await fileSizeLimit());
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /**
   * Appends `line` and a newline in one write, unless the file now ends in
   * the middle of someone else's line (then nothing is written and the
   * result is false: the caller waits for that line). If the file ended
   * without a newline when opened (a torn write), or `freshLine` says the
   * caller gave up waiting, a newline goes first so the row is not glued
   * onto the broken line. The look at the last byte and the write are
   * synchronous, back to back, so another writer has next to no time to
   * start a line in between.
   */
  append(line: string, freshLine = false): boolean {
    const fd = this.handle.fd;
    const newlineFirst = this.#startsMidLine || freshLine;
    const { size } = fstatSync(fd);
    if (!newlineFirst) {
      const last = Buffer.alloc(1);
      if (size > 0 && readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a) return false;
    }
    const bytes = Buffer.from(`${newlineFirst ? '\n' : ''}${line}\n`, 'utf8');
    this.#refuseWhenFull(bytes.length);
    this.#refusePastSizeLimit(size, bytes.length);
    const bytesWritten = writeSync(fd, bytes, 0, bytes.length);
    this.#atLeast += bytesWritten;
    if (bytesWritten !== bytes.length) {
      throw new BackfillError(
        'IO_ERROR',
        `${this.path}: short write (${bytesWritten} of ${bytes.length} bytes); check free space. The next run starts a fresh line.`,
        { context: { path: this.path } },
      );
    }
    this.#startsMidLine = false;
    this.#appended += 1;
    return true;
  }

  /**
   * Throws `IO_ERROR`, before anything is written, when the index's file
   * system says it has less free space than the next row needs: a write cut
   * short by a full disk leaves part of a line, and the receiver's next row
   * would be glued onto it. Free space is what this user may use (root may
   * use the reserved blocks too). A file system that reports no size at all
   * (some network and FUSE ones) is not judged; a full one that this check
   * misses still ends in the short-write error below.
   */
  #refuseWhenFull(needed: number): void {
    let stats: ReturnType<typeof statfsSync>;
    try {
      stats = statfsSync(this.path);
    } catch {
      return;
    }
    if (!(stats.blocks > 0 && stats.bsize > 0)) return;
    const free = (process.geteuid?.() === 0 ? stats.bfree : stats.bavail) * stats.bsize;
    if (free >= needed) return;
    throw new BackfillError(
      'IO_ERROR',
      `${this.path}: its file system has ${free} bytes free, fewer than the ${needed} of the next row; nothing more was appended, so no line is left half written. Free some space and run the backfill again: it appends the rows still missing.`,
      { context: { path: this.path, free, needed } },
    );
  }

  /**
   * Throws `IO_ERROR`, before anything is written, when the row would take
   * the index past the largest file this process may write (`ulimit -f`):
   * the kernel writes up to that limit only, and half a row left there
   * has the receiver's next row glued onto it, as on a full disk. The
   * receiver, started with limits of its own, can still append.
   */
  #refusePastSizeLimit(size: number, needed: number): void {
    if (size + needed <= this.sizeLimit) return;
    throw new BackfillError(
      'IO_ERROR',
      `${this.path}: this process may write files of at most ${this.sizeLimit} bytes (its file-size limit, ulimit -f), and the next row would take the index from ${size} to ${size + needed}; nothing more was appended, so no line is left half written. Raise the limit (ulimit -f unlimited, or LimitFSIZE= in a systemd unit) and run the backfill again: it appends the rows still missing.`,
      { context: { path: this.path, limit: this.sizeLimit, size, needed } },
    );
  }

  /**
   * Throws `IO_ERROR` (call it before each row) when the path no longer names the file open
   * here (the index rotated: renamed and created anew, or removed), or the
   * file shrank (truncated): rows appended now would go to a file that is
   * no longer the index, or be measured against rows that are gone.
   */
  async checkStillTheIndex(): Promise<void> {
    const [opened, named] = await Promise.all([this.handle.stat(), stat(this.path).catch(() => undefined)]);
    const change =
      named === undefined || named.dev !== opened.dev || named.ino !== opened.ino
        ? REPLACED(this.#appended)
        : opened.isFile() && opened.size < this.#atLeast
          ? TRUNCATED(opened.size, this.#atLeast)
          : undefined;
    if (change !== undefined) throw indexChanged(this.path, change);
  }

  /** `fsync`s and closes the file. */
  async close(): Promise<void> {
    try {
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }
}
