import { BackfillError } from '../errors.js';
import { LONE_SURROGATE } from '../_internals/lone-surrogate.js';

/** Longest member name accepted, in bytes: Linux's PATH_MAX (4096) without its terminating NUL. */
export const MAX_MEMBER_NAME_BYTES = 4095;
/** Longest segment of a member name (a file's or a directory's own name) accepted, in bytes: Linux's NAME_MAX. */
export const MAX_MEMBER_SEGMENT_BYTES = 255;

/**
 * Normalises a tar member name as `tar -x` resolves it (`./a`, `././a` and
 * `a` are one file; so are `x//a`, `x/./a` and `x/a`), so that names which
 * would extract to the same file compare equal, and refuses names that could
 * escape an extraction directory: absolute paths, `..` segments, backslashes
 * and NUL, and names longer than {@link MAX_MEMBER_NAME_BYTES} or with a segment (one file's or
 * directory's name) longer than {@link MAX_MEMBER_SEGMENT_BYTES}, which `tar -x` cannot create
 * ("File name too long"). A file's name must not end in `/` (or `/.`): tar extracts such an
 * entry as a directory. A directory's name may (and may be `./`).
 */
export function checkMemberName(raw: string, kind: 'file' | 'directory' = 'file'): string {
  // Refused before the name is split: a PAX path may be up to 1 MiB.
  if (Buffer.byteLength(raw) > MAX_MEMBER_NAME_BYTES) {
    throw new BackfillError(
      'MEMBER_PATH_UNSAFE',
      `member ${JSON.stringify(`${raw.slice(0, 60)}…`)} has a name longer than ${MAX_MEMBER_NAME_BYTES} bytes, which no system opens (tar -x cannot create it); shorten it.`,
      { context: { member: raw.slice(0, 200) } },
    );
  }
  // JSON (the manifest) can name it, but it has no UTF-8 form: tar would get U+FFFD in its place, another name.
  if (LONE_SURROGATE.test(raw)) {
    throw new BackfillError(
      'MEMBER_PATH_UNSAFE',
      `member ${JSON.stringify(raw)} is not well-formed Unicode (it holds a lone UTF-16 surrogate, which has no UTF-8 form); fix the name.`,
      { context: { member: raw } },
    );
  }
  const name = raw
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
  const escapes =
    raw.startsWith('/') ||
    /^[A-Za-z]:/.test(name) ||
    raw.includes('\\') ||
    raw.includes('\0') ||
    name.split('/').some((segment) => segment === '..');
  if (escapes) throw unsafeName(raw, 'has an absolute or escaping path; datasets hold relative names only');
  const long = name.split('/').find((segment) => Buffer.byteLength(segment) > MAX_MEMBER_SEGMENT_BYTES);
  if (long !== undefined) {
    throw new BackfillError(
      'MEMBER_PATH_UNSAFE',
      `member ${JSON.stringify(raw.length > 120 ? `${raw.slice(0, 120)}…` : raw)} has a path segment of ${Buffer.byteLength(long)} bytes, longer than the ${MAX_MEMBER_SEGMENT_BYTES} bytes a file or directory name may have (tar -x cannot create it); shorten it.`,
      { context: { member: raw.slice(0, 200) } },
    );
  }
  // An empty PAX `path=` or name field comes here: nothing to extract to, though nothing escapes either.
  if (raw.length === 0) throw unsafeName(raw, 'has an empty path; every member needs a relative name');
  if (name.length === 0 && kind === 'file') throw unsafeName(raw, 'names the directory it is extracted into, not a file; name the file');
  if (kind === 'file' && (raw.endsWith('/') || raw.endsWith('/.')))
    throw unsafeName(raw, 'ends in "/" (or "/."), a directory\'s name to tar, which extracts no data; name the file without it');
  return name;
}

function unsafeName(raw: string, why: string): BackfillError {
  return new BackfillError('MEMBER_PATH_UNSAFE', `member ${JSON.stringify(raw)} ${why}.`, { context: { member: raw } });
}

/**
 * One path `tar -x` makes: a directory (with the entries under it), a file,
 * or, before a clash is reported, both.
 */
interface PathNode {
  /** Entries under this directory, by segment; made on first use. */
  children: Map<string, PathNode> | undefined;
  /** The file entry here, as written. */
  file: string | undefined;
  /** The entry that makes this a directory (itself, or an entry under it), as written. */
  directory: string | undefined;
}

/**
 * The paths `tar -x` makes for an archive's entries, in archive order, to
 * refuse entries it cannot extract as the reader reads them: two files of one
 * name, a directory named like a file (tar replaces the file with an empty
 * directory, or the directory with the file), and a file where another entry
 * needs a directory (`x` beside `x/a.ndjson`: tar fails on the second).
 *
 * Paths are kept as a tree of segments, so an entry costs memory and time in
 * proportion to its name, however deep (a name of 2,000 segments once built
 * 2,000 strings of its prefixes); {@link ExtractedPaths.count} is how many
 * paths are kept, directories the names imply included.
 */
export class ExtractedPaths {
  readonly #root: PathNode = { children: undefined, file: undefined, directory: undefined };
  #count = 0;

  /** Files and directories recorded so far, each path once. */
  get count(): number {
    return this.#count;
  }

  /**
   * Records an entry by its normalised name (see {@link checkMemberName}) and
   * the name as written; returns why it clashes with an entry recorded
   * before, naming both, or undefined when it does not.
   */
  add(name: string, raw: string, kind: 'file' | 'directory'): string | undefined {
    const segments = name === '' ? [] : name.split('/');
    // Checked before anything is recorded: a refused entry leaves no trace.
    let node: PathNode | undefined = this.#root;
    for (let i = 0; i < segments.length && node !== undefined; i++) {
      node = node.children?.get(segments[i]!);
      if (node?.file === undefined) continue;
      const path = segments.slice(0, i + 1).join('/');
      if (i < segments.length - 1)
        return `${JSON.stringify(raw)} needs a directory ${path}, where the file ${JSON.stringify(node.file)} is`;
      return kind === 'file'
        ? `${JSON.stringify(node.file)} and ${JSON.stringify(raw)} are the same member (${name})`
        : `the directory ${JSON.stringify(raw)} has the name of the file ${JSON.stringify(node.file)}`;
    }
    if (kind === 'file' && node?.directory !== undefined) {
      return `the file ${JSON.stringify(raw)} has the name of a directory (${name}, made by ${JSON.stringify(node.directory)})`;
    }
    let at = this.#root;
    for (const [i, segment] of segments.entries()) {
      at.children ??= new Map();
      let next = at.children.get(segment);
      if (next === undefined) {
        next = { children: undefined, file: undefined, directory: undefined };
        at.children.set(segment, next);
        this.#count += 1;
      }
      if (kind === 'directory' || i < segments.length - 1) next.directory ??= raw;
      else next.file = raw;
      at = next;
    }
    return undefined;
  }
}
