/**
 * The backfill read a tarball's commit through one open of its path and
 * hashed it through another, on a hashing thread: a tarball renamed over
 * the path in between got a row with the first file's commit and the
 * second file's hash and size. The hashing thread now reads the file the
 * probe opened.
 *
 * The swap is made deterministic by test/support/path-swap.ts.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { swapAfterOpen, swapped } from '../../support/path-swap.js';
import { needTools, run } from '../../support/tmp.js';
import { COMMIT, scratch } from './episode-tree.js';

const tools = needTools('sha256sum');
const { backfillIndex } = await import('../../../src/index-backfill/index.js');
const { buildEpisodeTarball } = await import('../../../src/testing/episode-tarball.js');

describe.skipIf(tools.missing)('backfillIndex reads each tarball through one open file', () => {
  it(tools.title('a tarball renamed over the path after it was opened: the row is the first file’s hash, size and commit'), async () => {
    const dir = scratch('path-swap');
    const root = join(dir, 'episodes');
    const path = join(root, 'h', 'ep-1.tar.zst');
    const other = join(dir, 'other.tar.zst');
    (
      await buildEpisodeTarball({ meta: { code_version: { commit: COMMIT } }, files: { 'a.bin': Buffer.alloc(1000, 1) }, path })
    )._unsafeUnwrap();
    const sha256 = run('sha256sum', [path]).slice(0, 64);
    const size = statSync(path).size;
    const otherCommit = 'f'.repeat(40);
    (
      await buildEpisodeTarball({ meta: { code_version: { commit: otherCommit } }, files: { 'b.bin': Buffer.alloc(5000, 2) }, path: other })
    )._unsafeUnwrap();
    expect(run('sha256sum', [other]).slice(0, 64)).not.toBe(sha256);
    swapAfterOpen(path, other);
    const report = (await backfillIndex({ episodesRoot: root, index: join(dir, 'index.jsonl'), dryRun: true }))._unsafeUnwrap();
    expect(swapped()).toBe(true);
    expect(report.rows).toHaveLength(1);
    expect(report.rows[0]).toMatchObject({ sha256, size_bytes: size, commit: COMMIT });
  });
});
