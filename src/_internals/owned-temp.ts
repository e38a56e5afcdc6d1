import { createHash } from 'node:crypto';
import { lstat, readdir, rm, stat, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isAlive, processStart } from './process-start.js';

/** The first 8 hex digits of this host's name's SHA-256: a temporary name says which host made it without spelling its name. */
const hostTag = (): string => createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** Bytes of `base` kept whole in a temporary name; past them it is cut (see {@link tempStem}). */
const STEM_MAX_BYTES = 150;

/**
 * What stands for `base` in the names of its temporaries: `base` itself,
 * or, when it is too long to leave room in a file name (255 bytes) for the
 * rest of a temporary name, its first characters and 16 hex digits of its
 * SHA-256. An output named near the limit would otherwise fail to write
 * with ENAMETOOLONG on a name the user never gave.
 */
function tempStem(base: string): string {
  if (Buffer.byteLength(base) <= STEM_MAX_BYTES) return base;
  let cut = '';
  for (const char of base) {
    if (Buffer.byteLength(cut + char) > STEM_MAX_BYTES - 40) break;
    cut += char;
  }
  return `${cut}~${createHash('sha256').update(base).digest('hex').slice(0, 16)}`;
}

/** The start every temporary name beside `base` has: `.<base>.tmp-` (see {@link tempStem}). */
export function tempPrefix(base: string): string {
  return `.${tempStem(base)}.tmp-`;
}

/**
 * The start of the name of a temporary file or directory beside `base`
 * that this process makes: `.<base>.tmp-<pid>.<start time>.<host>-`, so
 * that a later write can tell one left by a process that was killed
 * (see {@link removeDeadTemps}). `x` stands for a start time not known.
 */
export async function ownedTempPrefix(base: string): Promise<string> {
  return `${tempPrefix(base)}${process.pid}.${(await processStart(process.pid)) ?? 'x'}.${hostTag()}-`;
}

/** Whether process `pid` that started at `start` (`x`: not known) may still run. */
async function ownerLives(pid: number, start: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  if (start === 'x') return true;
  const now = await processStart(pid);
  return now === undefined || now === start;
}

/**
 * Whether no other user may rename or remove what this process's user
 * made in `dir`: it belongs to this user or to root, and others may not
 * write to it, or it is sticky (`/tmp`). Anywhere else (a directory another
 * user owns, or one a group may write to) they can put a symlink in place
 * of a directory of this process's between the moment it is looked at and
 * the moment what is in it is listed, and a recursive removal would then
 * remove what the symlink points to (as root: any file on the system).
 * Access control lists are not read.
 */
async function othersCannotRenameIn(dir: string): Promise<boolean> {
  const me = process.geteuid?.();
  if (me === undefined) return true;
  const stats = await stat(dir).catch(() => undefined);
  if (stats === undefined || (stats.uid !== me && stats.uid !== 0)) return false;
  return (stats.mode & 0o022) === 0 || (stats.mode & 0o1000) !== 0;
}

/**
 * Removes `path`, which `lstat` found to be `stats`: a file by `unlink`,
 * which never follows a symlink put in its place, and a directory (as
 * earlier versions spooled members to) recursively, only where no other user
 * can put a symlink in its place ({@link othersCannotRenameIn}). Anything
 * of another user's is left: it is not this process's to tidy up, and in
 * a directory of theirs they decide what lies under it. True when removed.
 */
async function removeOwn(dir: string, path: string, stats: Stats): Promise<boolean> {
  const me = process.geteuid?.();
  if (stats.isSymbolicLink() || (me !== undefined && stats.uid !== me)) return false;
  if (stats.isDirectory() && !(await othersCannotRenameIn(dir))) return false;
  return (stats.isDirectory() ? rm(path, { recursive: true, force: true, maxRetries: 0 }) : unlink(path)).then(
    () => true,
    () => false,
  );
}

