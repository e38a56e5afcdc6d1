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
import { writeDataset } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('backfill-kit-write-dirname-');

describe('writeDataset to a path that names a directory', () => {
  it.each([
    ['ds.tar.zst/', 'ends in "/"'],
    ['new/', 'ends in "/"'],
    ['new/sub/.', 'ends in "/."'],
    ['new/..', 'ends in "/.."'],
  ])('%s is refused before any member is read, and nothing is written', async (given, why) => {
    const path = `${dir}/${given}`;
    let read = false;
    function* records(): Generator<object> {
      read = true;
      yield { _id: 1 };
    }
    const written = await writeDataset(path, { members: { 'a.ndjson': records() }, sha256File: true });
    expect(read).toBe(false);
    const error = written._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      `${path} ${why}, a directory's name: give the path of the tarball to write, such as ${join(path, 'dataset.tar.zst')}. Nothing was written.`,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('the empty path is refused before any member is read', async () => {
    let read = false;
    function* records(): Generator<object> {
      read = true;
      yield { _id: 1 };
    }
    const written = await writeDataset('', { members: { 'a.ndjson': records() } });
    expect(read).toBe(false);
    expect(written._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(written._unsafeUnwrapErr().message).toBe('pass the path of the tarball to write (an empty path names none).');
  });
});
