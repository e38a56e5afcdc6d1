/**
 * Options at their edges must be refused up front with INVALID_ARGUMENT, not
 * turn into a skipped tarball per episode or a garbage row in the
 * append-only index (which cannot be taken back).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { COMMIT, scratch } from './episode-tree.js';

async function oneEpisode(prefix: string): Promise<{ root: string; index: string }> {
  const dir = scratch(prefix);
  const root = join(dir, 'episodes');
  (await buildEpisodeTarball({ meta: { code_version: { commit: COMMIT } }, path: join(root, 'h', 'ep-1.tar.zst') }))._unsafeUnwrap();
  return { root, index: join(dir, 'index.jsonl') };
}

describe('backfillIndex option edges', () => {
  it.each([2 ** 31, 2 ** 40])('readChunkBytes %d is INVALID_ARGUMENT before any tarball is read', async (readChunkBytes) => {
    const { root, index } = await oneEpisode('chunk');
    const r = await backfillIndex({ episodesRoot: root, index, readChunkBytes });
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toContain('readChunkBytes');
    expect(existsSync(index)).toBe(false);
  });

  it.each([
    ['an invalid Date', () => new Date(Number.NaN)],
    ['a year past 9999', () => new Date('+010000-01-01T00:00:00Z')],
    ['a number', () => Date.now() as unknown as Date],
  ])('a clock giving %s is INVALID_ARGUMENT, and nothing is appended', async (_what, now) => {
    const { root, index } = await oneEpisode('clock');
    const r = await backfillIndex({ episodesRoot: root, index, now });
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toContain('now');
    expect(existsSync(index) ? (await import('node:fs')).readFileSync(index, 'utf8') : '').toBe('');
  });
});
