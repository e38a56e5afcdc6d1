/**
 * A sums line holding a NUL byte is malformed here, but `sha256sum --check`
 * does not skip it: it checks the name cut at the NUL. Skipped without
 * `strict`, such a line let verifyChecksums pass (and verifyDataset leave
 * the tarball unchecked, or take another line's digest) where
 * `sha256sum --check` fails.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { verifyChecksums, verifyDataset } from '../../../src/verify/index.js';
import { needTools, tempDir } from '../../support/tmp.js';

const tools = needTools('sha256sum');
const root = tempDir('bk-verify-nul-line-');
const wrong = '0'.repeat(64);
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

function sha256sumStatus(dir: string, file: string, strict: boolean): number | null {
  return spawnSync('sha256sum', ['--check', ...(strict ? ['--strict'] : []), file], { cwd: dir }).status;
}

describe('a sums line with a NUL byte, which sha256sum --check checks', () => {
  it.for([false, true])('verifyChecksums (strict %s) fails a file whose line holds a NUL, as sha256sum fails it', async (strict, ctx) => {
    if (tools.missing) ctx.skip('skipped: sha256sum is not installed');
    const dir = join(root, `checksums-${strict}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'good'), 'good\n');
    writeFileSync(join(dir, 'bad'), 'tampered\n');
    writeFileSync(join(dir, 'SHA256SUMS'), `${sha('good\n')}  good\n${wrong}  bad\0trailing\n`);
    expect(sha256sumStatus(dir, 'SHA256SUMS', strict)).toBe(1);
    const report = (await verifyChecksums(join(dir, 'SHA256SUMS'), { strict }))._unsafeUnwrap();
    expect(report.ok).toBe(false);
    expect(report.counts).toMatchObject({ ok: 1, malformed: 1 });
    const problem = report.problems.find((p) => p.code === 'CHECKSUM_LINE_MALFORMED');
    expect(problem?.message).toMatch(/line 2: .*NUL.*fails the check even without strict/);
  });

  it('without a NUL, a malformed line is still skipped unless strict, as sha256sum skips it', async (ctx) => {
    if (tools.missing) ctx.skip('skipped: sha256sum is not installed');
    const dir = join(root, 'no-nul');
    mkdirSync(dir);
    writeFileSync(join(dir, 'good'), 'good\n');
    writeFileSync(join(dir, 'SHA256SUMS'), `${sha('good\n')}  good\nnot a line\n`);
    expect(sha256sumStatus(dir, 'SHA256SUMS', false)).toBe(0);
    expect((await verifyChecksums(join(dir, 'SHA256SUMS')))._unsafeUnwrap().ok).toBe(true);
  });

  it.for([
    ['the only line', (_good: string) => `${wrong}  ds.tar.zst\0\n`],
    ['beside a well-formed line', (good: string) => `${good}  ds.tar.zst\n${wrong}  ds.tar.zst\0x\n`],
    ['in tag form', (_good: string) => `SHA256 (ds.tar.zst\0x) = ${wrong}\n`],
  ] as const)('verifyDataset: SHA256SUMS naming the tarball on a NUL line (%s) is refused', async ([label, lines], ctx) => {
    if (tools.missing) ctx.skip('skipped: sha256sum is not installed');
    const dir = join(root, `dataset-${label.replace(/\W/g, '_')}`);
    mkdirSync(dir);
    const written = await writeDataset(join(dir, 'ds.tar.zst'), { members: { 'a.ndjson': [{ _id: '1' }] }, sha256File: false });
    writeFileSync(join(dir, 'SHA256SUMS'), lines(written._unsafeUnwrap().sha256));
    expect(sha256sumStatus(dir, 'SHA256SUMS', false)).toBe(1);
    const r = await verifyDataset(join(dir, 'ds.tar.zst'));
    expect(r.isErr() && r.error.code).toBe('CHECKSUM_LINE_MALFORMED');
    expect(r._unsafeUnwrapErr().message).toMatch(
      /SHA256SUMS line \d names ds\.tar\.zst but is improperly formatted \(line contains a NUL byte\)/,
    );
  });
});
