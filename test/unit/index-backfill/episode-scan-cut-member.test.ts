/**
 * An episode tarball whose tar ends inside a member before its meta.json
 * (a copy cut short, then compressed whole): the tar extractor fails at the
 * end of its input and destroys the member it was handing out with that
 * error. The probe skips that member's data and listened to the extractor
 * only: the member's 'error' event had no listener, an uncaught exception
 * that ends the process (an index backfill, mid-run).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { zstdCompressSync as compress, zstdDecompressSync as decompress } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { scanEpisode } from '../../../src/index-backfill/episode-scan.js';
import { HashPool } from '../../../src/index-backfill/hash-pool.js';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { tempDir } from '../../support/tmp.js';
import { collectUnobserved } from '../../support/unobserved.js';

const dir = tempDir('bk-scan-cut-member-');
const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const unobserved = collectUnobserved();
const hashes = new HashPool(16 * 1024, 1);
afterAll(() => hashes.close());

describe('scanEpisode of a tar cut inside a member before meta.json', () => {
  it('gives TAR_TRUNCATED, with no uncaught error', async () => {
    const files = { 'b.bin': Buffer.alloc(100_000, 7) };
    const tar = decompress(
      (await buildEpisodeTarball({ meta: { code_version: { commit: COMMIT } }, metaLast: true, files }))._unsafeUnwrap().bytes,
    );
    const path = join(dir, 'cut.tar.zst');
    // The header block of b.bin and part of its data.
    writeFileSync(path, compress(tar.subarray(0, 20_000)));
    const scanned = await scanEpisode(path, {
      buffer: Buffer.allocUnsafe(64 * 1024),
      hashFile: (fd, p) => hashes.hash(fd, p),
      maxDecompressedBytes: 1 << 30,
      maxMetaBytes: 1 << 20,
      requireHexCommit: false,
    });
    for (let turn = 0; turn < 20; turn++) await nextTurn();
    const scan = scanned._unsafeUnwrap();
    expect({ commit: scan.commit, problem: scan.problem?.code }).toEqual({ commit: undefined, problem: 'TAR_TRUNCATED' });
    expect(unobserved).toEqual({ rejections: [], exceptions: [] });
  });
});
