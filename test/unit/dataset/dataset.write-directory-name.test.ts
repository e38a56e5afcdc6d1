/**
 * A path that can only name a directory (`out/ds.tar.zst/`, `out/new/`,
 * `out/new/.`, the empty path) was found out only at the rename into
 * place, once every member had been read, spooled and packed (for an
 * export, every table copied out); the empty path spooled its members
 * into the working directory first. Such a path is now refused before any
 * member is read, as a path that is a directory already was.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/tmp.js';
import { refusedWrite } from '../../support/write-unread.js';

const dir = tempDir('backfill-kit-write-dirname-');

describe('writeDataset to a path that names a directory', () => {
  it.each([
    ['ds.tar.zst/', 'ends in "/"'],
    ['new/', 'ends in "/"'],
    ['new/sub/.', 'ends in "/."'],
    ['new/..', 'ends in "/.."'],
  ])('%s is refused before any member is read, and nothing is written', async (given, why) => {
    const path = `${dir}/${given}`;
    const { error, read } = await refusedWrite(path, true);
    expect(read).toBe(false);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      `${path} ${why}, a directory's name: give the path of the tarball to write, such as ${join(path, 'dataset.tar.zst')}. Nothing was written.`,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('the empty path is refused before any member is read', async () => {
    const { error, read } = await refusedWrite('');
    expect(read).toBe(false);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe('pass the path of the tarball to write (an empty path names none).');
  });
});
