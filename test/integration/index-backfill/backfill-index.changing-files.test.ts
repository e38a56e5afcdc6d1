/**
 * A tarball still being written while the backfill reads it (a receiver
 * streaming an upload to its final name, a copy in progress): the row must
 * not record a hash and size of a state the file passes through.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { COMMIT, scratch } from './episode-tree.js';

const sha256sum = (path: string): string => spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0]!;

describe('backfillIndex and a tarball that grows while it is read', () => {
  it('writes no row for it, and a later run indexes the finished file', async () => {
    const dir = scratch('growing');
    const root = join(dir, 'episodes');
    const path = join(root, 'h', 'ep-growing.tar.zst');
    const files = { 'frames.bin': randomBytes(2_000_000) }; // incompressible, so the tarball is as large
    (await buildEpisodeTarball({ meta: { code_version: { commit: COMMIT } }, files, path }))._unsafeUnwrap();
    // The writer appends 64 bytes every 5 ms for as long as the run goes on, while small reads keep the hashing
    // slow. It runs in this process, beside the hashing thread, and stops with the run: a shell loop forking
    // programs per append may not get to append while the file is read on a loaded machine, and a child it
    // forked can still append after the loop is killed, while the rerun reads the file.
    // Each append is a skippable zstd frame of 64 bytes, so the file stays what `zstd -t` accepts at every step.
    const skippable = Buffer.alloc(64);
    skippable.writeUInt32LE(0x184d2a50, 0);
    skippable.writeUInt32LE(56, 4);
    const writer = setInterval(() => appendFileSync(path, skippable), 5);
    const index = join(dir, 'index.jsonl');
    const report = await backfillIndex({ episodesRoot: root, index, readChunkBytes: 64 });
    clearInterval(writer);
    expect(report.isOk()).toBe(true);
    const first = report._unsafeUnwrap();
    expect(first.rows).toEqual([]);
    expect(first.skipped).toBe(1);
    expect(first.warnings.map((w) => w.path)).toEqual([path]);
    expect(first.warnings[0]!.message).toMatch(/changed while/);

    const rerun = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect(rerun.rows).toHaveLength(1);
    expect(rerun.rows[0]).toMatchObject({ sha256: sha256sum(path), size_bytes: statSync(path).size, commit: COMMIT });
    expect(readFileSync(index, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
  }, 60_000);
});

describe('backfillIndex and an upload the receiver finishes and indexes while the run goes on', () => {
  it('drops the row it would have added, so the episode is listed once', async () => {
    const dir = scratch('indexed-meanwhile');
    const root = join(dir, 'episodes');
    const tarball = async (id: string): Promise<Buffer> =>
      (
        await buildEpisodeTarball({
          meta: { code_version: { commit: COMMIT } },
          files: { 'frames.bin': randomBytes(5000) },
          path: join(root, 'h', `${id}.tar.zst`),
        })
      )._unsafeUnwrap().bytes;
    await tarball('ep-a');
    await tarball('ep-c');
    const upload = await tarball('ep-b');
    writeFileSync(join(root, 'h', 'ep-b.tar.zst'), upload.subarray(0, 100)); // still arriving when the run reads the index
    const index = join(dir, 'index.jsonl');
    const receiverRow = '{"backfilled": false, "episode_id": "ep-b", "host_id": "h", "sha256": "from-the-receiver"}';
    writeFileSync(index, '{"episode_id": "ep-0", "host_id": "h"}\n');

    const report = (
      await backfillIndex({
        episodesRoot: root,
        index,
        concurrency: 1,
        onProgress: ({ done }) => {
          if (done !== 1) return;
          // The receiver completes the upload and appends its row, before the run reaches ep-b.
          writeFileSync(join(root, 'h', 'ep-b.tar.zst'), upload);
          appendFileSync(index, `${receiverRow}\n`);
        },
      })
    )._unsafeUnwrap();
    expect(report.rows.map((r) => r.episode_id)).toEqual(['ep-a', 'ep-c']);
    expect([report.scanned, report.alreadyIndexed, report.toBackfill, report.appended]).toEqual([3, 1, 2, 2]);
    const ids = readFileSync(index, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { episode_id: string }).episode_id);
    expect(ids).toEqual(['ep-0', 'ep-a', 'ep-b', 'ep-c']);
  });
});
