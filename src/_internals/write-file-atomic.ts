import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { type FileHandle, lstat, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { syncDirectory } from './durable-file.js';
import { NEW_FILE_MODE } from './new-file-mode.js';
import { ownedTempPrefix, removeDeadTemps } from './owned-temp.js';

/**
 * Writes `content` to `target` through a new file beside it and a rename:
 * readers never see part of it, a failed write leaves the old file, and a
 * symlink at `target` is replaced rather than written through (which, in a
 * directory others can write to, would let them aim the write elsewhere).
 * The new file's name says which process wrote it, so the new file of a
 * write that was killed is removed by the next write of `target`. The new
 * file's data are synced before the rename and the directory after it, so
 * a power cut leaves the old file or the whole new one. A file it replaces
 * keeps its permission bits, and its owner and group where this process may
 * give them ({@link keepOwnerAndModeOf}).
 */
export async function writeFileAtomic(target: string, content: Uint8Array | string, signal?: AbortSignal): Promise<void> {
  await (await stageFileAtomic(target, content, signal)).commit();
}

/** Errors of a `chown` this process may not make (not root, not a member of the group) or the file system cannot (no owners, an id it cannot map). */
const CANNOT_CHOWN: ReadonlySet<unknown> = new Set(['EPERM', 'EINVAL', 'ENOTSUP', 'ENOSYS']);

/** Gives `handle`'s file `uid` and `gid`; false when this process may not (see {@link CANNOT_CHOWN}). */
async function chownIfAllowed(handle: FileHandle, uid: number, gid: number): Promise<boolean> {
  try {
    await handle.chown(uid, gid);
    return true;
  } catch (error) {
    if (CANNOT_CHOWN.has((error as { code?: unknown }).code)) return false;
    throw error;
  }
}

/**
 * Gives the new file open as `handle`, about to be renamed over `target`,
 * what the file there had, as writing over it in place would
 * (`sha256sum > out`):
 *
 * - Its permission bits: a private 0600 dataset stays private instead of
 *   coming back 0666 less the umask. Only the read, write and execute
 *   bits: a setuid or setgid bit of the old file (someone else's, in a
 *   shared directory) is not put on a file this process owns.
 * - Its owner and group, where this process may give them: root may, so a
 *   file of a service user replaced by `sudo backfill-kit …` still belongs
 *   to that user (a root-owned 0600 file would be one the service cannot
 *   even read). Another user may give the new file only a group it belongs
 *   to: it keeps the old file's group when it can, and is the writer's
 *   otherwise, as any new file of that user would be; the write goes on
 *   either way and nothing is reported.
 *
 * Only the new file is changed, through its open handle, never a path that
 * could by then name something else; the old file is read with `lstat`, so
 * a symlink at `target` (which the rename replaces) lends nothing, and the
 * new file keeps its own owner and mode, as with no file at `target`. A
 * file with other hard links is replaced at `target` only: its other names
 * keep the old contents, and the new file has one name. Returns whether
 * the file at `target` lent its mode (false: none there, or a stranger's).
 *
 * In a sticky directory (`/tmp`), a file of another user than this
 * process's, who does not own the directory either, lends nothing: anyone
 * may leave a file under any name there, and root replacing it would
 * otherwise give that user (who could not have replaced root's file) the
 * file root wrote. Linux's `fs.protected_regular` refuses root's in-place
 * write of such a file for the same reason.
 */
export async function keepOwnerAndModeOf(target: string, handle: FileHandle): Promise<boolean> {
  const old = await lstat(target).catch(() => undefined);
  if (!old?.isFile() || (await strangerInStickyDirectory(target, old))) return false;
  // The mode first: the new file is never someone else's with wider bits than the old one had.
  await handle.chmod(old.mode & 0o777);
  const mine = await handle.stat();
  if (mine.uid === old.uid && mine.gid === old.gid) return true;
  if (await chownIfAllowed(handle, old.uid, old.gid)) return true;
  // Not root: the old owner cannot be given, but the old group can be, by a member of it.
  if (mine.gid !== old.gid) await chownIfAllowed(handle, -1, old.gid);
  return true;
}

/**
 * Creates the new file at `temp` (which must not exist) readable and
 * writable by this process's user alone (0600), whatever the umask: until
 * {@link giveFinalMode} sets its mode it is nobody else's to open, and a
 * reader who opened it while it was wider would keep reading what is
 * written after.
 */
export function openOwnerOnly(temp: string): Promise<FileHandle> {
  return open(temp, 'wx', 0o600);
}

/**
 * This process's umask. Linux tells it in `/proc/self/status`; elsewhere
 * `process.umask()` reads it by setting it twice, which a file another
 * thread creates meanwhile could be made under.
 */
async function umask(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const line = /^Umask:\s*([0-7]+)$/m.exec(status);
  return line?.[1] === undefined ? process.umask() : Number.parseInt(line[1], 8);
}

/**
 * The mode a file this process creates beside `target` gets: 0664
 * ({@link NEW_FILE_MODE}: never writable by every user) less the umask,
 * except in a directory with a default access control list, whose
 * mask gives the group bits (the umask does not apply there; a narrower
 * mode would take from the users and groups the list names what it grants
 * them). Read from an empty file created and removed at once beside
 * `target`, named as this process's temporary files are (so that one a
 * killed write left is tidied up); 0664 less the umask when none can be made.
 */
async function newFileMode(target: string): Promise<number> {
  const probe = join(dirname(target), `${await ownedTempPrefix(basename(target))}${randomBytes(6).toString('hex')}`);
  const handle = await open(probe, 'wx', NEW_FILE_MODE).catch(() => undefined);
  if (handle === undefined) return NEW_FILE_MODE & ~(await umask());
  try {
    return (await handle.stat()).mode & 0o777;
  } finally {
    await handle.close();
    await unlink(probe).catch(() => undefined);
  }
}

/**
 * Gives the new file open as `handle`, created by {@link openOwnerOnly}
 * and about to be renamed over `target`, its final mode, owner and group:
 * those of the file at `target` ({@link keepOwnerAndModeOf}), or, when it
 * lends none, the mode a file this process creates there gets
 * ({@link newFileMode}), as writing in place would have given it.
 */
export async function giveFinalMode(target: string, handle: FileHandle): Promise<void> {
  if (!(await keepOwnerAndModeOf(target, handle))) await handle.chmod(await newFileMode(target));
}

/**
 * Whether `old`, the file at `target`, is in a sticky directory and belongs
 * to neither this process's user nor the directory's owner (whom a sticky
 * directory lets replace each other's files, as they could before).
 */
async function strangerInStickyDirectory(target: string, old: Stats): Promise<boolean> {
  const me = process.geteuid?.();
  if (me === undefined || old.uid === me) return false;
  const dir = await stat(dirname(target)).catch(() => undefined);
  return dir !== undefined && (dir.mode & 0o1000) !== 0 && old.uid !== dir.uid;
}

/** A new file written and synced beside its target, not yet renamed into place. */
export interface StagedFile {
  /** Renames the new file over the target and syncs the directory (the new file is removed if that fails). */
  commit(): Promise<void>;
  /** Removes the new file, leaving the target as it was. */
  discard(): Promise<void>;
}

/**
 * The first half of {@link writeFileAtomic}: the new file, whole and on
 * the disk under its temporary name, to be renamed into place later. A
 * write of two files that belong together (a tarball and its `.sha256`)
 * stages the second before it renames the first, so the two renames
 * follow each other with nothing between them that could fail or wait.
 * The new file is created owner-only ({@link openOwnerOnly}) and takes
 * the mode, owner and group of the file at `target` when it is staged, or
 * the default mode ({@link giveFinalMode}).
 */
export async function stageFileAtomic(target: string, content: Uint8Array | string, signal?: AbortSignal): Promise<StagedFile> {
  // A write killed between the two steps (SIGKILL) leaves its new file: the next write of `target` removes it.
  await removeDeadTemps(dirname(target), basename(target));
  const temp = join(dirname(target), `${await ownedTempPrefix(basename(target))}${randomBytes(6).toString('hex')}`);
  const discard = () => rm(temp, { force: true });
  try {
    const handle = await openOwnerOnly(temp);
    try {
      await handle.writeFile(content, signal === undefined ? {} : { signal });
      await giveFinalMode(target, handle);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await discard();
    throw error;
  }
  return {
    async commit() {
      try {
        await rename(temp, target);
      } catch (error) {
        await discard();
        throw error;
      }
      await syncDirectory(dirname(target));
    },
    discard,
  };
}
