/**
 * Episode and host names that are not valid UTF-8, next to look-alikes
 * spelled with U+FFFD: each file is its own episode, read once, with its
 * own hash, named as the runbook's tool names it (`surrogateescape`).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex, formatIndexRow } from '../../../src/index-backfill/index.js';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { maskTimes, peerAvailable, peerSkipReason, read, runPeer, scratch } from './episode-tree.js';

const bytesPath = (...parts: (string | Buffer)[]): Buffer =>
  Buffer.from(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)).reduce((a, b) => Buffer.concat([a, Buffer.from('/'), b])));

async function episode(commitDigit: string, fill: number): Promise<Buffer> {
  return (
    await buildEpisodeTarball({
      meta: { code_version: { commit: commitDigit.repeat(40) } },
      files: { 'f.bin': Buffer.alloc(2000 + fill, fill) },
    })
  )._unsafeUnwrap().bytes;
}

const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/**
 * `episodes/h/x\xff.tar.zst` beside `episodes/h/x\u{fffd}.tar.zst`, and hosts
 * `h\xfe` and `h\u{fffd}` with one episode each; every tarball is different.
 */
async function tree(): Promise<{ dir: string; root: string; files: Map<string, Buffer> }> {
  const dir = scratch('names');
  const root = join(dir, 'episodes');
  const files = new Map<string, Buffer>();
  const put = async (key: string, host: Buffer, name: Buffer, commitDigit: string, fill: number): Promise<void> => {
    mkdirSync(bytesPath(root, host), { recursive: true });
    const bytes = await episode(commitDigit, fill);
    writeFileSync(bytesPath(root, host, name), bytes);
    files.set(key, bytes);
  };
  const h = Buffer.from('h');
  await put('h/x\\udcff', h, Buffer.from([0x78, 0xff, ...Buffer.from('.tar.zst')]), 'a', 1);
  await put('h/x\\ufffd', h, Buffer.from('x\u{fffd}.tar.zst'), 'b', 2);
  await put('h\\udcfe/e', Buffer.from([0x68, 0xfe]), Buffer.from('e.tar.zst'), 'c', 3);
  await put('h\\ufffd/e2', Buffer.from('h\u{fffd}'), Buffer.from('e2.tar.zst'), 'd', 4);
  return { dir, root, files };
}

describe('backfillIndex and file names that are not valid UTF-8', () => {
  it('indexes each file once, with its own hash and commit, under the name the runbook tool gives it', async () => {
    const { dir, root, files } = await tree();
    const index = join(dir, 'index.jsonl');
    const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect(report.warnings).toEqual([]);
    expect(report.duplicateEpisodes).toEqual([]);
    const lines = readFileSync(index, 'utf8').split('\n').filter(Boolean);
    const rows = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    // Python's json.dumps escapes the escaped bytes as \udcXX.
    expect(lines.map((l) => `${/"host_id": "([^"]*)"/.exec(l)![1]}/${/"episode_id": "([^"]*)"/.exec(l)![1]}`)).toEqual([
      'h/x\\udcff',
      'h/x\\ufffd',
      'h\\udcfe/e',
      'h\\ufffd/e2',
    ]);
    expect(rows.map((r) => [r['sha256'], r['size_bytes'], r['commit']])).toEqual([
      [sha(files.get('h/x\\udcff')!), files.get('h/x\\udcff')!.length, 'a'.repeat(40)],
      [sha(files.get('h/x\\ufffd')!), files.get('h/x\\ufffd')!.length, 'b'.repeat(40)],
      [sha(files.get('h\\udcfe/e')!), files.get('h\\udcfe/e')!.length, 'c'.repeat(40)],
      [sha(files.get('h\\ufffd/e2')!), files.get('h\\ufffd/e2')!.length, 'd'.repeat(40)],
    ]);
    expect(lines).toEqual(report.rows.map(formatIndexRow));

    // A second run finds every one of them in the index.
    const again = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect([again.scanned, again.alreadyIndexed, again.toBackfill]).toEqual([4, 4, 0]);
  });

  it.skipIf(!peerAvailable)(
    `writes the same lines as the runbook's tool${peerAvailable ? '' : ` (skipped: ${peerSkipReason})`}`,
    async () => {
      const { dir, root } = await tree();
      // cp -a copies names as bytes (node:fs cpSync would re-encode them).
      expect(spawnSync('cp', ['-a', root, join(dir, 'py-episodes')]).status).toBe(0);
      (await backfillIndex({ episodesRoot: root, index: join(dir, 'ours.jsonl') }))._unsafeUnwrap();
      const peer = runPeer(['--episodes-root', join(dir, 'py-episodes'), '--index', join(dir, 'theirs.jsonl')]);
      expect(peer.status, peer.stderr).toBe(0);
      expect(maskTimes(read(join(dir, 'ours.jsonl')))).toBe(maskTimes(read(join(dir, 'theirs.jsonl'))));
      // Each tool finds the other's rows.
      const crossed = (await backfillIndex({ episodesRoot: root, index: join(dir, 'theirs.jsonl') }))._unsafeUnwrap();
      expect(crossed.toBackfill).toBe(0);
    },
  );
});
