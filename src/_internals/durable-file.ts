/**
 * What makes a file written under a temporary name and renamed into place
 * survive a power cut or a kernel crash, not only a killed process: its
 * data reach the disk before the rename, and the rename itself once its
 * directory is synced. Without them a crash soon after can leave the final
 * name holding an empty or partial file on file systems that may write the
 * rename before the data (XFS, ext4 without `auto_da_alloc`, btrfs).
 *
 * @module
 */
import { open } from 'node:fs/promises';

/** Errors of a platform or file system that cannot open or sync a directory (Windows, some FUSE file systems): the rename stands as it is. */
const DIRECTORY_SYNC_UNSUPPORTED: ReadonlySet<unknown> = new Set(['EISDIR', 'EPERM', 'EACCES', 'EINVAL', 'ENOTSUP', 'EBADF']);

/** Waits until the entries of directory `dir` (a rename into it) are on the disk, where the platform can sync a directory. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(dir, 'r');
  } catch (error) {
    if (DIRECTORY_SYNC_UNSUPPORTED.has((error as { code?: unknown }).code)) return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!DIRECTORY_SYNC_UNSUPPORTED.has((error as { code?: unknown }).code)) throw error;
  } finally {
    await handle.close();
  }
}
