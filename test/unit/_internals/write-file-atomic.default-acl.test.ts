/**
 * In a directory with a default access control list (a shared directory
 * whose list grants a team read and write), a file a process creates gets
 * the list's entries, and the umask does not apply: the list's mask gives
 * the group bits. The new file of an atomic write, created owner-only,
 * was given 0666 less the umask as its final mode, which narrowed the
 * mask and took write from the users the list names (`mask::r--`). It
 * now gets the mode a file created there gets.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../src/_internals/write-file-atomic.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { writeChecksums } from '../../../src/verify/index.js';
import { hasTool, tempDir } from '../../support/tmp.js';

const root = tempDir('bk-default-acl-');
const modeOf = (path: string): number => statSync(path).mode & 0o777;

/** A new directory with a default list granting user 65534 read and write; undefined where lists cannot be set. */
function sharedDir(name: string): string | undefined {
  const dir = join(root, name);
  mkdirSync(dir);
  if (!hasTool('setfacl')) return undefined;
  const set = spawnSync('setfacl', ['-d', '-m', 'u:65534:rw', dir], { stdio: 'ignore' });
  return set.status === 0 ? dir : undefined;
}

describe('an atomic write with no file to replace, in a directory with a default access control list', () => {
  it.for([
    [
      'writeFileAtomic',
      async (dir: string) => {
        await writeFileAtomic(join(dir, 'out.txt'), 'new\n');
        return [join(dir, 'out.txt')];
      },
    ],
    [
      'writeChecksums',
      async (dir: string) => {
        writeFileSync(join(dir, 'a.txt'), 'a\n');
        expect((await writeChecksums(['a.txt'], join(dir, 'SHA256SUMS'))).isOk()).toBe(true);
        return [join(dir, 'SHA256SUMS')];
      },
    ],
    [
      'writeDataset (tarball and .sha256)',
      async (dir: string) => {
        const written = await writeDataset(join(dir, 'd.tar.zst'), { members: { 'a.ndjson': [{ id: 1 }] }, sha256File: true });
        expect(written.isOk()).toBe(true);
        return [join(dir, 'd.tar.zst'), join(dir, 'd.tar.zst.sha256')];
      },
    ],
  ] as const)(
    '%s: the new file gets the mode a file created there gets (the list mask keeps what it grants)',
    async ([name, write], ctx) => {
      const dir = sharedDir(name.replace(/\W+/g, '-'));
      if (dir === undefined) return ctx.skip('skipped: setfacl is missing or this file system takes no access control lists');
      writeFileSync(join(dir, 'plain'), 'x');
      const usual = modeOf(join(dir, 'plain'));
      // The list's mask (rw-) gives the group bits, whatever the umask.
      expect(usual & 0o060).toBe(0o060);
      for (const path of await write(dir)) expect(modeOf(path).toString(8)).toBe(usual.toString(8));
      // Nothing temporary is left beside it.
      expect(readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    },
  );
});
