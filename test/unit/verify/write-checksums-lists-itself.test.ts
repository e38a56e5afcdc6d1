import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyChecksums, writeChecksums } from '../../../src/verify/index.js';
import { tempDir } from '../../support/tmp.js';

/**
 * `checksums write SHA256SUMS *` run a second time lists SHA256SUMS among the
 * files: its old digest was written, the file then replaced, so the new sums
 * file failed its own check forever. Such a name is refused and the old file
 * is left as it was.
 */
describe('writeChecksums with the sums file among the files', () => {
  const root = tempDir('bk-sums-itself-');

  it.for([
    ['SHA256SUMS', 'as it is named'],
    ['./SHA256SUMS', 'spelled with ./'],
    ['sub/../SHA256SUMS', 'spelled through a directory and ..'],
    ['link-to-sums', 'through a symlink to it'],
  ] as const)('%s (%s) is INVALID_ARGUMENT and the old sums file stays', async ([name], { expect }) => {
    const dir = join(root, name.replace(/\W/g, '_'));
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    const sums = join(dir, 'SHA256SUMS');
    expect((await writeChecksums(['a.txt'], sums)).isOk()).toBe(true);
    const before = readFileSync(sums);
    symlinkSync('SHA256SUMS', join(dir, 'link-to-sums'));

    const result = await writeChecksums(['a.txt', name], sums);
    expect(result._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(result._unsafeUnwrapErr().message).toContain('the sums file being written');
    expect(readFileSync(sums)).toEqual(before);
    expect((await verifyChecksums(sums))._unsafeUnwrap().ok).toBe(true);
  });

  it('a hard link to the old sums file is listed: the rename leaves it the old file, whose line verifies', async () => {
    const dir = join(root, 'hard-link');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    const sums = join(dir, 'SHA256SUMS');
    expect((await writeChecksums(['a.txt'], sums)).isOk()).toBe(true);
    linkSync(sums, join(dir, 'previous-sums'));

    expect((await writeChecksums(['a.txt', 'previous-sums'], sums)).isOk()).toBe(true);
    expect((await verifyChecksums(sums))._unsafeUnwrap().ok).toBe(true);
  });
});
