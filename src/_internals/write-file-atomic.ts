import { randomBytes } from 'node:crypto';
import { chmod, lstat, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { syncDirectory } from './durable-file.js';
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
 * keeps its permission bits ({@link keepModeOf}).
 */
export async function writeFileAtomic(target: string, content: Uint8Array | string, signal?: AbortSignal): Promise<void> {
  await (await stageFileAtomic(target, content, signal)).commit();
}

/**
 * Gives `file`, about to be renamed over `target`, the permission bits of
 * the file there, as writing over it in place would (`sha256sum > out`):
 * a private 0600 dataset stays private instead of coming back 0666 less the
 * umask. Only the read, write and execute bits: a setuid or setgid bit of
 * the old file (someone else's, in a shared directory) is not put on a file
 * this process owns. With no regular file at `target` (nothing, or a symlink
 * the rename replaces), `file` keeps its own.
 */
export async function keepModeOf(target: string, file: string): Promise<void> {
  const old = await lstat(target).catch(() => undefined);
  if (old?.isFile()) await chmod(file, old.mode & 0o777);
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
 */
export async function stageFileAtomic(target: string, content: Uint8Array | string, signal?: AbortSignal): Promise<StagedFile> {
  // A write killed between the two steps (SIGKILL) leaves its new file: the next write of `target` removes it.
  await removeDeadTemps(dirname(target), basename(target));
  const temp = join(dirname(target), `${await ownedTempPrefix(basename(target))}${randomBytes(6).toString('hex')}`);
  const discard = () => rm(temp, { force: true });
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(content, signal === undefined ? {} : { signal });
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
        await keepModeOf(target, temp);
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
