import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './cli-harness.js';

/** A node older than the one package.json's engines asks for, if this machine has one besides the test runner's. */
function olderNode(): string | undefined {
  for (const path of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(path)) continue;
    const version = execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    const [major = 0, minor = 0] = version.split('.').map(Number);
    if (major < 22 || (major === 22 && minor < 18)) return path;
  }
  return undefined;
}

const old = olderNode();

describe.skipIf(old === undefined)(
  `backfill-kit on a Node.js older than package.json engines${old === undefined ? ' (skipped: no such Node.js in /usr/bin or /usr/local/bin)' : ''}`,
  () => {
    it('says which Node.js it needs and exits 2, for help as for a command, with no internal error', () => {
      for (const args of [['--help'], ['dataset', 'verify', 'x.tar.zst', '--json']]) {
        const r = spawnSync(old!, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
          cwd: repoRoot,
          encoding: 'utf8',
          env: { PATH: '/usr/bin:/bin' },
        });
        expect(r.status, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/^error UNSUPPORTED_RUNTIME|needs Node\.js 22\.18 or later/m);
        expect(r.stderr).not.toContain('INTERNAL');
      }
    });
  },
);
