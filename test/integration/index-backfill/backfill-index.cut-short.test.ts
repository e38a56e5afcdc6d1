/**
 * An episode tarball whose zstd stream is cut short after its `meta.json`
 * (a copy or upload that stopped part-way), or that has bytes after its
 * last frame. The search for `meta.json` stops decompressing once it has
 * the commit, so the damage past that point went unseen: the row got the
 * commit, no warning, and the CLI exited 0, with the hash and size of a
 * file that is not the episode. `zstd -t` refuses such a file, and the
 * runbook's tool, whose `zstd -d` fails on it, writes its row without
 * commit; the README promises a truncated tarball a row without commit
 * and a warning.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { COMMIT, hasZstd, maskTimes, peerAvailable, peerSkipReason, read, runPeer, scratch } from './episode-tree.js';

describe('backfillIndex and a zstd stream damaged past meta.json', () => {
  it('gives a tarball cut short, or with bytes after its last frame, a row without commit and a warning, as zstd -t and the runbook’s tool see it', async () => {
    const dir = scratch('cut-short');
    const root = join(dir, 'episodes');
    const path = (id: string): string => join(root, 'h', `${id}.tar.zst`);
    const build = async (id: string): Promise<Buffer> =>
      (
        await buildEpisodeTarball({
          path: path(id),
          meta: { code_version: { commit: COMMIT } },
          files: { 'frames.bin': randomBytes(600_000) },
        })
      )._unsafeUnwrap().bytes;
    await build('a-whole');
    const cut = await build('b-cut');
    writeFileSync(path('b-cut'), cut.subarray(0, cut.length >> 1));
    const trailed = await build('c-trailing');
    writeFileSync(path('c-trailing'), Buffer.concat([trailed, Buffer.from('not a zstd frame, left after the last one\n')]));
    await build('d-whole');

    if (hasZstd) {
      // The independent tool's verdict on each file.
      const tested = (id: string): number | null => spawnSync('zstd', ['-q', '-t', path(id)], { stdio: 'ignore' }).status;
      expect([tested('a-whole'), tested('d-whole')]).toEqual([0, 0]);
      expect(tested('b-cut')).not.toBe(0);
      expect(tested('c-trailing')).not.toBe(0);
    }

    const index = join(dir, 'index.jsonl');
    const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect(report.rows.map((r) => [r.episode_id, r.commit])).toEqual([
      ['a-whole', COMMIT],
      ['b-cut', undefined],
      ['c-trailing', undefined],
      ['d-whole', COMMIT],
    ]);
    const warned = new Map(report.warnings.map((w) => [w.path, w.code]));
    expect(warned.get(path('b-cut'))).toBe('COMPRESSION_TRUNCATED');
    expect(warned.get(path('c-trailing'))).toBe('COMPRESSION_CORRUPT');
    expect(report.warnings).toHaveLength(2);
    // The hash and size are still the file's, as the runbook's tool writes them.
    const cutRow = report.rows[1]!;
    expect(cutRow.size_bytes).toBe(cut.length >> 1);

    if (!peerAvailable) {
      console.warn(`[index-backfill] peer comparison of damaged zstd streams skipped: ${peerSkipReason}`);
      return;
    }
    const peer = runPeer(['--episodes-root', root, '--index', join(dir, 'peer.jsonl')]);
    expect(peer.status, peer.stderr).toBe(0);
    expect(maskTimes(read(index))).toBe(maskTimes(readFileSync(join(dir, 'peer.jsonl'), 'utf8')));
  }, 30_000);
});
