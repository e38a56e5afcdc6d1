/**
 * The checksum files `verifyDataset` looks for beside a tarball
 * (`<file>.sha256`, `SHA256SUMS`) are files nobody named: a named pipe
 * left at one of those names (by a script's `mkfifo`, or by someone who
 * may write to the directory) made `dataset verify` and `dataset import`
 * wait for a writer for ever. Such a file is now refused at once, naming
 * it and the way around it.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { verifyDataset } from '../../../src/verify/index.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('mkfifo');
const dir = tempDir('bk-sibling-fifo-');

describe.skipIf(tools.missing)('verifyDataset with a named pipe where a checksum file would be', () => {
  it.for(['ds.tar.zst.sha256', 'SHA256SUMS'])(tools.title('%s: IO_ERROR naming it, without waiting for a writer'), async (sibling) => {
    const path = join(dir, 'ds.tar.zst');
    (await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a' }] } }))._unsafeUnwrap();
    run('mkfifo', [join(dir, sibling)]);
    try {
      const error = (await verifyDataset(path))._unsafeUnwrapErr();
      expect(error.code).toBe('IO_ERROR');
      expect(error.message).toContain(`${join(dir, sibling)} is a named pipe (FIFO), not a regular file`);
      expect(error.message).toContain('--no-sibling-checksums');
      // The way around it the message gives works.
      expect((await verifyDataset(path, { useSiblingChecksums: false }))._unsafeUnwrap().ok).toBe(true);
    } finally {
      rmSync(join(dir, sibling));
    }
  });
});
