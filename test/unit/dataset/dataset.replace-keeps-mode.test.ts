import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { writeChecksums } from '../../../src/verify/index.js';
import { tempDir } from '../../support/tmp.js';

const modeOf = (path: string): number => statSync(path).mode & 0o7777;

/**
 * An output written over an existing file keeps that file's permission
 * bits, as `sha256sum > out` writing in place does: a private dataset
 * (0600) came back 0644 under the default umask, readable by every user.
 */
describe('an output that replaces a file keeps its permission bits', () => {
  const root = tempDir('bk-keep-mode-');

  it.for([0o600, 0o640, 0o444] as const)(
    'writeDataset over a %o file, with its .sha256 over a file of the same mode',
    async (mode, { expect }) => {
      const dir = join(root, `dataset-${mode.toString(8)}`);
      mkdirSync(dir);
      const path = join(dir, 'ds.tar.zst');
      writeFileSync(path, 'old');
      writeFileSync(`${path}.sha256`, 'old');
      chmodSync(path, mode);
      chmodSync(`${path}.sha256`, mode);
      const written = await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a' }] }, sha256File: true });
      expect(written.isOk()).toBe(true);
      expect(modeOf(path)).toBe(mode);
      expect(modeOf(`${path}.sha256`)).toBe(mode);
    },
  );

  it('writeChecksums over a 0600 sums file', async () => {
    const dir = join(root, 'sums');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    const sums = join(dir, 'SHA256SUMS');
    writeFileSync(sums, 'old\n');
    chmodSync(sums, 0o600);
    expect((await writeChecksums(['a.txt'], sums)).isOk()).toBe(true);
    expect(modeOf(sums)).toBe(0o600);
  });

  it('takes no setuid, setgid or sticky bit from the file it replaces', async () => {
    const dir = join(root, 'setuid');
    mkdirSync(dir);
    const path = join(dir, 'ds.tar.zst');
    writeFileSync(path, 'old');
    chmodSync(path, 0o7755);
    expect((await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a' }] } })).isOk()).toBe(true);
    expect(modeOf(path)).toBe(0o755);
  });

  it('a new file gets the usual mode (0666 less the umask)', async () => {
    const dir = join(root, 'new');
    mkdirSync(dir);
    const path = join(dir, 'ds.tar.zst');
    expect((await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a' }] } })).isOk()).toBe(true);
    const umask = process.umask();
    expect(modeOf(path)).toBe(0o666 & ~umask);
  });
});
