import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ScanPool } from '../../../src/index-backfill/scan-pool.js';
import { buildTree, scratch } from './episode-tree.js';

describe('ScanPool', () => {
  it('gives the same results with worker threads as on the calling thread (falling back when workers cannot load)', async () => {
    const { root } = await buildTree(scratch('pool'));
    const files = readdirSync(root).flatMap((h) => (h === 'README' ? [] : readdirSync(join(root, h)).map((f) => join(root, h, f))));
    const settings = { readChunkBytes: 64 * 1024, maxDecompressedBytes: 1 << 30, maxMetaBytes: 1 << 20, requireHexCommit: false };
    const plain = (r: Awaited<ReturnType<ScanPool['scan']>>) =>
      r.match(
        (s) => ({ sha256: s.sha256, size: s.size, commit: s.commit, problem: s.problem?.code }),
        (e) => ({ error: e.code }),
      );
    const here = new ScanPool(0, settings, undefined);
    const threaded = new ScanPool(2, settings, undefined);
    try {
      const a = await Promise.all(files.map(async (f) => plain(await here.scan(f))));
      const b = await Promise.all(files.map(async (f) => plain(await threaded.scan(f))));
      expect(b).toEqual(a);
      expect(a.filter((r) => 'commit' in r && r.commit !== undefined).length).toBeGreaterThan(10);
    } finally {
      await here.close();
      await threaded.close();
    }
  });
});
