import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { ISO_PY, buildTree, copyTree, maskTimes, peerAvailable, peerSkipReason, read, runPeer, scratch } from './episode-tree.js';

type Row = Record<string, unknown>;
const rowsOf = (text: string, skip: number): Row[] =>
  text
    .split('\n')
    .slice(skip)
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Row);

describe.skipIf(!peerAvailable)(
  `backfillIndex vs the runbook tool's index_backfill.py${peerAvailable ? '' : ` (skipped: ${peerSkipReason})`}`,
  () => {
    it('appends the same rows, field by field and byte for byte (received_at_wall aside), in the same order', async () => {
      const dir = scratch('peer');
      const { existingLines } = await buildTree(join(dir, 'lib'));
      copyTree(join(dir, 'lib'), join(dir, 'py'));

      const result = await backfillIndex({
        episodesRoot: join(dir, 'lib', 'episodes'),
        index: join(dir, 'lib', 'index.jsonl'),
        concurrency: 3,
      });
      const report = result._unsafeUnwrap();
      const peer = runPeer(['--episodes-root', join(dir, 'py', 'episodes'), '--index', join(dir, 'py', 'index.jsonl')]);
      expect(peer.status, peer.stderr).toBe(0);
      expect(peer.stdout.split('\n')[0]).toBe(
        `scanned: ${report.scanned} already-indexed: ${report.alreadyIndexed} to-backfill: ${report.toBackfill}`,
      );

      const ours = read(join(dir, 'lib', 'index.jsonl'));
      const theirs = read(join(dir, 'py', 'index.jsonl'));
      // Existing lines, including the malformed one, are kept as they were.
      expect(ours.startsWith(existingLines)).toBe(true);
      const skip = existingLines.split('\n').length - 1;
      const ourRows = rowsOf(ours, skip);
      const theirRows = rowsOf(theirs, skip);
      expect(ourRows.length).toBe(theirRows.length);
      expect(ourRows.length).toBe(report.toBackfill);
      ourRows.forEach((row, i) => {
        const peerRow = theirRows[i]!;
        expect(Object.keys(row).sort()).toEqual(Object.keys(peerRow).sort());
        for (const key of Object.keys(peerRow)) {
          if (key === 'received_at_wall') expect(row[key]).toMatch(ISO_PY);
          else
            expect({ key, episode: row['episode_id'], value: row[key] }).toEqual({
              key,
              episode: peerRow['episode_id'],
              value: peerRow[key],
            });
        }
      });
      // The serialized lines have exactly the same shape: key order, separators, escapes.
      expect(maskTimes(ours)).toBe(maskTimes(theirs));
      expect(report.rows.map((r) => r.episode_id)).toEqual(theirRows.map((r) => r['episode_id']));

      // The cases the issue names.
      const byId = new Map(ourRows.map((r) => [`${String(r['host_id'])}/${String(r['episode_id'])}`, r]));
      expect(byId.get('lab-01/ep-0003')?.['commit']).toBe('abcdef0123456789abcdef0123456789abcdef01');
      expect(byId.get('lab-02/ep-corrupt')).toBeDefined();
      expect(byId.get('lab-02/ep-corrupt')?.['commit']).toBeUndefined();
      expect(byId.get('lab-02/ep-nometa')?.['commit']).toBeUndefined();
      expect(byId.has('lab-01/ep-0001')).toBe(false);
      expect(byId.has('lab-02/ep-0100')).toBe(false);
      const warned = report.warnings.map((w) => `${w.code} ${w.path.split('/').slice(-2).join('/')}`);
      expect(report.warnings.filter((w) => w.code === 'JSON_MALFORMED').map((w) => w.line)).toEqual([2]);
      expect(warned.some((w) => w.endsWith('lab-02/ep-corrupt.tar.zst') && /^COMPRESSION_/.test(w))).toBe(true);
      expect(warned).toContain('EPISODE_META_INVALID lab-02/ep-nometa.tar.zst');
    });

    it('matches the peer with --host and on a second run (which appends nothing)', async () => {
      const dir = scratch('host');
      await buildTree(join(dir, 'lib'));
      copyTree(join(dir, 'lib'), join(dir, 'py'));
      const lib = { episodesRoot: join(dir, 'lib', 'episodes'), index: join(dir, 'lib', 'index.jsonl') };
      const py = ['--episodes-root', join(dir, 'py', 'episodes'), '--index', join(dir, 'py', 'index.jsonl')];

      const first = (await backfillIndex({ ...lib, host: 'lab-01' }))._unsafeUnwrap();
      expect(runPeer([...py, '--host', 'lab-01']).stdout.split('\n')[0]).toBe(
        `scanned: ${first.scanned} already-indexed: ${first.alreadyIndexed} to-backfill: ${first.toBackfill}`,
      );
      expect(maskTimes(read(lib.index))).toBe(maskTimes(read(join(dir, 'py', 'index.jsonl'))));
      expect(first.rows.every((r) => r.host_id === 'lab-01')).toBe(true);

      await backfillIndex(lib);
      runPeer(py);
      const before = read(lib.index);
      expect(maskTimes(before)).toBe(maskTimes(read(join(dir, 'py', 'index.jsonl'))));
      const again = (await backfillIndex(lib))._unsafeUnwrap();
      expect(again.toBackfill).toBe(0);
      expect(again.alreadyIndexed).toBe(again.scanned);
      expect(read(lib.index)).toBe(before);
      expect(runPeer(py).stdout).toBe(`scanned: ${again.scanned} already-indexed: ${again.scanned} to-backfill: 0\n`);
    });
  },
);
