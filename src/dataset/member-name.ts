import { BackfillError } from '../errors.js';

/**
 * Normalises a tar member name as `tar -x` resolves it (`./a`, `././a` and
 * `a` are one file; so are `x//a`, `x/./a` and `x/a`), so that names which
 * would extract to the same file compare equal, and refuses names that could
 * escape an extraction directory: absolute paths, `..` segments, backslashes
 * and NUL. A file's name must not end in `/` (or `/.`): tar extracts such an
 * entry as a directory. A directory's name may (and may be `./`).
 */
export function checkMemberName(raw: string, kind: 'file' | 'directory' = 'file'): string {
  const name = raw
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
  const unsafe =
    raw.length === 0 ||
    (name.length === 0 && kind === 'file') ||
    raw.startsWith('/') ||
    /^[A-Za-z]:/.test(name) ||
    raw.includes('\\') ||
    raw.includes('\0') ||
    name.split('/').some((segment) => segment === '..');
  if (unsafe) {
    throw new BackfillError(
      'MEMBER_PATH_UNSAFE',
      `member ${JSON.stringify(raw)} has an absolute or escaping path; datasets hold relative names only.`,
      {
        context: { member: raw },
      },
    );
  }
  if (kind === 'file' && (raw.endsWith('/') || raw.endsWith('/.'))) {
    throw new BackfillError(
      'MEMBER_PATH_UNSAFE',
      `member ${JSON.stringify(raw)} ends in "/" (or "/."), a directory's name to tar, which extracts no data; name the file without it.`,
      { context: { member: raw } },
    );
  }
  return name;
}

/**
 * The paths `tar -x` makes for an archive's entries, in archive order, to
 * refuse entries it cannot extract as the reader reads them: two files of one
 * name, a directory named like a file (tar replaces the file with an empty
 * directory, or the directory with the file), and a file where another entry
 * needs a directory (`x` beside `x/a.ndjson`: tar fails on the second).
 */
export class ExtractedPaths {
  /** Normalised name → the file entry there, as written. */
  readonly #files = new Map<string, string>();
  /** Normalised name → the entry that makes it a directory (itself, or an entry under it), as written. */
  readonly #directories = new Map<string, string>();

  /**
   * Records an entry by its normalised name (see {@link checkMemberName}) and
   * the name as written; returns why it clashes with an entry recorded
   * before, naming both, or undefined when it does not.
   */
  add(name: string, raw: string, kind: 'file' | 'directory'): string | undefined {
    const segments = name === '' ? [] : name.split('/');
    const parents = segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
    for (const parent of parents) {
      const file = this.#files.get(parent);
      if (file !== undefined) return `${JSON.stringify(raw)} needs a directory ${parent}, where the file ${JSON.stringify(file)} is`;
    }
    const file = this.#files.get(name);
    if (file !== undefined) {
      return kind === 'file'
        ? `${JSON.stringify(file)} and ${JSON.stringify(raw)} are the same member (${name})`
        : `the directory ${JSON.stringify(raw)} has the name of the file ${JSON.stringify(file)}`;
    }
    const directory = this.#directories.get(name);
    if (kind === 'file' && directory !== undefined) {
      return `the file ${JSON.stringify(raw)} has the name of a directory (${name}, made by ${JSON.stringify(directory)})`;
    }
    if (kind === 'file') this.#files.set(name, raw);
    for (const path of kind === 'file' ? parents : [...parents, name]) {
      if (path !== '' && !this.#directories.has(path)) this.#directories.set(path, raw);
    }
    return undefined;
  }
}
