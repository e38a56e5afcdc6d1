import type { Stats } from 'node:fs';
import { readlink, realpath, stat } from 'node:fs/promises';

/**
 * Is a checksum-file name safe to open under a base directory? Absolute
 * names, names whose `..` segments climb above the base, and `-` (standard
 * input to `sha256sum`, which this library never reads) are not.
 *
 * @internal
 */
export function unsafePathReason(name: Buffer): string | undefined {
  if (name[0] === 0x2f) return 'is absolute';
  if (name.length === 1 && name[0] === 0x2d) return 'is `-`, which sha256sum reads from standard input (list a file named `-` as `./-`)';
  let depth = 0;
  for (const segment of name.toString('latin1').split('/')) {
    if (segment === '..') depth--;
    else if (segment !== '.' && segment !== '') depth++;
    if (depth < 0) return 'climbs out of the base directory with `..`';
  }
  return undefined;
}

/** `baseDir/name`, as bytes, so names that are not UTF-8 still open the right file. @internal */
export function joinBytes(baseDir: string, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(baseDir.endsWith('/') ? baseDir : `${baseDir}/`, 'utf8'), name]);
}

/** Where a listed name leads once every symlink is followed. @internal */
export type ResolvedPath = { readonly realPath: Buffer; readonly inside: boolean } | { readonly error: unknown };

/**
 * Follows every symlink of `path` and says whether the file it reaches lies
 * under `realBaseDir` (itself a real path). A name that cannot be resolved
 * (missing, dangling link, no permission) carries the error for the caller's
 * verdict.
 *
 * @internal
 */
export async function resolveUnder(realBaseDir: string, path: Buffer): Promise<ResolvedPath> {
  let realPath: Buffer;
  try {
    realPath = await realpath(path, { encoding: 'buffer' });
  } catch (error) {
    return { error };
  }
  return { realPath, inside: isUnder(realBaseDir, realPath) };
}

/** Whether `path` (a real path) lies under `realBaseDir` (itself a real path). */
function isUnder(realBaseDir: string, path: Buffer): boolean {
  const base = Buffer.from(realBaseDir.endsWith('/') ? realBaseDir : `${realBaseDir}/`, 'utf8');
  return path.subarray(0, base.length).equals(base);
}

/**
 * Why the file open on `fd` (with `opened`, its fstat) is not one under
 * `realBaseDir`, or `undefined` when it is. A directory of `path` swapped
 * for a symlink between {@link resolveUnder} and the open leads the open
 * elsewhere: this asks the kernel which file was opened (`/proc/self/fd`),
 * or, where that is not available, resolves `path` again and requires the
 * same file (device and inode) there.
 *
 * @internal
 */
export async function openedOutside(realBaseDir: string, path: Buffer, fd: number, opened: Stats): Promise<string | undefined> {
  const swapped = 'was swapped for a symlink that leads out of the base directory while it was being checked';
  const where = await readlink(`/proc/self/fd/${fd}`, { encoding: 'buffer' }).catch(() => undefined);
  if (where !== undefined && where[0] === 0x2f && !where.toString('latin1').endsWith(' (deleted)')) {
    return isUnder(realBaseDir, where) ? undefined : `${swapped} (to ${where.toString('utf8')})`;
  }
  const again = await resolveUnder(realBaseDir, path);
  if ('error' in again || !again.inside) return swapped;
  const now = await stat(again.realPath).catch(() => undefined);
  return now !== undefined && now.dev === opened.dev && now.ino === opened.ino ? undefined : swapped;
}
