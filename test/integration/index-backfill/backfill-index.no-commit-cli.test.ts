/**
 * A truncated or corrupt tarball gets a row without `commit` in the
 * append-only index, and a rerun skips an episode the index already lists:
 * the row stays as it is. `backfill-kit index backfill` exited 0 then, with
 * a warning only, though exit 0 means full success. (The library keeps the
 * runbook tool's behaviour: a row without commit and a warning.)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { COMMIT, smallTree } from './episode-tree.js';

/** The bad tarball beside good ones, by how it is bad. */
const BAD: readonly { name: string; bytes: () => Promise<Buffer> }[] = [
  {
    name: 'truncated',
    bytes: async () => {
      const whole = (
        await buildEpisodeTarball({
          meta: { code_version: { commit: COMMIT } },
          metaLast: true,
          files: { 'big.bin': Buffer.alloc(200_000, 7) },
        })
      )._unsafeUnwrap().bytes;
      return whole.subarray(0, Math.floor(whole.length / 2));
    },
  },
  { name: 'not a tarball', bytes: async () => Buffer.from('not a tarball') },
  {
    name: 'without meta.json',
    bytes: async () => (await buildEpisodeTarball({ meta: null, files: { 'a.bin': Buffer.alloc(10) } }))._unsafeUnwrap().bytes,
  },
];

describe('index backfill: rows appended without commit', () => {
  it.for(BAD)('a $name tarball: exit 5, a line saying what to do, and --json ok false', async ({ bytes }) => {
    const { root, index } = await smallTree('no-commit', ['e1', 'e3']);
    writeFileSync(join(root, 'h', 'e2.tar.zst'), await bytes());
    const args = ['index', 'backfill', '--episodes-root', root, '--index', index];

    const dry = await cli([...args, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(5);
    expect(jsonOf(dry)).toMatchObject({ ok: false, exitCode: 5, error: null, report: { toBackfill: 3, appended: 0 } });

    const r = await cli(args);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stdout).toContain('backfilled 3 rows');
    expect(r.stdout).toContain('1 row appended without commit (see the warnings). A rerun will not add the commit');
    const rows = readFileSync(index, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.map((row) => [row.episode_id, row.commit])).toEqual([
      ['e1', COMMIT],
      ['e2', undefined],
      ['e3', COMMIT],
    ]);

    // What the line says: a rerun appends nothing, and the row stays without commit.
    const again = await cli([...args, '--json']);
    expect(jsonOf(again)).toMatchObject({ ok: true, exitCode: 0, report: { alreadyIndexed: 3, appended: 0 } });
    expect(readFileSync(index, 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('a dry run says the rows would lack their commit, and writes nothing', async () => {
    const { root, index } = await smallTree('no-commit-dry', ['e1']);
    writeFileSync(join(root, 'h', 'e2.tar.zst'), 'not a tarball');
    const r = await cli(['index', 'backfill', '--episodes-root', root, '--index', index, '--dry-run']);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stdout).toContain('1 row would be appended without commit (see the warnings): fix or replace those tarballs');
    expect(() => readFileSync(index)).toThrow();
  });

  it('every tarball good: exit 0', async () => {
    const { root, index } = await smallTree('no-commit-good', ['e1', 'e2']);
    const r = await cli(['index', 'backfill', '--episodes-root', root, '--index', index]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('without commit');
  });
});
