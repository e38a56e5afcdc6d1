/**
 * What a hostile or muddled episode tree must not do to the index backfill:
 * symbolic links that lead out of the episodes root, and one episode id on
 * several hosts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { cli } from '../cli/cli-harness.js';
import { COMMIT, scratch } from './episode-tree.js';

const sha256sum = (path: string): string => spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0]!;

async function tarball(path: string, fill: number): Promise<void> {
  (
    await buildEpisodeTarball({ meta: { code_version: { commit: COMMIT } }, files: { 'f.bin': Buffer.alloc(3000 + fill, fill) }, path })
  )._unsafeUnwrap();
}

/**
 * `episodes/h/{ep-0000,ep-0001}` plus, outside the root, `outside/secret-host/ep-x`
 * and `outside/ep-y`, reached through `episodes/linked-host` and
 * `episodes/h/ep-y.tar.zst`; `episodes/h/ep-alias.tar.zst` links inside the root.
 */
async function linkedTree(): Promise<{ dir: string; root: string; outside: string }> {
  const dir = scratch('links');
  const root = join(dir, 'episodes');
  const outside = join(dir, 'outside');
  await tarball(join(root, 'h', 'ep-0000.tar.zst'), 0);
  await tarball(join(root, 'h', 'ep-0001.tar.zst'), 1);
  await tarball(join(outside, 'secret-host', 'ep-x.tar.zst'), 2);
  await tarball(join(outside, 'ep-y.tar.zst'), 3);
  symlinkSync(join(outside, 'secret-host'), join(root, 'linked-host'));
  symlinkSync(join(outside, 'ep-y.tar.zst'), join(root, 'h', 'ep-y.tar.zst'));
  symlinkSync(join(root, 'h', 'ep-0000.tar.zst'), join(root, 'h', 'ep-alias.tar.zst'));
  return { dir, root, outside };
}

const ids = (rows: readonly { host_id: string; episode_id: string }[]): string[] => rows.map((r) => `${r.host_id}/${r.episode_id}`);

describe('backfillIndex and symbolic links', () => {
  it('does not follow links out of the episodes root: they are reported, hashed nowhere, and get no row', async () => {
    const { dir, root } = await linkedTree();
    const index = join(dir, 'index.jsonl');
    const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect(ids(report.rows)).toEqual(['h/ep-0000', 'h/ep-0001', 'h/ep-alias']);
    expect(report.symlinksNotFollowed).toEqual([join(root, 'h', 'ep-y.tar.zst'), join(root, 'linked-host')]);
    expect(report.warnings.map((w) => [w.code, w.path])).toEqual([
      ['SYMLINK_OUTSIDE_ROOT', join(root, 'h', 'ep-y.tar.zst')],
      ['SYMLINK_OUTSIDE_ROOT', join(root, 'linked-host')],
    ]);
    expect(report.warnings[0]!.message).toMatch(/outside the episodes root .*not followed.*--follow-symlinks/);
    // A link that stays inside the root is followed: the alias hashes as its target.
    expect(report.rows[2]!.sha256).toBe(sha256sum(join(root, 'h', 'ep-0000.tar.zst')));
    expect(readFileSync(index, 'utf8')).not.toMatch(/ep-x|ep-y/);
  });

  it('follows them when asked (followSymlinks), hashing the targets', async () => {
    const { dir, root, outside } = await linkedTree();
    const report = (await backfillIndex({ episodesRoot: root, index: join(dir, 'index.jsonl'), followSymlinks: true }))._unsafeUnwrap();
    expect(ids(report.rows)).toEqual(['h/ep-0000', 'h/ep-0001', 'h/ep-alias', 'h/ep-y', 'linked-host/ep-x']);
    expect(report.symlinksNotFollowed).toEqual([]);
    expect(report.rows[3]!.sha256).toBe(sha256sum(join(outside, 'ep-y.tar.zst')));
    expect(report.rows[4]!.sha256).toBe(sha256sum(join(outside, 'secret-host', 'ep-x.tar.zst')));
  });

  it('takes a root given through a link as the boundary it leads to', async () => {
    const { dir, root } = await linkedTree();
    const viaLink = join(dir, 'episodes-link');
    symlinkSync(root, viaLink);
    const report = (await backfillIndex({ episodesRoot: viaLink, index: join(dir, 'index.jsonl'), dryRun: true }))._unsafeUnwrap();
    expect(ids(report.rows)).toEqual(['h/ep-0000', 'h/ep-0001', 'h/ep-alias']);
    expect(report.symlinksNotFollowed).toHaveLength(2);
  });

  it('takes a name beginning with two dots (`..lab`) inside the root for inside, for the walk and for the file opened', async () => {
    const dir = scratch('dotdot');
    const root = join(dir, 'episodes');
    await tarball(join(root, '..lab', 'ep-0000.tar.zst'), 0);
    await tarball(join(root, 'h', '..ep-0001.tar.zst'), 1);
    symlinkSync(join(root, '..lab', 'ep-0000.tar.zst'), join(root, 'h', 'ep-alias.tar.zst'));
    const report = (await backfillIndex({ episodesRoot: root, index: join(dir, 'index.jsonl') }))._unsafeUnwrap();
    expect(ids(report.rows)).toEqual(['..lab/ep-0000', 'h/..ep-0001', 'h/ep-alias']);
    expect(report.warnings).toEqual([]);
    expect(report.symlinksNotFollowed).toEqual([]);
  });

  it('the CLI reports them and exits 4 unless --follow-symlinks is given', async () => {
    const { dir, root } = await linkedTree();
    const refused = await cli(['index', 'backfill', '--episodes-root', root, '--index', join(dir, 'a.jsonl'), '--dry-run']);
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stdout).toContain('2 symbolic links out of the episodes root not followed (--follow-symlinks follows them).');
    const followed = await cli([
      'index',
      'backfill',
      '--episodes-root',
      root,
      '--index',
      join(dir, 'b.jsonl'),
      '--dry-run',
      '--follow-symlinks',
    ]);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout).toContain('scanned: 5 already-indexed: 0 to-backfill: 5');
  });
});

