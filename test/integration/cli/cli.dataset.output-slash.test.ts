/**
 * `dataset build out/new/` resolved its argument with `path.resolve`, which
 * drops the trailing "/": the dataset was written as a file named `new`
 * where a directory was meant. The "/" is now kept, so the path is refused
 * as a directory's name before any record is generated, and nothing is
 * written.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/tmp.js';
import { cli, jsonOf } from './cli-harness.js';

const dir = tempDir('bk-cli-output-slash-');

describe('dataset build to a path ending in "/"', () => {
  it('is refused as a directory name, and writes no file of that name', async () => {
    const out = `${join(dir, 'new')}/`;
    const r = await cli(['dataset', 'build', out, '--linksets', '1', '--chunks', '1', '--json']);
    expect(r.code, r.stderr).toBe(2);
    const doc = jsonOf(r);
    expect(doc.error?.code).toBe('INVALID_ARGUMENT');
    expect(doc.error?.message).toBe(
      `${out} ends in "/", a directory's name: give the path of the tarball to write, such as ${join(out, 'dataset.tar.zst')}. Nothing was written.`,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});
