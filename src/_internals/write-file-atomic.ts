import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
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
 * a power cut leaves the old file or the whole new one.
 */
export async function writeFileAtomic(target: string, content: Uint8Array | string, signal?: AbortSignal): Promise<void> {
  // A write killed between the two steps (SIGKILL) leaves its new file: the next write of `target` removes it.
  await removeDeadTemps(dirname(target), basename(target));
  const temp = join(dirname(target), `${await ownedTempPrefix(basename(target))}${randomBytes(6).toString('hex')}`);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(content, signal === undefined ? {} : { signal });
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
    await syncDirectory(dirname(target));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
