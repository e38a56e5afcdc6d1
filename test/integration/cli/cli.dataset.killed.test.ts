/**
 * `dataset build` SIGKILLed again and again (the OOM killer, a stopped
 * container) while it spools members beside the output: the previous
 * tarball and its `.sha256` stay as they were, and the next build neither
 * fails nor leaves the killed builds' spooled members on the disk (they
 * are as big as the dataset uncompressed, so a few kills could fill it).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './cli-harness.js';

const hostTag = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const startOfThisProcess = (): string => {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const temps = (dir: string): string[] => readdirSync(dir).filter((n) => n.includes('.tmp-'));
/** The temporary directories builds spool members to (not the `.sha256` staged just before the renames). */
const spools = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('.ds.tar.zst.tmp-'));

describe('dataset build killed mid-write', () => {
  it('keeps the previous tarball, and the next build clears what the killed ones left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-build-killed-'));
    const out = join(dir, 'ds.tar.zst');
    const first = await cli(['dataset', 'build', out, '--linksets', '20', '--chunks', '20']);
    expect(first.code).toBe(0);
    let before = readFileSync(out);
    let sidecar = readFileSync(`${out}.sha256`, 'utf8');

    let killed = 0;
    for (let attempt = 0; attempt < 4; attempt += 1) {
      let pid = 0;
      let ended = false;
      const run = cli(['dataset', 'build', out, '--linksets', '200000', '--chunks', '20000', '--seed', String(attempt + 2)], {
        onSpawn: (p) => (pid = p),
      }).finally(() => (ended = true));
      while (!ended && spools(dir).length <= killed) await sleep(2);
      await sleep(attempt * 40);
      if (!ended) process.kill(pid, 'SIGKILL');
      if ((await run).signal !== 'SIGKILL') {
        // It finished first: that build is the previous state now.
        before = readFileSync(out);
        sidecar = readFileSync(`${out}.sha256`, 'utf8');
        continue;
      }
      killed += 1;
      const now = readFileSync(out);
      if (!now.equals(before)) {
        // Killed in the microseconds between the tarball's rename and its .sha256's: the new digest waits in the staged .sha256.
        const digest = createHash('sha256').update(now).digest('hex');
        const staged = temps(dir).filter((n) => n.startsWith('.ds.tar.zst.sha256.tmp-'));
        expect(staged.some((n) => readFileSync(join(dir, n), 'utf8').startsWith(`${digest}  ds.tar.zst\n`))).toBe(true);
        before = now;
        continue;
      }
      expect(readFileSync(`${out}.sha256`, 'utf8')).toBe(sidecar);
    }
    expect(killed).toBeGreaterThan(0);
    // A build killed between writing its `.sha256` and renaming it into place leaves that file, named after its process.
    const dead = spawnSync('true').pid;
    writeFileSync(join(dir, `.ds.tar.zst.sha256.tmp-${dead}.${startOfThisProcess()}.${hostTag}-0123456789ab`), 'x');

    const next = await cli(['dataset', 'build', out, '--linksets', '30', '--chunks', '30']);
    expect(next.code).toBe(0);
    expect(temps(dir)).toEqual([]);
    const verified = await cli(['dataset', 'verify', out]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('OK against');
  });
});
