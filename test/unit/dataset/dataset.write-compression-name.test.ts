/**
 * writeDataset (and exportDataset through it) took any `compression`: a
 * value from JavaScript or a configuration file that is none of its three
 * (`'gz'`, `'ZSTD'`, `'lz4'`) was written as a plain, uncompressed tar,
 * even under a `.tar.zst` name. It is now INVALID_ARGUMENT, naming the
 * three, before anything is read or written.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset, type Compression } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('backfill-kit-write-compression-');

describe('writeDataset compression', () => {
  it.each(['gz', 'ZSTD', 'lz4', '', 1])('refuses %j, writing nothing', async (compression) => {
    const written = await writeDataset(join(dir, 'ds.tar.zst'), {
      members: { 'a.ndjson': [{ _id: 1 }] },
      compression: compression as unknown as Compression,
    });
    const error = written._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(`compression must be 'zstd', 'gzip' or 'none'; got ${JSON.stringify(compression)}.`);
    expect(readdirSync(dir)).toEqual([]);
  });
});
