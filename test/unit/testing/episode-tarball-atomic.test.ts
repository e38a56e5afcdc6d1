/**
 * buildEpisodeTarball's `path` was written in place (`fs.writeFile`): a
 * reader of the old tarball saw the new bytes arrive under it, a process
 * killed part-way left half a tarball under the final name, and a symlink
 * at `path` was written through, over the file it points to. It is now
 * written as the dataset writer writes: a new file beside it, renamed
 * into place once whole.
 */
import { openSync, readFileSync, readSync, closeSync, symlinkSync, lstatSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildEpisodeTarball } from '../../../src/testing/index.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('backfill-kit-episode-atomic-');

describe('buildEpisodeTarball writes path through a new file and a rename', () => {
  it('leaves the old file whole for a reader that has it open', async () => {
    const path = join(dir, 'ep.tar.zst');
    const old = (await buildEpisodeTarball({ meta: { n: 1 }, files: { 'a.txt': 'old' }, path }))._unsafeUnwrap();
    const fd = openSync(path, 'r');
    try {
      const built = (await buildEpisodeTarball({ meta: { n: 2 }, files: { 'a.txt': 'new'.repeat(1000) }, path }))._unsafeUnwrap();
      expect(readFileSync(path).equals(built.bytes)).toBe(true);
      const seen = Buffer.alloc(old.bytes.length + 4096);
      const n = readSync(fd, seen, 0, seen.length, 0);
      expect(seen.subarray(0, n).equals(old.bytes)).toBe(true);
    } finally {
      closeSync(fd);
    }
    expect(readdirSync(dir).filter((f) => f.includes('ep.tar.zst'))).toEqual(['ep.tar.zst']);
  });

  it('replaces a symlink at path instead of writing through it', async () => {
    const elsewhere = join(dir, 'elsewhere.txt');
    writeFileSync(elsewhere, 'not a tarball\n');
    const path = join(dir, 'linked.tar.zst');
    symlinkSync(elsewhere, path);
    const built = (await buildEpisodeTarball({ meta: { n: 3 }, path }))._unsafeUnwrap();
    expect(readFileSync(elsewhere, 'utf8')).toBe('not a tarball\n');
    expect(lstatSync(path).isFile()).toBe(true);
    expect(readFileSync(path).equals(built.bytes)).toBe(true);
  });
});
