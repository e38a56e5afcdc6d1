/**
 * A tarball name the file system takes, but not with `.sha256` after it (a
 * 255-byte name on Linux): with `sha256File` (the CLI's default) every
 * member was read and packed and the tarball renamed over the file at
 * `path`, and only then did the `.sha256` fail to be named; the write was
 * reported failed, "stale: write the dataset again", which fails the same
 * way every time. The `.sha256`'s name is now tried first: such a write is
 * refused before any member is read, and nothing is written.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';
import { refusedWrite } from '../../support/write-unread.js';

const dir = tempDir('backfill-kit-sidecar-long-');

describe('writeDataset with sha256File, to a name that leaves no room for .sha256', () => {
  it('is refused before any member is read, leaving the file there as it was', async () => {
    const path = join(dir, `${'y'.repeat(247)}.tar.zst`);
    writeFileSync(path, 'previous');
    const { error, read } = await refusedWrite(path, true);
    expect(read).toBe(false);
    expect(error.code).toBe('IO_ERROR');
    expect(error.message).toBe(
      `${path}.sha256 is a longer name than the file system takes (ENAMETOOLONG), so the .sha256 cannot be written beside the tarball: shorten the tarball's name, or write the tarball without its .sha256 (sha256File: false, or --no-sha256-file). Nothing was written.`,
    );
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(readdirSync(dir)).toEqual([`${'y'.repeat(247)}.tar.zst`]);
  });

  it('is refused so in a directory it was to make, which it does not leave', async () => {
    const path = join(dir, 'new', 'sub', `${'y'.repeat(247)}.tar.zst`);
    const written = await writeDataset(path, { members: { 'a.ndjson': [{ _id: 1 }] }, sha256File: true });
    expect(written._unsafeUnwrapErr().message).toMatch(/^.* is a longer name than the file system takes \(ENAMETOOLONG\)/);
    expect(readdirSync(dir)).toEqual([`${'y'.repeat(247)}.tar.zst`]);
  });

  it('writes that name without the .sha256', async () => {
    const path = join(dir, `${'z'.repeat(247)}.tar.zst`);
    const written = (await writeDataset(path, { members: { 'a.ndjson': [{ _id: 1 }] } }))._unsafeUnwrap();
    expect(written.sha256File).toBe(null);
  });
});
