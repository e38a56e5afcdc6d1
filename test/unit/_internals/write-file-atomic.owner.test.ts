/**
 * A file the kit replaces through a temporary file and a rename
 * (`SHA256SUMS`, a dataset tarball and its `.sha256`) keeps its owner and
 * group, not only its mode: root running the CLI (sudo) in a service
 * user's directory made the service's files root's, which a 0600 file's
 * service then cannot even read. `stat`, an independent tool, says what
 * the files are; `setpriv` runs a writer that may not give files away.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, it } from 'vitest';
import { writeFileAtomic } from '../../../src/_internals/write-file-atomic.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { writeChecksums } from '../../../src/verify/index.js';
import { hasTool, run, tempDir } from '../../support/tmp.js';

const root = tempDir('bk-keep-owner-');
chmodSync(root, 0o755);
const isRoot = process.getuid?.() === 0;
const notRoot = 'skipped: only root may give a file to another user, and this process is not root';

/** `<uid> <gid> <octal mode>` of `path`, as `stat` reports it. */
const ownerAndMode = (path: string): string => run('stat', ['-c', '%u %g %a', path]).trim();

/** A new directory under the test's, holding `name` owned by 1000:1000 with mode 0640. */
function serviceFile(dir: string, name: string, content = 'old\n'): string {
  mkdirSync(join(root, dir));
  const path = join(root, dir, name);
  writeFileSync(path, content);
  chownSync(path, 1000, 1000);
  chmodSync(path, 0o640);
  return path;
}

describe('a file replaced by root keeps its owner, group and mode', () => {
  it('writeFileAtomic', async ({ expect, skip }) => {
    if (!isRoot) skip(notRoot);
    const path = serviceFile('helper', 'out.txt');
    await writeFileAtomic(path, 'new\n');
    expect(ownerAndMode(path)).toBe('1000 1000 640');
    expect(readFileSync(path, 'utf8')).toBe('new\n');
  });

  it('writeChecksums over SHA256SUMS', async ({ expect, skip }) => {
    if (!isRoot) skip(notRoot);
    const sums = serviceFile('sums', 'SHA256SUMS');
    writeFileSync(join(root, 'sums', 'a.txt'), 'a\n');
    expect((await writeChecksums(['a.txt'], sums)).isOk()).toBe(true);
    expect(ownerAndMode(sums)).toBe('1000 1000 640');
    expect(readFileSync(sums, 'utf8')).toMatch(/^[0-9a-f]{64} {2}a\.txt\n$/);
  });

  it('writeDataset over a tarball and its .sha256', async ({ expect, skip }) => {
    if (!isRoot) skip(notRoot);
    const path = serviceFile('dataset', 'ds.tar.zst');
    writeFileSync(`${path}.sha256`, 'old\n');
    chownSync(`${path}.sha256`, 1000, 1000);
    chmodSync(`${path}.sha256`, 0o600);
    const written = await writeDataset(path, { members: { 'a.ndjson': [{ _id: 'a' }] }, sha256File: true });
    expect(written.isOk()).toBe(true);
    expect(ownerAndMode(path)).toBe('1000 1000 640');
    expect(ownerAndMode(`${path}.sha256`)).toBe('1000 1000 600');
    expect(readFileSync(`${path}.sha256`, 'utf8')).toBe(`${written._unsafeUnwrap().sha256}  ds.tar.zst\n`);
  });

  it('a new file is the writer’s, with the usual mode', async ({ expect, skip }) => {
    if (!isRoot) skip(notRoot);
    mkdirSync(join(root, 'new'));
    chownSync(join(root, 'new'), 1000, 1000);
    const path = join(root, 'new', 'out.txt');
    await writeFileAtomic(path, 'new\n');
    expect(ownerAndMode(path)).toBe(`0 0 ${(0o666 & ~process.umask()).toString(8)}`);
  });

  it('a symlink at the target lends nothing: the new file is the writer’s, and the file it pointed to is untouched', async ({
    expect,
    skip,
  }) => {
    if (!isRoot) skip(notRoot);
    const aimed = serviceFile('symlink', 'aimed.txt');
    const path = join(root, 'symlink', 'out.txt');
    symlinkSync(aimed, path);
    await writeFileAtomic(path, 'new\n');
    expect(ownerAndMode(path)).toBe(`0 0 ${(0o666 & ~process.umask()).toString(8)}`);
    expect(ownerAndMode(aimed)).toBe('1000 1000 640');
    expect(readFileSync(aimed, 'utf8')).toBe('old\n');
  });

  it('a file with another hard link is replaced at its name only: the other name keeps the old file', async ({ expect, skip }) => {
    if (!isRoot) skip(notRoot);
    const path = serviceFile('hardlink', 'out.txt');
    const other = join(root, 'hardlink', 'other.txt');
    linkSync(path, other);
    await writeFileAtomic(path, 'new\n');
    expect(ownerAndMode(path)).toBe('1000 1000 640');
    expect(readFileSync(path, 'utf8')).toBe('new\n');
    expect(run('stat', ['-c', '%h', path]).trim()).toBe('1');
    expect(readFileSync(other, 'utf8')).toBe('old\n');
    expect(ownerAndMode(other)).toBe('1000 1000 640');
  });
});

