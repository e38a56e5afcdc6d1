import { createHash } from 'node:crypto';
import { lstat, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isAlive, processStart } from './process-start.js';

/** The first 8 hex digits of this host's name's SHA-256: a temporary name says which host made it without spelling its name. */
const hostTag = (): string => createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/**
 * The start of the name of a temporary file or directory beside `base`
 * that this process makes: `.<base>.tmp-<pid>.<start time>.<host>-`, so
 * that a later write can tell one left by a process that was killed
 * (see {@link removeDeadTemps}). `x` stands for a start time not known.
 */
export async function ownedTempPrefix(base: string): Promise<string> {
  return `.${base}.tmp-${process.pid}.${(await processStart(process.pid)) ?? 'x'}.${hostTag()}-`;
}

/** Whether process `pid` that started at `start` (`x`: not known) may still run. */
async function ownerLives(pid: number, start: string): Promise<boolean> {
  if (!isAlive(pid)) return false;
  if (start === 'x') return true;
  const now = await processStart(pid);
  return now === undefined || now === start;
}

/**
 * Removes the temporary files and directories {@link ownedTempPrefix} named
 * beside `base` in `dir` that no live process owns: made on this host by a
 * process that is dead, or whose pid another process (or this one) has
 * now (another start time). Anything else (a name of another shape,
 * another host's, a live process's, one whose start time cannot be read)
 * is left as it is, and so is whatever cannot be removed: this only tidies up.
 */
export async function removeDeadTemps(dir: string, base: string): Promise<string[]> {
  const prefix = `.${base}.tmp-`;
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const owner = /^([1-9][0-9]{0,9})\.([0-9]{1,20}|x)\.([0-9a-f]{8})-[^/]+$/.exec(name.slice(prefix.length));
    if (owner === null || owner[3] !== hostTag()) continue;
    const path = join(dir, name);
    if (await ownerLives(Number(owner[1]), owner[2]!)) continue;
    const kind = await lstat(path).catch(() => undefined);
    if (kind === undefined || kind.isSymbolicLink()) continue;
    if (
      await rm(path, { recursive: true, force: true, maxRetries: 0 }).then(
        () => true,
        () => false,
      )
    )
      removed.push(path);
  }
  return removed;
}
