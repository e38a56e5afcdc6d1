/**
 * The receiver's user may append to `index.jsonl` in a directory where it
 * cannot create files (the runbook's Python tool needs no more): the
 * backfill's lock file must then go elsewhere, and the CLI must be able to
 * say where.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import { COMMIT, repoRoot, scratch } from './episode-tree.js';

const isRoot = process.geteuid?.() === 0;
const NOBODY = 65534;
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** `backfill-kit <args>` from the sources, run as uid/gid 65534. */
function cliAsNobody(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', tsxLoader, join(repoRoot, 'src', 'cli', 'main.ts'), ...args], {
    uid: NOBODY,
    gid: NOBODY,
    cwd: '/',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!isRoot)(
  `backfill-kit index backfill as a user who cannot create files beside the index${isRoot ? '' : ' (skipped: needs root to run as another user)'}`,
  () => {
    it('says to give --lock-path, and with it appends the rows', async () => {
      const dir = scratch('lock-path');
      chmodSync(dir, 0o755);
      const lib = join(dir, 'lib'); // root's, 0755: nobody cannot create files in it
      const root = join(lib, 'episodes');
      (
        await buildEpisodeTarball({
          meta: { code_version: { commit: COMMIT } },
          files: { 'a.bin': Buffer.alloc(100) },
          path: join(root, 'h', 'e1.tar.zst'),
        })
      )._unsafeUnwrap();
      const index = join(lib, 'index.jsonl');
      writeFileSync(index, '');
      chownSync(index, NOBODY, NOBODY); // the receiver's user appends to it
      const locks = join(dir, 'locks');
      mkdirSync(locks);
      chownSync(locks, NOBODY, NOBODY);

      const refused = cliAsNobody(['index', 'backfill', '--episodes-root', root, '--index', index]);
      expect(refused.code, refused.stderr).toBe(8);
      expect(refused.stderr).toContain('--lock-path');
      expect(readFileSync(index, 'utf8')).toBe('');

      const lock = join(locks, 'index.lock');
      const done = cliAsNobody(['index', 'backfill', '--episodes-root', root, '--index', index, '--lock-path', lock]);
      expect(done.code, done.stderr).toBe(0);
      expect(done.stdout).toContain(`backfilled 1 row into ${index}`);
      expect(readFileSync(index, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
      expect(existsSync(lock)).toBe(false);
    }, 30_000);
  },
);
