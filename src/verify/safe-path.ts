/**
 * Is a checksum-file name safe to open under a base directory? Absolute
 * names and names whose `..` segments climb above the base are not.
 *
 * @internal
 */
export function unsafePathReason(name: Buffer): string | undefined {
  if (name[0] === 0x2f) return 'is absolute';
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
