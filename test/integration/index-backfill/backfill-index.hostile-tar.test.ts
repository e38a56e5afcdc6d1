/**
 * Episode tarballs whose tar headers a hostile or broken lab host wrote by
 * hand: one of them must never stop the run or the rows after it.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { tarHeader, tarMember } from '../../support/tar-blocks.js';
import { maskTimes, peerAvailable, peerSkipReason, read, runPeer, scratch } from './episode-tree.js';

const meta = (digit: string): Buffer => Buffer.from(JSON.stringify({ code_version: { commit: digit.repeat(40) } }));
const END = Buffer.alloc(1024);

describe('backfillIndex and hand-made tar headers', () => {
  it('a directory entry that claims a size neither stops the run nor holds back the rows after it', async () => {
    const dir = scratch('hostile-tar');
    const root = join(dir, 'episodes');
    mkdirSync(join(root, 'h'), { recursive: true });
    const tarball = (id: string, tar: Buffer): void => writeFileSync(join(root, 'h', `${id}.tar.zst`), zstdCompressSync(tar));
    tarball('a-before', Buffer.concat([tarMember('meta.json', meta('a')), END]));
    // Python's tarfile (like tar-stream) reads what follows a directory header as the next header, whatever its size says.
    const hidden = tarMember('x/meta.json', meta('b'));
    tarball('b-dir-with-size', Buffer.concat([tarHeader('d/', hidden.length, '5'), hidden, tarMember('meta.json', meta('c')), END]));
    tarball('c-after', Buffer.concat([tarMember('meta.json', meta('d')), END]));

    const index = join(dir, 'index.jsonl');
    const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect(report.rows.map((r) => [r.episode_id, r.commit])).toEqual([
      ['a-before', 'a'.repeat(40)],
      ['b-dir-with-size', 'b'.repeat(40)],
      ['c-after', 'd'.repeat(40)],
    ]);
    expect(readFileSync(index, 'utf8').split('\n').filter(Boolean)).toHaveLength(3);

    if (!peerAvailable) {
      console.warn(`[index-backfill] peer comparison of the hand-made tarballs skipped: ${peerSkipReason}`);
      return;
    }
    const peer = runPeer(['--episodes-root', root, '--index', join(dir, 'peer.jsonl')]);
    expect(peer.status, peer.stderr).toBe(0);
    expect(maskTimes(read(index))).toBe(maskTimes(read(join(dir, 'peer.jsonl'))));
  }, 20_000);
});
