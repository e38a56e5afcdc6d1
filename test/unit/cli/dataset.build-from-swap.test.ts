/**
 * `dataset build --from DIR` checks each member file (a regular file, not a
 * symlink out of DIR) when it lists DIR, and the build opens it later. A
 * file replaced in between (by a symlink to a file elsewhere, another file,
 * a FIFO) used to be read as it was then: `/etc/shadow` could end up in a
 * dataset. The build now opens the file first and reads it only if it is
 * still the file checked. The swap is made deterministic by running the
 * listing (`membersFrom`) and the write as the command does, one after the
 * other, with the swap between them.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { membersFrom } from '../../../src/cli/dataset.js';
import { readDataset, writeDataset } from '../../../src/dataset/index.js';
import { needTools, run, tempDir } from '../../support/tmp.js';

const tools = needTools('mkfifo');
const python = needTools('python3');
const dir = tempDir('bk-build-from-swap-');
const outside = join(dir, 'outside');
mkdirSync(outside);
writeFileSync(join(outside, 'secret.ndjson'), '{"_id":"secret"}\n');

/** DIR with a.ndjson and b.ndjson, listed as the command lists it. */
async function listed(name: string): Promise<{ src: string; members: Awaited<ReturnType<typeof membersFrom>> }> {
  const src = join(dir, name);
  mkdirSync(src);
  writeFileSync(join(src, 'a.ndjson'), '{"_id":"a"}\n');
  writeFileSync(join(src, 'b.ndjson'), '{"_id":"b"}\n');
  return { src, members: await membersFrom(src, readdirSync(src)) };
}

/** Every line of every member of the dataset at `path`. */
async function linesOf(path: string): Promise<string[]> {
  const lines: string[] = [];
  const ds = readDataset(path);
  for await (const member of ds) {
    if (member.name !== 'manifest.json') for await (const { raw } of member.lines()) lines.push(`${member.name}: ${raw}`);
  }
  return lines;
}

describe('dataset build --from reads each member only if it is still the file it checked', () => {
  it('packs the files checked, and a symlink to a file inside DIR, as before', async () => {
    const { src, members } = await listed('unchanged');
    mkdirSync(join(src, 'data'));
    writeFileSync(join(src, 'data', 'real.json'), '{"_id":"c"}\n');
    symlinkSync(join('data', 'real.json'), join(src, 'c.ndjson'));
    const all = await membersFrom(src, readdirSync(src));
    expect(Object.keys(all)).toEqual(['a.ndjson', 'b.ndjson', 'c.ndjson']);
    expect(members['a.ndjson']).toMatchObject({ file: join(src, 'a.ndjson') });
    const out = join(dir, 'unchanged.tar.zst');
    (await writeDataset(out, { members: all }))._unsafeUnwrap();
    expect(await linesOf(out)).toEqual(['a.ndjson: {"_id":"a"}', 'b.ndjson: {"_id":"b"}', 'c.ndjson: {"_id":"c"}']);
  });

  it.each([
    [
      'a symlink to a file outside DIR',
      (p: string) => {
        rmSync(p);
        symlinkSync(join(outside, 'secret.ndjson'), p);
      },
      'a symlink',
    ],
    [
      'a symlink to another file inside DIR',
      (p: string) => {
        rmSync(p);
        symlinkSync('a.ndjson', p);
      },
      'a symlink',
    ],
    [
      // Made while the checked file still exists, so it cannot reuse its inode.
      'another file renamed over it',
      (p: string) => {
        writeFileSync(`${p}.new`, '{"_id":"other"}\n');
        renameSync(`${p}.new`, p);
      },
      'another file',
    ],
  ])('refuses b.ndjson replaced by %s after the listing, unread, and writes no dataset', async (_what, replace, by) => {
    const name = `swap-${by.replaceAll(' ', '-')}-${Math.random().toString(16).slice(2, 8)}`;
    const { src, members } = await listed(name);
    replace(join(src, 'b.ndjson'));
    const out = join(dir, `${name}-out`, 'd.tar.zst');
    const e = (await writeDataset(out, { members }))._unsafeUnwrapErr();
    expect(e.code).toBe('IO_ERROR');
    expect(e.message).toContain(`member b.ndjson: ${join(src, 'b.ndjson')} was replaced by ${by} after it was checked`);
    expect(e.message).toContain('refused as unsafe: it was not read, and nothing was written');
    expect(existsSync(join(dir, `${name}-out`))).toBe(false);
  });

  it.skipIf(tools.missing)(tools.title('refuses a FIFO put in its place without waiting for a writer'), async () => {
    const { src, members } = await listed('swap-fifo');
    rmSync(join(src, 'b.ndjson'));
    run('mkfifo', [join(src, 'b.ndjson')]);
    const out = join(dir, 'swap-fifo-out', 'd.tar.zst');
    const written = await Promise.race([
      writeDataset(out, { members }),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref()),
    ]);
    expect(written).not.toBe('hung');
    if (written === 'hung') return;
    expect(written._unsafeUnwrapErr().message).toContain('was replaced by a named pipe (FIFO) after it was checked');
    expect(existsSync(join(dir, 'swap-fifo-out'))).toBe(false);
  });
});

