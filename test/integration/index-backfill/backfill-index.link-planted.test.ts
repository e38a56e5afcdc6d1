/**
 * Root running the backfill in the receiver's directory, whose owner plants
 * a symbolic link at the index path once the run has looked at it: the
 * rows must not be appended to the file the link names (a file of root's,
 * anywhere), whether the index was missing or a regular file at the start.
 */
import { chownSync, existsSync, lchownSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { RECEIVER_UID, receiverTree } from './episode-tree.js';

const isRoot = process.geteuid?.() === 0;
const PRECIOUS = "root's own file\n";

/** The receiver's directory (owned by RECEIVER_UID) with one episode, and a file of root's elsewhere. */
async function setting(): Promise<{ root: string; index: string; victim: string; lock: string }> {
  const { lib, root, index } = await receiverTree('link-planted');
  const rootsDir = join(lib, '..', 'roots');
  mkdirSync(rootsDir);
  const victim = join(rootsDir, 'precious');
  writeFileSync(victim, PRECIOUS);
  return { root, index, victim, lock: join(rootsDir, 'backfill.lock') };
}

/**
 * A clock for `now` that runs `action` the first time it is read: as the
 * first row is built, after the run looked at the index and before it
 * appends. `ran()` says whether it did.
 */
function clockThatFirst(action: () => void): { now: () => Date; ran: () => boolean } {
  let ran = false;
  return {
    now: () => {
      if (!ran) action();
      ran = true;
      return new Date();
    },
    ran: () => ran,
  };
}

/** The receiver's user replacing the index path with a link to `target`, as it may in its own directory. */
function plantLink(index: string, target: string): void {
  const link = `${index}.planted`;
  symlinkSync(target, link);
  lchownSync(link, RECEIVER_UID, RECEIVER_UID);
  renameSync(link, index);
}

describe.skipIf(!isRoot)(`backfillIndex as root and a link planted at the index path${isRoot ? '' : ' (skipped: needs root)'}`, () => {
  it.for([
    { what: 'an index missing at the start', before: (): void => undefined, says: 'became a symbolic link' },
    {
      what: 'an index that was a regular file',
      before: (index: string): void => {
        writeFileSync(index, '');
        chownSync(index, RECEIVER_UID, RECEIVER_UID);
      },
      says: 'became a symbolic link',
    },
    {
      // Dangling: the receiver has not written its first row yet.
      what: 'an index path that was a link to a missing index',
      before: (index: string): void => plantLink(index, `${index}.data`),
      says: 'target changed',
    },
  ])('$what: nothing is appended to the file a link put there since names', async ({ before, says }) => {
    const { root, index, victim, lock } = await setting();
    before(index);
    const clock = clockThatFirst(() => plantLink(index, victim));
    const result = await backfillIndex({ episodesRoot: root, index, lockPath: lock, now: clock.now });
    expect(clock.ran()).toBe(true);
    expect(readFileSync(victim, 'utf8')).toBe(PRECIOUS);
    const error = result._unsafeUnwrapErr();
    expect(error.code).toBe('IO_ERROR');
    expect(error.message).toContain(says);
    expect(error.partial?.appended).toBe(0);
  });

  it('the index the receiver creates meanwhile (a regular file) is still appended to', async () => {
    const { root, index, lock } = await setting();
    const clock = clockThatFirst(() => {
      writeFileSync(index, '{"episode_id": "other", "host_id": "h"}\n');
      chownSync(index, RECEIVER_UID, RECEIVER_UID);
    });
    const report = (await backfillIndex({ episodesRoot: root, index, lockPath: lock, now: clock.now }))._unsafeUnwrap();
    expect(report.appended).toBe(1);
    expect(readFileSync(index, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    expect(existsSync(lock)).toBe(false);
  });
});
