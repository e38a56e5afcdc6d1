/**
 * Temporaries named the way versions before process-named temporaries named
 * them (`.<file>.tmp-XXXXXX` spool directories, `.<file>.<12 hex>.tmp`
 * files) say nothing of the process that made them: the next write of the
 * same file removes one only once it and everything in it went untouched
 * for a week, holds only what an older write put there, and is no symlink.
 * Before, they were never removed, however old.
 */
import { existsSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { LEGACY_TEMP_MIN_AGE_MS, removeDeadTemps } from '../../../src/_internals/owned-temp.js';
import { tempDir } from '../../support/tmp.js';

const DAY = 24 * 60 * 60 * 1000;

/** An older version's spool directory for `ds.tar.zst`, with its members and partial tarball. */
function legacySpool(dir: string, suffix: string, extra: readonly string[] = []): string {
  const spool = join(dir, `.ds.tar.zst.tmp-${suffix}`);
  mkdirSync(spool);
  for (const name of ['0', '1', 'out', ...extra]) writeFileSync(join(spool, name), 'spooled');
  return spool;
}

describe('temporaries of older versions', () => {
  it('are removed once untouched for a week, and only when they are what an older write left', async () => {
    const dir = tempDir('bk-legacy-temps-');
    const abandoned = legacySpool(dir, 'a1B2c3');
    const sidecarTemp = join(dir, '.ds.tar.zst.sha256.0123456789ab.tmp');
    writeFileSync(sidecarTemp, 'x');
    const withNotes = legacySpool(dir, 'Zz9Zz9', ['notes.txt']);
    const freshChild = legacySpool(dir, 'q1w2e3');
    const later = Date.now() + 8 * DAY;
    // A file written into it "now" from the point of view of the later clock: a write may still be using it.
    utimesSync(join(freshChild, 'out'), new Date(later - DAY), new Date(later - DAY));
    const outside = tempDir('bk-legacy-target-');
    writeFileSync(join(outside, 'keep'), 'not ours');
    symlinkSync(outside, join(dir, '.ds.tar.zst.tmp-s1s2s3'));
    const otherShapes = ['.ds.tar.zst.tmp-abc', '.ds.tar.zst.tmp-abcdefg', '.other.tar.zst.tmp-a1b2c3', '.ds.tar.zst.0123456789AB.tmp'];
    for (const name of otherShapes) mkdirSync(join(dir, name));

    // Within the week, nothing of theirs is touched.
    expect(await removeDeadTemps(dir, 'ds.tar.zst', Date.now() + LEGACY_TEMP_MIN_AGE_MS - DAY)).toEqual([]);
    expect(await removeDeadTemps(dir, 'ds.tar.zst.sha256', Date.now() + LEGACY_TEMP_MIN_AGE_MS - DAY)).toEqual([]);

    expect(await removeDeadTemps(dir, 'ds.tar.zst', later)).toEqual([abandoned]);
    expect(await removeDeadTemps(dir, 'ds.tar.zst.sha256', later)).toEqual([sidecarTemp]);
    expect(existsSync(withNotes)).toBe(true);
    expect(existsSync(join(freshChild, 'out'))).toBe(true);
    expect(readdirSync(outside)).toEqual(['keep']);
    for (const name of otherShapes) expect(existsSync(join(dir, name)), name).toBe(true);
  });

  it('that are recent are left by writeDataset, which may not know whose they are', async () => {
    const dir = tempDir('bk-legacy-write-');
    const spool = legacySpool(dir, 'r4t5y6');
    const written = await writeDataset(join(dir, 'ds.tar.zst'), { members: { 'a.ndjson': [{ id: 1 }] }, sha256File: true });
    expect(written.isOk()).toBe(true);
    expect(readdirSync(spool).sort()).toEqual(['0', '1', 'out']);
  });
});
