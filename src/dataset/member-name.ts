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
