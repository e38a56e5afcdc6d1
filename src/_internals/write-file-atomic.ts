import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ownedTempPrefix, removeDeadTemps } from './owned-temp.js';

/**
 * Writes `content` to `target` through a new file beside it and a rename:
 * readers never see part of it, a failed write leaves the old file, and a
 * symlink at `target` is replaced rather than written through (which, in a
 * directory others can write to, would let them aim the write elsewhere).
 * The new file's name says which process wrote it, so the new file of a
 * write that was killed is removed by the next write of `target`.
 */
export async function writeFileAtomic(target: string, content: Uint8Array | string, signal?: AbortSignal): Promise<void> {
  // A write killed between the two steps (SIGKILL) leaves its new file: the next write of `target` removes it.
  await removeDeadTemps(dirname(target), basename(target));
  const temp = join(dirname(target), `${await ownedTempPrefix(basename(target))}${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(temp, content, { flag: 'wx', ...(signal === undefined ? {} : { signal }) });
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
