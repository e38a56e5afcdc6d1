import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `content` to `target` through a new file beside it and a rename:
 * readers never see part of it, a failed write leaves the old file, and a
 * symlink at `target` is replaced rather than written through (which, in a
 * directory others can write to, would let them aim the write elsewhere).
 */
export async function writeFileAtomic(target: string, content: Uint8Array | string, signal?: AbortSignal): Promise<void> {
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, content, { flag: 'wx', ...(signal === undefined ? {} : { signal }) });
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