describe('backfillIndex and a host directory swapped for a link after the walk', () => {
  const onLinux = existsSync('/proc/self/fd');
  it.skipIf(!onLinux)(
    `does not read the file the link leads to outside the root${onLinux ? '' : ' (skipped: needs /proc/self/fd)'}`,
    async () => {
      const dir = scratch('host-swap');
      const root = join(dir, 'episodes');
      await tarball(join(root, 'a', 'ep-0000.tar.zst'), 0);
      await tarball(join(root, 'b', 'ep-0001.tar.zst'), 1);
      await tarball(join(dir, 'outside', 'ep-0001.tar.zst'), 2); // what the link leads to
      const report = (
        await backfillIndex({
          episodesRoot: root,
          index: join(dir, 'index.jsonl'),
          concurrency: 1,
          onProgress: ({ done }) => {
            if (done !== 1) return;
            // Once host a is done, host b (already listed) becomes a link out of the root.
            renameSync(join(root, 'b'), join(dir, 'b-moved'));
            symlinkSync(join(dir, 'outside'), join(root, 'b'));
          },
        })
      )._unsafeUnwrap();
      expect(ids(report.rows)).toEqual(['a/ep-0000']);
      expect(report.skipped).toBe(1);
      expect(report.warnings.map((w) => [w.code, w.path])).toEqual([['IO_ERROR', join(root, 'b', 'ep-0001.tar.zst')]]);
      expect(report.warnings[0]!.message).toMatch(/outside the episodes root/);
      expect(readFileSync(join(dir, 'index.jsonl'), 'utf8')).not.toContain(sha256sum(join(dir, 'outside', 'ep-0001.tar.zst')));
    },
  );
});

describe('backfillIndex and one episode id on several hosts', () => {
  async function twoHosts(): Promise<{ dir: string; root: string }> {
    const dir = scratch('dup-hosts');
    const root = join(dir, 'episodes');
    await tarball(join(root, 'lab-01', 'ep-7.tar.zst'), 1);
    await tarball(join(root, 'lab-02', 'ep-7.tar.zst'), 2);
    await tarball(join(root, 'lab-02', 'ep-8.tar.zst'), 3);
    return { dir, root };
  }

  it('reports the id, its hosts and tarballs when neither is indexed (each gets a row, as the runbook tool writes them)', async () => {
    const { dir, root } = await twoHosts();
    const report = (await backfillIndex({ episodesRoot: root, index: join(dir, 'index.jsonl') }))._unsafeUnwrap();
    expect(ids(report.rows)).toEqual(['lab-01/ep-7', 'lab-02/ep-7', 'lab-02/ep-8']);
    expect(report.duplicateEpisodes).toEqual([
      {
        episodeId: 'ep-7',
        hosts: ['lab-01', 'lab-02'],
        paths: [join(root, 'lab-01', 'ep-7.tar.zst'), join(root, 'lab-02', 'ep-7.tar.zst')],
        alreadyIndexed: false,
      },
    ]);
    expect(report.warnings.map((w) => w.code)).toEqual(['EPISODE_ID_DUPLICATE']);
    expect(report.warnings[0]!.message).toMatch(
      /episode ep-7 is on 2 hosts .*each got its own row, so the index now lists it 2 times\. Keep the genuine tarball/,
    );
  });

  it('says that the tarballs got no row of their own when the id is already indexed', async () => {
    const { dir, root } = await twoHosts();
    const index = join(dir, 'index.jsonl');
    writeFileSync(index, '{"episode_id": "ep-7", "host_id": "lab-01"}\n');
    const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect(ids(report.rows)).toEqual(['lab-02/ep-8']);
    expect(report.duplicateEpisodes).toMatchObject([{ episodeId: 'ep-7', hosts: ['lab-01', 'lab-02'], alreadyIndexed: true }]);
    expect(report.warnings[0]!.message).toMatch(
      /already has a row for it, so every one of these counts as indexed and none got a row of its own/,
    );
  });

  it('the CLI names the ids and exits 4', async () => {
    const { dir, root } = await twoHosts();
    mkdirSync(join(dir, 'out'));
    const r = await cli(['index', 'backfill', '--episodes-root', root, '--index', join(dir, 'out', 'index.jsonl')]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toContain('warning EPISODE_ID_DUPLICATE: episode ep-7 is on 2 hosts');
    expect(r.stdout).toContain('1 episode id is on more than one host: ep-7.');
    expect(
      readFileSync(join(dir, 'out', 'index.jsonl'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(3);
  });
});