/** Swaps the names `a` and `b` (a directory and a symlink) back and forth with renameat2(RENAME_EXCHANGE), until killed. */
const EXCHANGE = `
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1].encode(), sys.argv[2].encode()
while libc.renameat2(-100, a, -100, b, 2) == 0:
    pass
sys.exit('renameat2: errno %d' % ctypes.get_errno())
`;

describe('dataset build --from takes the identity it checks from the opened file, not from a name', () => {
  it.skipIf(python.missing)(
    python.title('never vouches for a file outside DIR reached through a directory swapped for a symlink while the listing resolves it'),
    async () => {
      // DIR/x.ndjson -> sub/x.ndjson, and another process keeps exchanging DIR/sub (a directory) with a symlink to a
      // directory outside DIR that holds an x.ndjson too: a name resolved inside DIR then stat'ed a moment later reaches
      // the outside file, whose device and inode the write would then accept and read.
      const src = join(dir, 'exchanged');
      const away = join(dir, 'exchanged-away');
      mkdirSync(join(src, 'sub'), { recursive: true });
      mkdirSync(away);
      writeFileSync(join(src, 'sub', 'x.ndjson'), '{"_id":"inside"}\n');
      writeFileSync(join(away, 'x.ndjson'), '{"_id":"outside"}\n');
      symlinkSync(away, join(src, 'evil'));
      symlinkSync(join('sub', 'x.ndjson'), join(src, 'x.ndjson'));
      const secret = statSync(join(away, 'x.ndjson'));
      const swapper = spawn('python3', ['-c', EXCHANGE, 'sub', 'evil'], { cwd: src, stdio: 'ignore' });
      const outcomes = { outside: 0, inside: 0, refused: 0 };
      try {
        // At least 2 s, and on a loaded machine on until the swapper has won the race once (it may start late), up to 12 s.
        const start = Date.now();
        const racing = (): boolean => Date.now() - start < 2_000 || (outcomes.refused === 0 && Date.now() - start < 12_000);
        while (racing() && swapper.exitCode === null) {
          try {
            const checked = ((await membersFrom(src, ['x.ndjson']))['x.ndjson'] as { checked: { dev: number; ino: number } }).checked;
            if (checked.dev === secret.dev && checked.ino === secret.ino) outcomes.outside++;
            else outcomes.inside++;
          } catch {
            outcomes.refused++;
          }
        }
      } finally {
        swapper.kill();
      }
      expect(swapper.exitCode).toBe(null);
      expect(outcomes.refused).toBeGreaterThan(0);
      expect(outcomes.outside).toBe(0);
    },
    15_000,
  );
});
