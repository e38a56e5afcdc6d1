import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { tempPrefix } from '../../../src/_internals/owned-temp.js';
import { verifyChecksums, verifyDataset, writeChecksums } from '../../../src/verify/index.js';
import { tempDir } from '../../support/tmp.js';

/**
 * An output whose name is near the 255-byte limit of a file name: its
 * temporaries (`.<name>.tmp-<pid>.<start>.<host>-…`) were longer than the
 * limit, so the write failed with ENAMETOOLONG on a name the user never
 * gave. They now carry a cut name with a hash of the whole one.
 */
describe('an output named near the file-name limit', () => {
  const root = tempDir('bk-long-name-');
  const members = { 'a.ndjson': [{ _id: 'a' }] };

  it.for([
    ['230 ASCII bytes', `${'d'.repeat(222)}.tar.zst`],
    ['100 two-byte characters', `${'é'.repeat(100)}.tar.zst`],
    ['240 bytes with a .tar.gz end', `${'g'.repeat(233)}.tar.gz`],
  ] as const)('writeDataset writes %s with its .sha256, and leaves no temporary', async ([label, name], { expect }) => {
    const dir = join(root, label.replace(/\W/g, '_'));
    mkdirSync(dir);
    const path = join(dir, name);
    const written = await writeDataset(path, {
      members,
      sha256File: true,
      ...(name.endsWith('.gz') ? { compression: 'gzip' as const } : {}),
    });
    expect(written.isOk()).toBe(true);
    expect(readdirSync(dir).sort()).toEqual([name, `${name}.sha256`].sort());
    expect((await verifyDataset(path))._unsafeUnwrap().ok).toBe(true);
  });

  it('writeChecksums writes a sums file of 250 bytes of name', async () => {
    const dir = join(root, 'sums');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    const sums = join(dir, 's'.repeat(250));
    expect((await writeChecksums(['a.txt'], sums)).isOk()).toBe(true);
    expect((await verifyChecksums(sums))._unsafeUnwrap().ok).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['a.txt', 's'.repeat(250)]);
  });

  it('the temporary a killed write of such a name left is removed by the next write', async () => {
    const dir = join(root, 'killed');
    mkdirSync(dir);
    const name = `${'k'.repeat(230)}.tar.zst`;
    // A process that has ended: its pid names the leftover.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    const host = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
    const leftover = join(dir, `${tempPrefix(name)}${dead}.x.${host}-abc123`);
    expect(Buffer.byteLength(leftover.slice(dir.length + 1))).toBeLessThanOrEqual(255);
    mkdirSync(leftover);
    writeFileSync(join(leftover, 'out'), 'partial');
    expect((await writeDataset(join(dir, name), { members })).isOk()).toBe(true);
    expect(existsSync(leftover)).toBe(false);
    expect(readdirSync(dir)).toEqual([name]);
  });
});
