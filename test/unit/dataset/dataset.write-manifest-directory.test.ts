/**
 * A member under a directory named `manifest.json` (`manifest.json/a.ndjson`)
 * was written beside the manifest that writeDataset puts first: `tar -x`
 * then fails ("Cannot open: Not a directory") and the reader refuses the
 * dataset (MEMBER_DUPLICATE). It is now refused before anything is
 * written, as a member named like another's directory is.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('backfill-kit-write-manifest-dir-');

describe('writeDataset with a member under a directory named manifest.json', () => {
  it.each(['manifest.json/a.ndjson', './manifest.json//x/a.ndjson'])('refuses %j before writing anything', async (name) => {
    const path = join(dir, 'ds.tar.zst');
    const written = await writeDataset(path, { members: { [name]: [{ _id: 1 }], 'b.ndjson': [{ _id: 2 }] } });
    const error = written._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(
      `${JSON.stringify(name)} needs a directory manifest.json, where the file "manifest.json" is; tar -x cannot extract both: pass each member once, and none named like another's directory.`,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});
