import { realpath } from 'node:fs/promises';

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
  const base = Buffer.from(realBaseDir.endsWith('/') ? realBaseDir : `${realBaseDir}/`, 'utf8');
  return { realPath, inside: realPath.subarray(0, base.length).equals(base) };
}
