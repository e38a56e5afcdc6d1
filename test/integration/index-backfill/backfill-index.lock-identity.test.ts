/**
 * The backfill lock belongs to the index file, not to the spelling of its
 * path: a second run that reaches the same index through a symbolic link to
 * the file must be refused while the first one runs, or both append the
 * same missing rows.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { COMMIT, scratch } from './episode-tree.js';

async function tree(dir: string, count: number): Promise<string> {
  const root = join(dir, 'episodes');
  for (let i = 0; i < count; i += 1) {
    const path = join(root, 'h', `ep-${String(i).padStart(4, '0')}.tar.zst`);
    (
      await buildEpisodeTarball({ meta: { code_version: { commit: COMMIT } }, files: { 'f.bin': Buffer.alloc(50_000 + i, i) }, path })
    )._unsafeUnwrap();
  }
  return root;
}

/** Runs `body` while a live process holds the lock of the index at `realIndex`. */
async function whileLocked(realIndex: string, body: () => Promise<void>): Promise<void> {
  const sleeper = spawn('sleep', ['30']);
  try {
    writeFileSync(`${realIndex}.backfill.lock`, `${sleeper.pid}\n${hostname()}\n`);
    await body();
  } finally {
    sleeper.kill();
    await new Promise((r) => sleeper.once('exit', r));
  }
}

const episodeIds = (index: string): string[] =>
  readFileSync(index, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { episode_id: string }).episode_id);

describe('backfillIndex lock and the index path', () => {
  it('is LOCKED when the index is reached through a link to the file while a run holds it', async () => {
    const dir = scratch('lock-filelink');
    const root = await tree(dir, 2);
    const realIndex = join(dir, 'index.jsonl');
    writeFileSync(realIndex, '');
    symlinkSync(realIndex, join(dir, 'index-link.jsonl'));
    await whileLocked(realIndex, async () => {
      const r = await backfillIndex({ episodesRoot: root, index: join(dir, 'index-link.jsonl') });
      expect(r.isErr() && r.error.code).toBe('LOCKED');
      expect(readFileSync(realIndex, 'utf8')).toBe('');
    });
  });

  it('is LOCKED too when that link leads to an index not created yet (the lock a run takes once it exists)', async () => {
    const dir = scratch('lock-danglinglink');
    const root = await tree(dir, 1);
    const realIndex = join(dir, 'index.jsonl');
    symlinkSync(realIndex, join(dir, 'index-link.jsonl'));
    await whileLocked(realIndex, async () => {
      const r = await backfillIndex({ episodesRoot: root, index: join(dir, 'index-link.jsonl') });
      expect(r.isErr() && r.error.code).toBe('LOCKED');
      expect(existsSync(realIndex)).toBe(false);
    });
  });

  it('two runs at once, one through a link, write each episode once', async () => {
    const dir = scratch('lock-race');
    const root = await tree(dir, 12);
    const realIndex = join(dir, 'index.jsonl');
    writeFileSync(realIndex, '');
    symlinkSync(realIndex, join(dir, 'index-link.jsonl'));
    const runs = await Promise.all([
      backfillIndex({ episodesRoot: root, index: realIndex, concurrency: 1 }),
      backfillIndex({ episodesRoot: root, index: join(dir, 'index-link.jsonl'), concurrency: 1 }),
    ]);
    for (const r of runs) if (r.isErr()) expect(r.error.code).toBe('LOCKED');
    const ids = episodeIds(realIndex);
    expect(ids).toHaveLength(12);
    expect(new Set(ids).size).toBe(12);
  });
});
