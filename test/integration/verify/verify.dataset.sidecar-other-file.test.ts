/**
 * A `<tarball>.sha256` of one line that names another file
 * (`<digest>  other.tar.zst`, a sidecar copied along with the wrong
 * tarball): `sha256sum --check` of it checks other.tar.zst, never the
 * tarball, yet verifyDataset took its digest as the tarball's. Such a
 * sidecar is now refused, naming both files, as one of several lines none
 * of which names the tarball already was.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { needTools, tempDir } from '../../support/tmp.js';

const tools = needTools('sha256sum');
const dir = tempDir('bk-sidecar-other-');

async function pair(name: string): Promise<string> {
  const d = join(dir, name);
  mkdirSync(d);
  (await writeDataset(join(d, 'ds.tar.zst'), { members: { 'a.ndjson': [{ _id: '1' }] }, sha256File: false }))._unsafeUnwrap();
  (await writeDataset(join(d, 'other.tar.zst'), { members: { 'b.ndjson': [{ _id: '2' }] }, sha256File: false }))._unsafeUnwrap();
  return d;
}

const sha256sum = (d: string, ...args: string[]): string => execFileSync('sha256sum', args, { cwd: d, encoding: 'utf8' });

describe.skipIf(tools.missing)('verifyDataset: a .sha256 whose one line names another file', () => {
  it(tools.title("the tarball's own digest under another name: refused, as sha256sum --check of it fails"), async () => {
    const d = await pair('own-digest');
    const digest = sha256sum(d, 'ds.tar.zst').slice(0, 64);
    writeFileSync(join(d, 'ds.tar.zst.sha256'), `${digest}  other.tar.zst\n`);
    expect(spawnSync('sha256sum', ['--check', 'ds.tar.zst.sha256'], { cwd: d }).status).not.toBe(0);
    const r = await verifyDataset(join(d, 'ds.tar.zst'));
    expect(r.isErr() && r.error.code).toBe('CHECKSUM_LINE_MALFORMED');
    expect(r._unsafeUnwrapErr().message).toContain(
      `${join(d, 'ds.tar.zst.sha256')} records a digest for other.tar.zst, not for ds.tar.zst`,
    );
  });

  it(tools.title("another file's digest: refused as a sidecar for another file, not reported as a corrupt tarball"), async () => {
    const d = await pair('other-digest');
    writeFileSync(join(d, 'ds.tar.zst.sha256'), sha256sum(d, 'other.tar.zst'));
    // sha256sum --check of it passes: it checks other.tar.zst, which says nothing of ds.tar.zst.
    sha256sum(d, '--check', 'ds.tar.zst.sha256');
    const r = await verifyDataset(join(d, 'ds.tar.zst'));
    expect(r.isErr() && r.error.code).toBe('CHECKSUM_LINE_MALFORMED');
    expect(r._unsafeUnwrapErr().message).toMatch(/records a digest for other\.tar\.zst, not for ds\.tar\.zst/);
    // The way out the message gives works.
    writeFileSync(join(d, 'ds.tar.zst.sha256'), sha256sum(d, 'ds.tar.zst'));
    expect((await verifyDataset(join(d, 'ds.tar.zst')))._unsafeUnwrap().archive).toMatchObject({
      verdict: 'ok',
      expectedFrom: 'sha256-file',
    });
  });

  it(tools.title('a line naming the tarball by a path, or standard input, still records its digest'), async () => {
    const d = await pair('spellings');
    for (const line of [
      sha256sum(dir, 'spellings/ds.tar.zst'),
      sha256sum(d, `${d}/ds.tar.zst`),
      execFileSync('sha256sum', { cwd: d, encoding: 'utf8', input: readFileSync(join(d, 'ds.tar.zst')) }),
    ]) {
      writeFileSync(join(d, 'ds.tar.zst.sha256'), line);
      expect((await verifyDataset(join(d, 'ds.tar.zst')))._unsafeUnwrap().archive).toMatchObject({
        verdict: 'ok',
        expectedFrom: 'sha256-file',
      });
    }
  });
  it(
    tools.title('the tarball under another name (a latest.tar.zst symlink and its copied or linked .sha256) still records its digest'),
    async () => {
      const d = await pair('latest');
      writeFileSync(join(d, 'other.tar.zst.sha256'), sha256sum(d, 'other.tar.zst'));
      symlinkSync('other.tar.zst', join(d, 'latest.tar.zst'));
      for (const place of [symlinkSync, copyFileSync]) {
        rmSync(join(d, 'latest.tar.zst.sha256'), { force: true });
        place(place === symlinkSync ? 'other.tar.zst.sha256' : join(d, 'other.tar.zst.sha256'), join(d, 'latest.tar.zst.sha256'));
        // sha256sum --check of it checks other.tar.zst, which is the file latest.tar.zst leads to.
        sha256sum(d, '--check', 'latest.tar.zst.sha256');
        expect((await verifyDataset(join(d, 'latest.tar.zst')))._unsafeUnwrap().archive).toMatchObject({
          verdict: 'ok',
          expectedFrom: 'sha256-file',
        });
      }
    },
  );
  it(tools.title('a line naming the tarball with a trailing slash is refused, as sha256sum --check fails to open it'), async () => {
    const d = await pair('trailing-slash');
    writeFileSync(join(d, 'ds.tar.zst.sha256'), sha256sum(d, 'ds.tar.zst').replace('ds.tar.zst\n', 'ds.tar.zst/\n'));
    expect(spawnSync('sha256sum', ['--check', 'ds.tar.zst.sha256'], { cwd: d }).status).not.toBe(0);
    const r = await verifyDataset(join(d, 'ds.tar.zst'));
    expect(r.isErr() && r.error.code).toBe('CHECKSUM_LINE_MALFORMED');
    expect(r._unsafeUnwrapErr().message).toMatch(/records a digest for ds\.tar\.zst\/, not for ds\.tar\.zst/);
  });
});