/**
 * Removes the temporary files and directories {@link ownedTempPrefix} named
 * beside `base` in `dir` that no live process owns: made on this host by a
 * process that is dead, or whose pid another process (or this one) has
 * now (another start time). Anything else (a name of another shape,
 * another host's, a live process's, one whose start time cannot be read,
 * another user's, a directory where other users may rename entries: see
 * {@link removeOwn}) is left as it is, and so is whatever cannot be
 * removed: this only tidies up.
 */
export async function removeDeadTemps(dir: string, base: string, now: number = Date.now()): Promise<string[]> {
  const prefix = tempPrefix(base);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed = await removeLegacyTemps(dir, base, names, now);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const owner = /^([1-9][0-9]{0,9})\.([0-9]{1,20}|x)\.([0-9a-f]{8})-[^/]+$/.exec(name.slice(prefix.length));
    if (owner === null || owner[3] !== hostTag()) continue;
    const path = join(dir, name);
    if (await ownerLives(Number(owner[1]), owner[2]!)) continue;
    const kind = await lstat(path).catch(() => undefined);
    if (kind !== undefined && (await removeOwn(dir, path, kind))) removed.push(path);
  }
  return removed;
}

/**
 * How long a temporary file or directory named the way versions before
 * process-named temporaries named them must have gone untouched before a
 * write of the same file removes it: a week. Those names say nothing of
 * their process or host, so age is the one sign that no write (of an older
 * version, perhaps on another host sharing the directory) still uses it; a
 * write touches its file at least every few seconds while it runs.
 */
export const LEGACY_TEMP_MIN_AGE_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * The two names older versions gave their temporaries beside `base`:
 * `writeDataset`'s spool directory (`.<base>.tmp-` and the six characters
 * `mkdtemp` adds) and `writeFileAtomic`'s new file (`.<base>.<12 hex>.tmp`).
 */
function legacyKind(name: string, base: string): 'dir' | 'file' | undefined {
  const rest = name.startsWith(`.${base}.`) ? name.slice(base.length + 2) : undefined;
  if (rest === undefined) return undefined;
  if (/^tmp-[A-Za-z0-9]{6}$/.test(rest)) return 'dir';
  if (/^[0-9a-f]{12}\.tmp$/.test(rest)) return 'file';
  return undefined;
}

/** When `stats`' file last changed, its data or its entry. */
const lastChange = (stats: Stats): number => Math.max(stats.mtimeMs, stats.ctimeMs);

/**
 * Removes the temporaries of older versions (see {@link legacyKind}) in
 * `dir` beside `base` that are certainly abandoned: not a symlink, this
 * user's, and untouched for {@link LEGACY_TEMP_MIN_AGE_MS}: the directory,
 * and each thing in it, which must be what an older write put there (its
 * members as `0`, `1`, … and the tarball as `out`), nothing else. Anything
 * that does not fit is left as it is.
 */
async function removeLegacyTemps(dir: string, base: string, names: readonly string[], now: number): Promise<string[]> {
  const removed: string[] = [];
  const uid = process.getuid?.();
  const old = (stats: Stats): boolean => now - lastChange(stats) >= LEGACY_TEMP_MIN_AGE_MS && (uid === undefined || stats.uid === uid);
  for (const name of names) {
    const kind = legacyKind(name, base);
    if (kind === undefined) continue;
    const path = join(dir, name);
    const stats = await lstat(path).catch(() => undefined);
    if (stats === undefined || !old(stats)) continue;
    if (kind === 'file' ? !stats.isFile() : !stats.isDirectory() || !(await abandonedSpool(path, old))) continue;
    if (await removeOwn(dir, path, stats)) removed.push(path);
  }
  return removed;
}

/** Whether an older version's spool directory holds only what it wrote there (regular files `0`, `1`, …, `out`), all of it `old`. */
async function abandonedSpool(path: string, old: (stats: Stats) => boolean): Promise<boolean> {
  const entries = await readdir(path).catch(() => undefined);
  if (entries === undefined) return false;
  for (const entry of entries) {
    if (entry !== 'out' && !/^(0|[1-9][0-9]*)$/.test(entry)) return false;
    const stats = await lstat(join(path, entry)).catch(() => undefined);
    if (stats === undefined || !stats.isFile() || !old(stats)) return false;
  }
  return true;
}
