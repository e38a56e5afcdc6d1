/**
 * A symlink at `<tarball>.sha256` or `SHA256SUMS` whose target is gone
 * (a `latest.tar.zst.sha256` left pointing at a removed release's file):
 * the open failed with ENOENT, which was taken for "no checksum file", so
 * `dataset verify` passed the tarball unchecked and `dataset import` would
 * load it, while `sha256sum --check` of the link fails. Such a link is now
 * IO_ERROR, naming it and its target.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { cli } from '../cli/cli-harness.js';
import { needTools, tempDir } from '../../support/tmp.js';

const tools = needTools('sha256sum');
const dir = tempDir('bk-sibling-dangling-');

describe.skipIf(tools.missing)('verifyDataset with a dangling symlink where a checksum file would be', () => {
  it.for(['ds.tar.zst.sha256', 'SHA256SUMS'])(
    tools.title('%s: IO_ERROR naming it and its target, not an unchecked pass'),
    async (sibling) => {
      const d = join(dir, sibling);
      mkdirSync(d);
      const path = join(d, 'ds.tar.zst');
      (await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a' }] }, sha256File: false }))._unsafeUnwrap();
      symlinkSync('v2/gone.sha256', join(d, sibling));
      expect(spawnSync('sha256sum', ['--check', sibling], { cwd: d }).status).not.toBe(0);
      const error = (await verifyDataset(path))._unsafeUnwrapErr();
      expect(error.code).toBe('IO_ERROR');
      expect(error.message).toContain(`${join(d, sibling)} is a symbolic link to v2/gone.sha256, which does not exist`);
      // The command line refuses it too (exit 8, IO_ERROR), instead of passing the tarball unchecked.
      const run = await cli(['dataset', 'verify', path]);
      expect(run.stderr).toContain('IO_ERROR');
      expect(run.code).toBe(8);
      // The ways around it the message gives work.
      expect((await verifyDataset(path, { useSiblingChecksums: false }))._unsafeUnwrap().ok).toBe(true);
      rmSync(join(d, sibling));
      expect((await verifyDataset(path))._unsafeUnwrap().archive.verdict).toBe('not-checked');
    },
  );
});