/**
 * A sticky directory (`/tmp`) lets anyone leave a file under any name, but
 * not replace another user's: root replacing such a file must not give its
 * owner the file root wrote (nor its mode), or a name another user claimed
 * first would hand them root's output to rewrite at will.
 */
describe('in a sticky directory, another user’s file lends nothing', () => {
  /** A sticky 1777 directory owned by `dirOwner`, holding `name` of 1000:1000 with mode 0644. */
  function stickyFile(dir: string, name: string, dirOwner: number): string {
    mkdirSync(join(root, dir));
    chownSync(join(root, dir), dirOwner, dirOwner);
    chmodSync(join(root, dir), 0o1777);
    const path = join(root, dir, name);
    writeFileSync(path, 'old\n');
    chownSync(path, 1000, 1000);
    chmodSync(path, 0o644);
    return path;
  }
  const usual = (): string => `0 0 ${(0o666 & ~process.umask()).toString(8)}`;

  it('writeFileAtomic, writeChecksums and writeDataset write root’s file', async ({ expect, skip }) => {
    if (!isRoot) skip(notRoot);
    const path = stickyFile('sticky', 'out.txt', 0);
    await writeFileAtomic(path, 'new\n');
    expect(ownerAndMode(path)).toBe(usual());
    expect(readFileSync(path, 'utf8')).toBe('new\n');

    const sums = join(root, 'sticky', 'SHA256SUMS');
    writeFileSync(sums, 'old\n');
    chownSync(sums, 1000, 1000);
    expect((await writeChecksums(['out.txt'], sums)).isOk()).toBe(true);
    expect(ownerAndMode(sums)).toBe(usual());

    const tarball = join(root, 'sticky', 'ds.tar.zst');
    for (const file of [tarball, `${tarball}.sha256`]) {
      writeFileSync(file, 'old\n');
      chownSync(file, 1000, 1000);
      chmodSync(file, 0o666);
    }
    expect((await writeDataset(tarball, { members: { 'a.ndjson': [{ _id: 'a' }] }, sha256File: true })).isOk()).toBe(true);
    expect(ownerAndMode(tarball)).toBe(usual());
    expect(ownerAndMode(`${tarball}.sha256`)).toBe(usual());
  });

  it('a file of the directory’s owner keeps its owner and mode', async ({ expect, skip }) => {
    if (!isRoot) skip(notRoot);
    const path = stickyFile('sticky-owned', 'out.txt', 1000);
    await writeFileAtomic(path, 'new\n');
    expect(ownerAndMode(path)).toBe('1000 1000 644');
  });
});

const src = (path: string): string => pathToFileURL(fileURLToPath(new URL(`../../../src/${path}`, import.meta.url))).href;
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const NOBODY = 65534;

/**
 * Runs `writeChecksums` over `SHA256SUMS` (1000:1000, mode 0640, in a
 * directory anyone may write to) as user `nobody`, in the groups `groups`
 * (none: `--clear-groups`), and returns the child's exit status and stderr.
 */
function writeAsNobody(dir: string, groups: readonly number[]): { status: number | null; stderr: string; sums: string } {
  const sums = serviceFile(dir, 'SHA256SUMS');
  chmodSync(join(root, dir), 0o777);
  writeFileSync(join(root, dir, 'a.txt'), 'a\n');
  const script = join(root, dir, 'write.mts');
  writeFileSync(
    script,
    `import { writeChecksums } from '${src('verify/index.ts')}';
const written = await writeChecksums(['a.txt'], process.argv[2]);
if (written.isErr()) throw written.error;
`,
  );
  const child = spawnSync(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      ...(groups.length === 0 ? ['--clear-groups'] : [`--groups=${groups.join(',')}`]),
      process.execPath,
      '--import',
      tsx,
      script,
      sums,
    ],
    { encoding: 'utf8', env: { ...process.env, HOME: join(root, dir) } },
  );
  return { status: child.status, stderr: child.stderr, sums };
}

describe('a writer that may not give the file its owner still writes it', () => {
  const cannot = !isRoot ? notRoot : hasTool('setpriv') ? undefined : 'skipped: setpriv is not installed';

  it('not in the old group: the new file is the writer’s, with the old mode', ({ expect, skip }) => {
    if (cannot !== undefined) skip(cannot);
    const { status, stderr, sums } = writeAsNobody('nobody', []);
    expect(status, stderr).toBe(0);
    expect(ownerAndMode(sums)).toBe(`${NOBODY} ${NOBODY} 640`);
    expect(readFileSync(sums, 'utf8')).toMatch(/^[0-9a-f]{64} {2}a\.txt\n$/);
  });

  it('a member of the old group: the new file keeps the group', ({ expect, skip }) => {
    if (cannot !== undefined) skip(cannot);
    const { status, stderr, sums } = writeAsNobody('nobody-in-group', [1000]);
    expect(status, stderr).toBe(0);
    expect(ownerAndMode(sums)).toBe(`${NOBODY} 1000 640`);
    expect(readFileSync(sums, 'utf8')).toMatch(/^[0-9a-f]{64} {2}a\.txt\n$/);
  });
});
