/**
 * The output's directory moved away while the last member was still being
 * spooled (an operator tidying up during a long export): the members'
 * spooled copies went with it, and the tarball could no longer be created
 * there. The write failed with a Result, but the packing of members it had
 * already started rejected with nobody listening: an unhandled rejection,
 * which ends a Node process that has no handler for one.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';
import { collectUnobserved } from '../../support/unobserved.js';

const root = tempDir('bk-write-dir-moved-');
const unobserved = collectUnobserved();

describe('writeDataset when its output directory is moved away mid-write', () => {
  it('fails with a Result that names the path, and leaves no rejection unhandled', async () => {
    const dir = join(root, 'out');
    mkdirSync(dir);
    async function* records(): AsyncGenerator<object> {
      yield { _id: 'b1' };
      // a.ndjson is spooled by now; move the directory away and leave a file in its place.
      renameSync(dir, `${dir}.moved`);
      writeFileSync(dir, 'not a directory\n');
      yield { _id: 'b2' };
    }
    const written = await writeDataset(join(dir, 'ds.tar.zst'), { members: { 'a.ndjson': [{ _id: 'a' }], 'b.ndjson': records() } });
    for (let turn = 0; turn < 20; turn++) await nextTurn();
    expect(written.isErr()).toBe(true);
    expect(written._unsafeUnwrapErr().message).toContain(join(dir, 'ds.tar.zst'));
    expect(unobserved).toEqual({ rejections: [], exceptions: [] });
    expect(existsSync(join(`${dir}.moved`, 'ds.tar.zst'))).toBe(false);
  });
});
