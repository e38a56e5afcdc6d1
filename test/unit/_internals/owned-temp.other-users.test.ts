/**
 * Tidying up after killed writes never removes recursively where another
 * user may rename entries, nor removes another user's entries at all. Root
 * writing into a directory a service user owns removed every directory
 * there named like a dead write's temporary, whoever's, with a recursive
 * removal that lists a directory by its path: the user, swapping a
 * symlink in between, had root delete files anywhere (a race won within
 * ten writes on a loaded machine). `writeDataset` made such a directory
 * itself for each write, to spool its members, and removed it recursively
 * at the end. Here the entries are set up as a hostile user would leave
 * them, without the race; `stat` and `ls` say what is there.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { writeFileAtomic } from '../../../src/_internals/write-file-atomic.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { run, tempDir } from '../../support/tmp.js';

const root = tempDir('bk-temps-others-');
chmodSync(root, 0o755);
const isRoot = process.getuid?.() === 0;
const notRoot = 'skipped: only root can set up entries of another user';
const NOBODY = 65534;

const hostTag = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
/** A name a write of `base` killed in a process now gone would have left. */
const deadTemp = (base: string, suffix: string): string => `.${base}.tmp-${spawnSync('true').pid}.x.${hostTag}-${suffix}`;

/** A directory under the test's, owned by `uid` with `mode`. */
function directory(name: string, uid: number, mode: number): string {
  const dir = join(root, name);
  mkdirSync(dir);
  chownSync(dir, uid, uid);
  chmodSync(dir, mode);
  return dir;
}

/** A dead write's temporary directory (with a file in it) or file in `dir`, owned by `uid`. */
function leftover(dir: string, name: string, kind: 'dir' | 'file', uid: number): string {
  const path = join(dir, name);
  if (kind === 'dir') {
    mkdirSync(path);
    writeFileSync(join(path, 'secret'), 'x');
    chownSync(join(path, 'secret'), uid, uid);
  } else writeFileSync(path, 'x');
  chownSync(path, uid, uid);
  return path;
}

const listing = (dir: string): string[] => run('ls', ['-A', dir]).split('\n').filter(Boolean).sort();

describe('tidying up after killed writes', () => {
  it('in a directory another user owns: only this user’s files go; directories and the other user’s files stay', async ({
    expect,
    skip,
  }) => {
    if (!isRoot) skip(notRoot);
    const dir = directory('service', NOBODY, 0o755);
    const theirDir = leftover(dir, deadTemp('out.txt', 'a'), 'dir', NOBODY);
    const myDir = leftover(dir, deadTemp('out.txt', 'b'), 'dir', 0);
    const theirFile = leftover(dir, deadTemp('out.txt', 'c'), 'file', NOBODY);
    const myFile = leftover(dir, deadTemp('out.txt', 'd'), 'file', 0);
    await writeFileAtomic(join(dir, 'out.txt'), 'new\n');
    const left = listing(dir);
    expect(left).toContain(theirDir.slice(dir.length + 1));
    expect(left).toContain(myDir.slice(dir.length + 1));
    expect(left).toContain(theirFile.slice(dir.length + 1));
    expect(left).not.toContain(myFile.slice(dir.length + 1));
    expect(listing(theirDir)).toEqual(['secret']);
    expect(listing(myDir)).toEqual(['secret']);
  });

  it('in a directory only this user may change: its own directories go too, another user’s stay', async ({ expect, skip }) => {
    if (!isRoot) skip(notRoot);
    const dir = directory('private', 0, 0o700);
    const theirDir = leftover(dir, deadTemp('out.txt', 'a'), 'dir', NOBODY);
    const myDir = leftover(dir, deadTemp('out.txt', 'b'), 'dir', 0);
    await writeFileAtomic(join(dir, 'out.txt'), 'new\n');
    const left = listing(dir);
    expect(left).toContain(theirDir.slice(dir.length + 1));
    expect(left).not.toContain(myDir.slice(dir.length + 1));
  });

  it('writeDataset makes no directory beside its output, and leaves no name of its spooled members there', async ({ expect }) => {
    const dir = directory('dataset', process.getuid?.() ?? 0, 0o755);
    const seen: string[] = [];
    async function* records(): AsyncGenerator<object> {
      for (let i = 0; i < 3; i++) {
        for (const name of readdirSync(dir)) seen.push(`${name} ${lstatSync(join(dir, name)).isDirectory() ? 'dir' : 'file'}`);
        yield { _id: `r${i}` };
      }
    }
    const written = await writeDataset(join(dir, 'ds.tar.zst'), { members: { 'a.ndjson': records(), 'b.ndjson': [{ _id: 'b' }] } });
    expect(written.isOk()).toBe(true);
    expect(seen.filter((s) => s.endsWith(' dir'))).toEqual([]);
    expect(listing(dir)).toEqual(['ds.tar.zst']);
  });

  it('writeDataset packs a spooled member only from the very file it spooled it to', async ({ expect }) => {
    const dir = directory('swapped', process.getuid?.() ?? 0, 0o755);
    const path = join(dir, 'ds.tar.zst');
    let swapped = '';
    async function* records(): AsyncGenerator<object> {
      // a.ndjson is spooled by now: put another file with the same bytes in place of its spooled copy.
      const spool = readdirSync(dir).find((n) => n.startsWith('.ds.tar.zst.tmp-') && statSync(join(dir, n)).size > 0);
      if (spool !== undefined) {
        swapped = join(dir, spool);
        writeFileSync(`${swapped}.other`, '{"_id":"a"}\n');
        renameSync(`${swapped}.other`, swapped);
      }
      yield { _id: 'b' };
    }
    const written = await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a' }], 'b.ndjson': records() } });
    expect(swapped).not.toBe('');
    expect(written._unsafeUnwrapErr().code).toBe('IO_ERROR');
    expect(written._unsafeUnwrapErr().message).toContain('was replaced');
    expect(existsSync(path)).toBe(false);
  });
});
