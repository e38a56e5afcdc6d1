/**
 * A sums file that names the tarball twice, with two different digests
 * (a stale line left above a fresh one by `sha256sum x >> SHA256SUMS`, or a
 * forged line added below a genuine one): `sha256sum --check` fails it,
 * whichever line comes first. verifyDataset used the first line only.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { needTools, tempDir } from '../../support/tmp.js';

const tools = needTools('sha256sum');
const dir = tempDir('bk-verify-sums-');
const other = 'f'.repeat(64);

async function tarball(name: string): Promise<{ dir: string; sha256: string }> {
  const d = join(dir, name);
  mkdirSync(d);
  const written = await writeDataset(join(d, 'ds.tar.zst'), { members: { 'a.ndjson': [{ _id: '1' }] } });
  return { dir: d, sha256: written._unsafeUnwrap().sha256 };
}

describe.skipIf(tools.missing)('verifyDataset: a sums file naming the tarball twice', () => {
  for (const [label, order] of [
    ['the genuine line first', (good: string) => [good, other]],
    ['the other line first', (good: string) => [other, good]],
  ] as const) {
    it(tools.title(`SHA256SUMS with ${label} is refused, as sha256sum --check fails it`), async () => {
      const { dir: d, sha256 } = await tarball(`sums-${label.split(' ')[1]}`);
      const lines = order(sha256).map((digest) => `${digest}  ds.tar.zst\n`);
      writeFileSync(join(d, 'SHA256SUMS'), lines.join(''));
      expect(spawnSync('sha256sum', ['--check', 'SHA256SUMS'], { cwd: d }).status).not.toBe(0);
      const r = await verifyDataset(join(d, 'ds.tar.zst'));
      expect(r.isErr()).toBe(true);
      expect(r._unsafeUnwrapErr().code).toBe('CHECKSUM_LINE_MALFORMED');
      expect(r._unsafeUnwrapErr().message).toMatch(/SHA256SUMS lists ds\.tar\.zst 2 times with different digests \(lines 1 and 2\)/);
      // The same digest twice is no conflict (sha256sum --check passes it).
      writeFileSync(join(d, 'SHA256SUMS'), `${sha256}  ds.tar.zst\n${sha256}  ./ds.tar.zst\n`);
      execFileSync('sha256sum', ['--check', 'SHA256SUMS'], { cwd: d });
      expect((await verifyDataset(join(d, 'ds.tar.zst')))._unsafeUnwrap().archive).toMatchObject({
        verdict: 'ok',
        expectedFrom: 'SHA256SUMS',
      });
    });
  }

  it(tools.title('a .sha256 file naming the tarball twice with different digests is refused'), async () => {
    const { dir: d, sha256 } = await tarball('sidecar');
    writeFileSync(join(d, 'ds.tar.zst.sha256'), `${sha256}  ds.tar.zst\n${other}  ./ds.tar.zst\n`);
    expect(spawnSync('sha256sum', ['--check', 'ds.tar.zst.sha256'], { cwd: d }).status).not.toBe(0);
    const r = await verifyDataset(join(d, 'ds.tar.zst'));
    expect(r.isErr() && r.error.code).toBe('CHECKSUM_LINE_MALFORMED');
    rmSync(join(d, 'ds.tar.zst.sha256'));
  });

  it(tools.title('SHA256SUMS whose line for the tarball is malformed (a byte-order mark) is refused, not taken as no digest'), async () => {
    const { dir: d } = await tarball('bom');
    // As a Windows editor saves it: a UTF-8 byte-order mark before sha256sum's own line, and CRLF endings.
    const line = execFileSync('sha256sum', ['ds.tar.zst'], { cwd: d, encoding: 'utf8' }).replace('\n', '\r\n');
    writeFileSync(join(d, 'SHA256SUMS'), `\ufeff${line}${other}  other.tar.zst\r\n`);
    // sha256sum --check --strict calls the line improperly formatted; without --strict it would skip it.
    expect(spawnSync('sha256sum', ['--check', '--strict', 'SHA256SUMS'], { cwd: d, encoding: 'utf8' }).stderr).toMatch(
      /1 line is improperly formatted/,
    );
    const r = await verifyDataset(join(d, 'ds.tar.zst'));
    expect(r.isErr() && r.error.code).toBe('CHECKSUM_LINE_MALFORMED');
    expect(r._unsafeUnwrapErr().message).toMatch(/SHA256SUMS line 1 names ds\.tar\.zst but is improperly formatted \(.*byte-order mark/);
    // A .sha256 saved so says why it records nothing.
    writeFileSync(join(d, 'ds.tar.zst.sha256'), `\ufeff${line}`);
    const sidecar = await verifyDataset(join(d, 'ds.tar.zst'));
    expect(sidecar._unsafeUnwrapErr().message).toMatch(
      /ds\.tar\.zst\.sha256 line 1 names ds\.tar\.zst but is improperly formatted \(.*byte-order mark/,
    );
    rmSync(join(d, 'ds.tar.zst.sha256'));
    // Without the mark, the same line checks the tarball.
    writeFileSync(join(d, 'SHA256SUMS'), line);
    expect((await verifyDataset(join(d, 'ds.tar.zst')))._unsafeUnwrap().archive).toMatchObject({
      verdict: 'ok',
      expectedFrom: 'SHA256SUMS',
    });
  });

  it(tools.title('a .sha256 and SHA256SUMS that record different digests are refused, whichever the tarball matches'), async () => {
    const { dir: d, sha256 } = await tarball('sidecar-and-sums');
    // A tarball swapped along with its unsigned .sha256, while the release's SHA256SUMS still records the original.
    for (const [sidecar, sums] of [
      [sha256, other],
      [other, sha256],
    ] as const) {
      writeFileSync(join(d, 'ds.tar.zst.sha256'), `${sidecar}  ds.tar.zst\n`);
      writeFileSync(join(d, 'SHA256SUMS'), `${sums}  ds.tar.zst\n`);
      const failing = sidecar === other ? 'ds.tar.zst.sha256' : 'SHA256SUMS';
      expect(spawnSync('sha256sum', ['--check', failing], { cwd: d }).status).not.toBe(0);
      const r = await verifyDataset(join(d, 'ds.tar.zst'));
      expect(r.isErr() && r.error.code).toBe('CHECKSUM_LINE_MALFORMED');
      expect(r._unsafeUnwrapErr().message).toMatch(
        /ds\.tar\.zst\.sha256 records [0-9a-f]{64} for ds\.tar\.zst but SHA256SUMS beside it records/,
      );
    }
    // Both recording the same digest: the sidecar is named as the source, as before.
    writeFileSync(join(d, 'SHA256SUMS'), `${sha256}  ./ds.tar.zst\n`);
    writeFileSync(join(d, 'ds.tar.zst.sha256'), `${sha256}\n`);
    expect((await verifyDataset(join(d, 'ds.tar.zst')))._unsafeUnwrap().archive).toMatchObject({
      verdict: 'ok',
      expectedFrom: 'sha256-file',
    });
    // A SHA256SUMS that does not name the tarball is no conflict.
    writeFileSync(join(d, 'SHA256SUMS'), `${other}  other.tar.zst\n`);
    expect((await verifyDataset(join(d, 'ds.tar.zst')))._unsafeUnwrap().archive.verdict).toBe('ok');
  });
});
