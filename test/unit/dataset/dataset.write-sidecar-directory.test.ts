/**
 * A directory where the `.sha256` goes (`ds.tar.zst.sha256/`): with
 * `sha256File` (the CLI's default) every member was read and packed, the
 * tarball renamed over the file at `path`, and only then did the `.sha256`
 * fail to replace the directory; the write was reported failed, "stale:
 * write the dataset again", which failed the same way every time. It is
 * now refused before any member is read, and nothing is written.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/tmp.js';
import { refusedWrite } from '../../support/write-unread.js';

const dir = tempDir('backfill-kit-sidecar-dir-');

describe('writeDataset with sha256File, where a directory has the .sha256 name', () => {
  it('is refused before any member is read, leaving the file there as it was', async () => {
    const path = join(dir, 'ds.tar.zst');
    writeFileSync(path, 'previous');
    mkdirSync(`${path}.sha256`);
    const { error, read } = await refusedWrite(path, true);
    expect(read).toBe(false);
    expect(error.code).toBe('IO_ERROR');
    expect(error.message).toBe(
      `${path}.sha256 is a directory, which the .sha256 written beside the tarball cannot replace: move it, or write the tarball without its .sha256 (sha256File: false, or --no-sha256-file). Nothing was written.`,
    );
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(readdirSync(dir).sort()).toEqual(['ds.tar.zst', 'ds.tar.zst.sha256']);
  });
});
