import { createHash, randomBytes } from 'node:crypto';
import { link, open, unlink, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { NEW_FILE_MODE } from '../_internals/new-file-mode.js';
import { ownedTempPrefix, removeDeadTemps } from '../_internals/owned-temp.js';
import { isAlive, processStart } from '../_internals/process-start.js';

/** A held advisory lock; release it when done. */
export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

interface Holder {
  readonly pid: number;
  readonly host: string;
  /** When the holder started ({@link processStart}); a lock written where that is unknown has none. */
  readonly start: string | undefined;
}

/** What a lock holds, exactly: `<pid>\n<hostname>\n`, then the process's start time and `\n` where it is known, and nothing else. */
const LOCK_TEXT = /^([1-9][0-9]{0,15})\n([^\n]*)\n(?:([0-9]{1,20})\n)?$/;

/** The holder a lock names, or undefined for any other text (a file that is not a lock, such as the index). */
function parseHolder(text: string): Holder | undefined {
  const match = LOCK_TEXT.exec(text);
  const n = Number(match?.[1]);
  return match && Number.isSafeInteger(n) ? { pid: n, host: match[2]!, start: match[3] } : undefined;
}

/** Lock paths this process holds or is taking: a second take of one in this process is refused before the file is looked at. */
const mine = new Set<string>();

/**
 * Whether `holder` (on this host) is gone: its pid is dead, or now belongs
 * to another process (a start time other than the one recorded), or is this
 * very process, which is taking the lock (so does not hold it: see `mine`).
 */
async function isGone(holder: Holder): Promise<boolean> {
  if (holder.pid === process.pid) return true;
  if (!isAlive(holder.pid)) return true;
  if (holder.start === undefined) return false;
  const now = await processStart(holder.pid);
  return now !== undefined && now !== holder.start;
}

/** A lock is a few dozen bytes: more than this is not one, and is never read whole. */
const LOCK_READ_BYTES = 1024;

/** What {@link readText} gives for something that is not a regular file (a directory, a FIFO, a link): never a lock. */
const NOT_A_FILE = '\0';

/** The start of the file at `path`, {@link NOT_A_FILE}, or undefined when it cannot be read (gone). */
async function readText(path: string): Promise<string | undefined> {
  try {
    // A lock is never a symbolic link (it is created with O_EXCL), so one at the lock path, dangling or not, is not a lock.
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ELOOP') return undefined;
      throw e;
    });
    if (handle === undefined) return NOT_A_FILE;
    try {
      if (!(await handle.stat()).isFile()) return NOT_A_FILE;
      const buffer = Buffer.alloc(LOCK_READ_BYTES + 1);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return buffer.toString('utf8', 0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

/** How many markers deep {@link breakStale} goes for markers left by breakers that died in turn. */
const MAX_BREAK_DEPTH = 4;

/** What {@link breakStale} did. */
type Broken = 'removed' | 'busy' | 'stuck';

/**
 * Removes the stale lock `path` holding exactly `staleText`, unless it is
 * no longer there. Only the one process that creates the marker
 * `<path>.break-<digest of staleText>` (the way a lock is created) may
 * remove that lock; it reads `path` again under the marker, then removes
 * the marker. No other process removes a lock it did not take, so a lock
 * taken meanwhile is never removed: moving a lock aside to look at it
 * (as before) let a third run take the path in that moment while the lock
 * moved aside was a live run's, and both held it.
 *
 * `busy` when another live process holds the marker (it is removing this
 * lock right now); a marker left by a breaker that died is removed the
 * same way, one level down. `stuck` past {@link MAX_BREAK_DEPTH} levels.
 */
async function breakStale(path: string, staleText: string, me: string, depth = 0): Promise<Broken> {
  if (depth >= MAX_BREAK_DEPTH) return 'stuck';
  const marker = `${path}.break-${createHash('sha256').update(staleText).digest('hex').slice(0, 16)}`;
  try {
    await createWith(marker, me);
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') throw e;
    const text = await readText(marker);
    if (text === undefined) return 'busy';
    const breaker = parseHolder(text);
    if (breaker === undefined || breaker.host !== hostname() || !(await isGone(breaker))) return 'busy';
    const below = await breakStale(marker, text, me, depth + 1);
    return below === 'stuck' ? 'stuck' : 'busy';
  }
  try {
    // Only the marker's holder removes this lock, and a taker never replaces a lock: it is still the stale one, or gone.
    if ((await readText(path)) === staleText) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(marker).catch(() => undefined);
  }
  return 'removed';
}

/**
 * Takes the advisory lock `path`, holding `<pid>\n<hostname>\n<start
 * time>\n`: the text is written to a file of its own beside `path` first,
 * which is then linked to `path` (a link fails if `path` exists), so a
 * lock is never seen empty, even from a run killed while taking it. A lock
 * left by a dead process on this host is removed and taken, also when its
 * pid was reused since (by another process, or by this one), by one run
 * only however many find it at once ({@link breakStale}); a live one
 * gives `LOCKED`. An empty lock (left by an earlier version killed between
 * creating and writing it) also gives `LOCKED`: it names no process whose
 * death could be checked. The receiver never looks at this file: it only
 * keeps two backfills from running at once.
 */
export async function acquireLock(path: string): Promise<Result<HeldLock, BackfillError>> {
  if (mine.has(path))
    return err(
      new BackfillError('LOCKED', `${path} is held by this process (${process.pid}): another backfill of this index is running in it.`, {
        context: { path, pid: process.pid },
      }),
    );
  mine.add(path);
  const taken = await takeLock(path);
  if (taken.isErr()) mine.delete(path);
  return taken;
}

async function takeLock(path: string): Promise<Result<HeldLock, BackfillError>> {
  const start = await processStart(process.pid);
  const me = `${process.pid}\n${hostname()}\n${start === undefined ? '' : `${start}\n`}`;
  for (let attempt = 0; attempt < 100; attempt += 1) {
    try {
      await createWith(path, me);
      return ok({
        path,
        async release() {
          if ((await readText(path)) === me) await unlink(path).catch(() => undefined);
          mine.delete(path);
        },
      });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        // The receiver's user may append to the index without being allowed to create files beside it.
        return err(
          new BackfillError(
            'IO_ERROR',
            `cannot create the lock file ${path} (${code}): this user cannot create files in ${dirname(path)}. Give lockPath (--lock-path) a file in a directory it can write, the same one for every backfill of this index.`,
            { cause: e, context: { path } },
          ),
        );
      }
      if (code !== 'EEXIST') return err(toBackfillError(e, 'IO_ERROR', { path }));
    }
    const text = await readText(path);
    if (text === undefined) continue;
    const holder = parseHolder(text);
    if (holder !== undefined && holder.host === hostname() && (await isGone(holder))) {
      let broken: Broken;
      try {
        broken = await breakStale(path, text, me);
      } catch (e) {
        return err(toBackfillError(e, 'IO_ERROR', { path }));
      }
      if (broken === 'stuck')
        return err(
          new BackfillError(
            'LOCKED',
            `${path} is left by a run that is gone, but runs that died while removing it left ${path}.break-* files; if no backfill of this index is running, remove the lock and those files, and retry.`,
            { context: { path, pid: holder.pid } },
          ),
        );
      // Another run is removing it this instant: it takes the lock next, or this one does.
      if (broken === 'busy') await sleep(10);
      continue;
    }
    // An empty lock names no process to check: a run is writing it this instant, or one died between creating and writing it.
    // Any other text is not a lock at all (lockPath names the index, a tarball, …): it is never taken over, and never called one to remove.
    const message =
      text === ''
        ? `${path} is empty: another run is taking it right now, or one stopped while taking it; if no backfill of this index is running, remove it and retry.`
        : holder === undefined
          ? `${path} exists and is not a backfill lock (a lock holds only a process id and a host name); it was left as it is. Check lockPath (--lock-path): it must name a file of its own, never the index or a tarball.`
          : `${path} is held by process ${holder.pid} on ${holder.host}; wait for it to finish, or remove the lock file if that run is gone.`;
    return err(
      new BackfillError('LOCKED', message, {
        context: { path, ...(holder ? { pid: holder.pid } : {}) },
      }),
    );
  }
  return err(new BackfillError('LOCKED', `${path} keeps changing hands; try again.`, { context: { path } }));
}

/**
 * Creates `path` holding `text`, or fails with EEXIST if it exists: the
 * text goes to a file of this process's beside it, which is then linked to
 * `path`, so `path` never exists empty or half-written. What a run killed
 * before the link left is removed by the next take of this lock.
 */
async function createWith(path: string, text: string): Promise<void> {
  const dir = dirname(path);
  await removeDeadTemps(dir, basename(path));
  const temp = join(dir, `${await ownedTempPrefix(basename(path))}${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(temp, text, { flag: 'wx', mode: NEW_FILE_MODE });
    await link(temp, path);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}
