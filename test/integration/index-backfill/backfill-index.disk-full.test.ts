/**
 * The index's disk fills up during a backfill: a row cut short by the full
 * disk stayed in the index as part of a line, and the receiver's next row
 * was glued onto it (both unreadable). The run must stop before a row that
 * does not fit, leaving whole lines only, and a run after space is freed
 * must append the rest. Needs a small tmpfs, so root with mount rights.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { scratch, smallTree } from './episode-tree.js';

const mountPoint = scratch('disk-full-mnt');
const mounted =
  process.geteuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint], { stdio: 'ignore' }).status === 0;

afterAll(() => {
  if (mounted) spawnSync('umount', [mountPoint], { stdio: 'ignore' });
});

function rowsOf(text: string): { episode_id: string }[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { episode_id: string });
}

describe('backfillIndex when the index’s disk is full', () => {
  it('stops before a row that does not fit, leaving whole lines only, and a later run appends the rest', async (ctx) => {
    if (!mounted) ctx.skip('skipped: needs root allowed to mount a 64 KiB tmpfs');
    const ids = Array.from({ length: 40 }, (_, i) => `ep${String(i).padStart(3, '0')}`);
    const { root } = await smallTree('disk-full', ids);
    const index = join(mountPoint, 'index.jsonl');
    writeFileSync(index, '');
    // Two pages left: room for a dozen or so rows of the 40.
    const filler = join(mountPoint, 'filler');
    writeFileSync(filler, Buffer.alloc(64 * 1024 - 2 * 4096));

    const first = await backfillIndex({ episodesRoot: root, index, concurrency: 2 });
    const error = first._unsafeUnwrapErr();
    expect(error.code).toBe('IO_ERROR');
    expect(error.message).toContain('free');
    const text = readFileSync(index, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const written = rowsOf(text); // every line parses: none was cut short
    expect(written.length).toBe(error.partial?.appended);
    expect(written.length).toBeGreaterThan(0);
    expect(written.length).toBeLessThan(ids.length);

    rmSync(filler);
    const second = (await backfillIndex({ episodesRoot: root, index, concurrency: 2 }))._unsafeUnwrap();
    expect(second.appended).toBe(ids.length - written.length);
    expect(rowsOf(readFileSync(index, 'utf8')).map((r) => r.episode_id)).toEqual(ids);
  });
});
