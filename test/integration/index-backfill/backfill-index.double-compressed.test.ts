/**
 * Tarballs compressed twice (a `.tar.gz` put through zstd, or gzipped
 * again): the runbook's tool opens what `zstd -d` gives with
 * `tarfile.open`, which reads a gzip-compressed tar as well, so it finds
 * their commit, and so must the backfill, with its bomb guard on the inner
 * stream too.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { tarMember } from '../../support/tar-blocks.js';
import { COMMIT, maskTimes, peerAvailable, peerSkipReason, read, runPeer, scratch } from './episode-tree.js';

/** A plain tar holding `files`, then `meta.json`. */
function plainTar(files: Record<string, Buffer>): Buffer {
  const meta = Buffer.from(JSON.stringify({ code_version: { commit: COMMIT } }));
  return Buffer.concat([
    ...Object.entries(files).map(([name, data]) => tarMember(name, data)),
    tarMember('meta.json', meta),
    Buffer.alloc(1024),
  ]);
}

describe('backfillIndex and tarballs compressed twice', () => {
  it('finds the commit of a gzip tar inside zstd or inside gzip, as the runbook tool does', async () => {
    const dir = scratch('double');
    const root = join(dir, 'episodes');
    mkdirSync(join(root, 'h'), { recursive: true });
    const tar = plainTar({ 'data.bin': Buffer.alloc(300_000, 7) });
    writeFileSync(join(root, 'h', 'gz-in-gz.tar.zst'), gzipSync(gzipSync(tar)));
    writeFileSync(join(root, 'h', 'gz-in-zstd.tar.zst'), zstdCompressSync(gzipSync(tar)));
    writeFileSync(join(root, 'h', 'once.tar.zst'), zstdCompressSync(tar));
    const index = join(dir, 'index.jsonl');
    const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect(report.warnings).toEqual([]);
    expect(report.rows.map((r) => [r.episode_id, r.commit])).toEqual([
      ['gz-in-gz', COMMIT],
      ['gz-in-zstd', COMMIT],
      ['once', COMMIT],
    ]);
    expect(readFileSync(index, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);

    if (!peerAvailable) {
      console.warn(`[index-backfill] peer comparison of tarballs compressed twice skipped: ${peerSkipReason}`);
      return;
    }
    const peer = runPeer(['--episodes-root', root, '--index', join(dir, 'peer.jsonl')]);
    expect(peer.status, peer.stderr).toBe(0);
    expect(maskTimes(read(index))).toBe(maskTimes(read(join(dir, 'peer.jsonl'))));
  });

  it('holds the inner stream to maxDecompressedBytes as well (a bomb inside the outer compression)', async () => {
    const dir = scratch('double-bomb');
    const root = join(dir, 'episodes');
    mkdirSync(join(root, 'h'), { recursive: true });
    // 4 MiB of zeros before meta.json: a few KiB of gzip, which zstd shrinks further.
    const tar = plainTar({ 'zeros.bin': Buffer.alloc(4 << 20) });
    const inner = gzipSync(tar);
    expect(inner.length).toBeLessThan(64 * 1024);
    writeFileSync(join(root, 'h', 'bomb.tar.zst'), zstdCompressSync(inner));
    const report = (
      await backfillIndex({ episodesRoot: root, index: join(dir, 'index.jsonl'), dryRun: true, maxDecompressedBytes: 1 << 20 })
    )._unsafeUnwrap();
    expect(report.rows.map((r) => [r.episode_id, r.commit])).toEqual([['bomb', undefined]]);
    expect(report.warnings.map((w) => w.code)).toEqual(['SIZE_LIMIT_EXCEEDED']);
    expect(report.warnings[0]!.message).toContain('gzip stream inside the zstd one');
  });
});
