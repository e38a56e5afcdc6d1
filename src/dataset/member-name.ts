import { BackfillError } from '../errors.js';

/**
 * Normalises a tar member name (drops a leading `./`) and refuses names that
 * could escape an extraction directory: absolute paths, `..` segments,
 * backslashes and NUL. A file's name must not end in `/`: tar extracts such
 * an entry as a directory. (Pass a directory's name without its slash.)
 */
export function checkMemberName(raw: string): string {
  const name = raw.startsWith('./') ? raw.slice(2) : raw;
  const unsafe =
    name.length === 0 ||
    name.startsWith('/') ||
    /^[A-Za-z]:/.test(name) ||
    name.includes('\\') ||
    name.includes('\0') ||
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
  if (name.endsWith('/')) {
    throw new BackfillError(
      'MEMBER_PATH_UNSAFE',
      `member ${JSON.stringify(raw)} ends in "/", which tar extracts as a directory, dropping the data; name the file without it.`,
      { context: { member: raw } },
    );
  }
  return name;
}
