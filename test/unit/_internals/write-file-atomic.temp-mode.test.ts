/**
 * The new file of an atomic write (`SHA256SUMS`, a dataset tarball and its
 * `.sha256`) was created at the default mode (0666 less the umask) and
 * only narrowed to the replaced file's mode once written: while it was
 * written, anyone could open a private file's new contents (and, once
 * open, read them to the end). It is now created owner-only (0600) and
 * gets its final mode, the replaced file's or the default, before the
 * rename. A watcher on the directory sees the new file as it appears.
 */
import { chmodSync, type FSWatcher, lstatSync, readFileSync, statSync, watch, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openOwnerOnly, writeFileAtomic } from '../../../src/_internals/write-file-atomic.js';
import { writeChecksums } from '../../../src/verify/index.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { tempDir } from '../../support/tmp.js';

const root = tempDir('bk-temp-mode-');
const defaultMode = 0o666 & ~process.umask();
const modeOf = (path: string): number => statSync(path).mode & 0o777;

/** Records the mode of every new file (not directory) named like a temporary that appears in `dir` (lstat at once, in the watcher's callback). */
function watchTemps(dir: string): { modes: number[]; watcher: FSWatcher } {
  const modes: number[] = [];
  const watcher = watch(dir, (_event, name) => {
    if (name === null || !name.includes('.tmp-')) return;
    try {
      const made = lstatSync(join(dir, name));
      if (made.isFile()) modes.push(made.mode & 0o777);
    } catch {
      // Renamed or removed already.
    }
  });
  return { modes, watcher };
}

/** Runs `write` in a new directory under the test's, with `watchTemps` on it. */
async function observed(name: string, write: (dir: string) => Promise<void>): Promise<{ dir: string; modes: number[] }> {
  const dir = join(root, name);
  await mkdir(dir);
  const { modes, watcher } = watchTemps(dir);
  try {
    await write(dir);
    // Let the watcher's last events arrive.
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    watcher.close();
  }
  return { dir, modes };
}

/**
 * `observed`, in a new directory each time, until the watcher has seen a
 * new file: a small file can be written and renamed before the watcher's
 * callback runs on a busy machine, which shows nothing, rightly or wrongly.
 */
async function observedUntilSeen(name: string, write: (dir: string) => Promise<void>): Promise<{ dir: string; modes: number[] }> {
  for (let attempt = 1; ; attempt++) {
    const seen = await observed(`${name}-${attempt}`, write);
    if (seen.modes.length > 0 || attempt === 50) return seen;
  }
}

/** Contents large enough that their write takes a while after the file appears. */
const big = Buffer.alloc(64 * 1024 * 1024, 'a');

describe('the new file of an atomic write', () => {
  it('is created owner-only, whatever the umask', async () => {
    const handle = await openOwnerOnly(join(root, 'owner-only'));
    await handle.close();
    expect(modeOf(join(root, 'owner-only'))).toBe(0o600);
  });

  it.for([
    ['a private file (0600)', 0o600],
    ['a group-readable file (0640)', 0o640],
    ['no file', undefined],
  ] as const)('writeFileAtomic over %s: never readable by others before it is in place, and ends with the right mode', async ([, old]) => {
    const { dir, modes } = await observed(`atomic-${old ?? 'none'}`, async (dir) => {
      const target = join(dir, 'out.txt');
      if (old !== undefined) {
        writeFileSync(target, 'old\n');
        chmodSync(target, old);
      }
      await writeFileAtomic(target, big);
    });
    expect(modes.length).toBeGreaterThan(0);
    expect(modes[0]).toBe(0o600);
    for (const mode of modes) expect([0o600, old ?? defaultMode]).toContain(mode);
    expect(modeOf(join(dir, 'out.txt'))).toBe(old ?? defaultMode);
  });

  it('writeChecksums over a private SHA256SUMS: the new file is owner-only from the start, the replaced one keeps 0600', async () => {
    const { dir, modes } = await observedUntilSeen('sums', async (dir) => {
      writeFileSync(join(dir, 'a.txt'), 'a\n');
      writeFileSync(join(dir, 'SHA256SUMS'), 'old\n');
      chmodSync(join(dir, 'SHA256SUMS'), 0o600);
      expect((await writeChecksums(['a.txt'], join(dir, 'SHA256SUMS'))).isOk()).toBe(true);
    });
    expect(modes.length).toBeGreaterThan(0);
    for (const mode of modes) expect(mode).toBe(0o600);
    expect(modeOf(join(dir, 'SHA256SUMS'))).toBe(0o600);
    expect(readFileSync(join(dir, 'SHA256SUMS'), 'utf8')).toMatch(/^[0-9a-f]{64} {2}a\.txt\n$/);
  });

  it('writeDataset: a new tarball and .sha256 get the default mode, a replaced private pair keeps 0600 and 0640', async () => {
    const members = { 'a.ndjson': [{ id: 1 }] };
    const { dir, modes } = await observedUntilSeen('dataset', async (dir) => {
      const fresh = await writeDataset(join(dir, 'new.tar.zst'), { members, sha256File: true });
      expect(fresh.isOk()).toBe(true);
      writeFileSync(join(dir, 'old.tar.zst'), 'old');
      chmodSync(join(dir, 'old.tar.zst'), 0o600);
      writeFileSync(join(dir, 'old.tar.zst.sha256'), 'old\n');
      chmodSync(join(dir, 'old.tar.zst.sha256'), 0o640);
      const replaced = await writeDataset(join(dir, 'old.tar.zst'), { members, sha256File: true });
      expect(replaced.isOk()).toBe(true);
    });
    // The .sha256's new files (the tarball's is made in a private directory of its own).
    expect(modes.length).toBeGreaterThan(0);
    expect(modes[0]).toBe(0o600);
    expect(modeOf(join(dir, 'new.tar.zst'))).toBe(defaultMode);
    expect(modeOf(join(dir, 'new.tar.zst.sha256'))).toBe(defaultMode);
    expect(modeOf(join(dir, 'old.tar.zst'))).toBe(0o600);
    expect(modeOf(join(dir, 'old.tar.zst.sha256'))).toBe(0o640);
  });
});
