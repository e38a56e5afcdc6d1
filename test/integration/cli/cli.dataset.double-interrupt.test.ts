import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/tmp.js';
import { cli } from './cli-harness.js';

const dir = tempDir('bk-cli-double-interrupt-');

describe('Ctrl-C twice during a dataset build', () => {
  it('quits at once (exit 130) and still leaves no temporary files beside the tarball', async () => {
    const out = join(dir, 'out');
    mkdirSync(out);
    let pid: number | undefined;
    const running = cli(['dataset', 'build', join(out, 'big.tar.zst'), '--linksets', '50000000'], { onSpawn: (p) => (pid = p) });
    // Interrupt once the build has started spooling members into its temporary directory.
    while (readdirSync(out).length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    process.kill(pid!, 'SIGINT');
    // Apart: two signals sent at once arrive as one. The second quits without waiting for the write to stop.
    await new Promise((resolve) => setTimeout(resolve, 20));
    try {
      process.kill(pid!, 'SIGINT');
    } catch (e) {
      // Already gone: the first Ctrl-C finished the clean-up within 20 ms, as a shell's second Ctrl-C would then find.
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
    const r = await running;
    // A second Ctrl-C that lands while the process is already exiting from the first ends it by the signal: a shell shows 130 for both.
    expect(r.code === 130 || (r.code === null && r.signal === 'SIGINT'), `exit ${r.code}, signal ${r.signal}: ${r.stderr}`).toBe(true);
    if (r.signal === 'SIGINT') {
      // Ended by the signal itself, its exit-time clean-up could not run: the next write of the same tarball removes what the dead writer left.
      const again = await cli(['dataset', 'build', join(out, 'big.tar.zst'), '--linksets', '10']);
      expect(again.code, again.stderr).toBe(0);
      expect(readdirSync(out).filter((name) => name.includes('.tmp-'))).toEqual([]);
    } else {
      expect(readdirSync(out)).toEqual([]);
    }
  }, 240_000);
});
