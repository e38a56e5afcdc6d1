/**
 * `SHA256SUMS` may name the tarball in any spelling `sha256sum --check`
 * opens it by: `.//ds.tar.zst` (what `sha256sum $DIR/ds.tar.zst` writes
 * with `DIR=./`), `sub/../ds.tar.zst`, a symlink to the directory. Only
 * `ds.tar.zst` and `./ds.tar.zst` were matched: any other spelling left the
 * tarball `not-checked`, so `dataset verify` passed (and `dataset import`
 * loaded) a tarball that `sha256sum --check SHA256SUMS` fails.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { needTools, tempDir } from '../../support/tmp.js';

const tools = needTools('sha256sum');
const root = tempDir('bk-verify-sums-spelling-');
const wrong = '0'.repeat(64);

async function tarballIn(name: string): Promise<{ dir: string; sha256: string }> {
  const dir = join(root, name);
  mkdirSync(join(dir, 'sub'), { recursive: true });
  symlinkSync('.', join(dir, 'here'));
  const written = await writeDataset(join(dir, 'ds.tar.zst'), { members: { 'a.ndjson': [{ _id: '1' }] }, sha256File: false });
  return { dir, sha256: written._unsafeUnwrap().sha256 };
}

/** Whether `sha256sum --check SHA256SUMS`, run beside it, passes. */
function sha256sumPasses(dir: string): boolean {
  return spawnSync('sha256sum', ['--check', 'SHA256SUMS'], { cwd: dir }).status === 0;
}

describe('verifyDataset: SHA256SUMS naming the tarball in another spelling', () => {
  it.for([
    ['.//ds.tar.zst'],
    ['./././ds.tar.zst'],
    ['.//./ds.tar.zst'],
    ['sub/../ds.tar.zst'],
    ['here/ds.tar.zst'],
    ['ABSOLUTE/ds.tar.zst'],
  ] as const)('%s: its digest is checked, as sha256sum --check checks it', async ([spelling], ctx) => {
    if (tools.missing) ctx.skip('skipped: sha256sum is not installed');
    const { dir, sha256 } = await tarballIn(spelling.replace(/[^a-z]/gi, '_'));
    const listed = spelling.replace('ABSOLUTE', dir);
    writeFileSync(join(dir, 'SHA256SUMS'), `${wrong}  ${listed}\n`);
    expect(sha256sumPasses(dir)).toBe(false);
    const failed = (await verifyDataset(join(dir, 'ds.tar.zst')))._unsafeUnwrap();
    expect(failed.ok).toBe(false);
    expect(failed.archive).toMatchObject({ verdict: 'mismatch', expectedFrom: 'SHA256SUMS', expectedSha256: wrong });
    expect(failed.problems.map((p) => p.code)).toContain('CHECKSUM_MISMATCH');

    writeFileSync(join(dir, 'SHA256SUMS'), `${sha256}  ${listed}\n`);
    expect(sha256sumPasses(dir)).toBe(true);
    expect((await verifyDataset(join(dir, 'ds.tar.zst')))._unsafeUnwrap().archive).toMatchObject({
      verdict: 'ok',
      expectedFrom: 'SHA256SUMS',
    });
  });

  it('a line for a file of the same name elsewhere (sub/ds.tar.zst, missing/../ds.tar.zst) is not the tarball', async (ctx) => {
    if (tools.missing) ctx.skip('skipped: sha256sum is not installed');
    const { dir } = await tarballIn('elsewhere');
    writeFileSync(join(dir, 'sub', 'ds.tar.zst'), 'another file');
    writeFileSync(join(dir, 'SHA256SUMS'), `${wrong}  sub/ds.tar.zst\n${wrong}  missing/../ds.tar.zst\n`);
    const report = (await verifyDataset(join(dir, 'ds.tar.zst')))._unsafeUnwrap();
    expect(report.archive.verdict).toBe('not-checked');
    expect(report.ok).toBe(true);
  });

  it('two spellings of the tarball with different digests are refused, as sha256sum --check fails one of them', async (ctx) => {
    if (tools.missing) ctx.skip('skipped: sha256sum is not installed');
    const { dir, sha256 } = await tarballIn('two-spellings');
    writeFileSync(join(dir, 'SHA256SUMS'), `${sha256}  ds.tar.zst\n${wrong}  .//ds.tar.zst\n`);
    expect(sha256sumPasses(dir)).toBe(false);
    const r = await verifyDataset(join(dir, 'ds.tar.zst'));
    expect(r.isErr() && r.error.code).toBe('CHECKSUM_LINE_MALFORMED');
  });
});
