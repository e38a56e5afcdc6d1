/**
 * Episode tarballs whose tar headers a hostile or broken lab host wrote by
 * hand: one of them must never stop the run or the rows after it.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { maskTimes, peerAvailable, peerSkipReason, read, runPeer, scratch } from './episode-tree.js';

/** One ustar header block. */
function header(name: string, size: number, type: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write(type, 156);
  h.write('ustar\u000000', 257);
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

const padded = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
const member = (name: string, data: Buffer, type = '0'): Buffer => Buffer.concat([header(name, data.length, type), padded(data)]);
const meta = (digit: string): Buffer => Buffer.from(JSON.stringify({ code_version: { commit: digit.repeat(40) } }));
const END = Buffer.alloc(1024);

describe('backfillIndex and hand-made tar headers', () => {
  it('a directory entry that claims a size neither stops the run nor holds back the rows after it', async () => {
    const dir = scratch('hostile-tar');
    const root = join(dir, 'episodes');
    mkdirSync(join(root, 'h'), { recursive: true });
    const tarball = (id: string, tar: Buffer): void => writeFileSync(join(root, 'h', `${id}.tar.zst`), zstdCompressSync(tar));
    tarball('a-before', Buffer.concat([member('meta.json', meta('a')), END]));
    // Python's tarfile (like tar-stream) reads what follows a directory header as the next header, whatever its size says.
    const hidden = member('x/meta.json', meta('b'));
    tarball('b-dir-with-size', Buffer.concat([header('d/', hidden.length, '5'), hidden, member('meta.json', meta('c')), END]));
    tarball('c-after', Buffer.concat([member('meta.json', meta('d')), END]));

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
