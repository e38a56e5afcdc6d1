/**
 * `dataset build` killed right after one of its renames (the tarball's, or
 * its `.sha256`'s): the pair left is either consistent (the old one or the
 * new one), or `dataset verify` refuses it with `CHECKSUM_MISMATCH` naming
 * the `.sha256` as the stale file and saying to rebuild; `sha256sum -c`
 * agrees on the verdict, and the next build leaves a consistent pair and
 * no temporary files. Before, a kill between the two renames was refused
 * with a mismatch that said only "the file changed or is corrupt".
 * `dataset import` refuses it with the same message (it used to say only
 * "fetch it again") and loads nothing.
 */
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { needTools, tempDir } from '../../support/tmp.js';
import { cli, jsonOf } from './cli-harness.js';

const tools = needTools('sha256sum');
const preload = fileURLToPath(new URL('../../support/kill-after-rename.mjs', import.meta.url));
const temps = (dir: string): string[] => readdirSync(dir).filter((n) => n.includes('.tmp-'));
const sha256sumAgrees = (dir: string): boolean => spawnSync('sha256sum', ['-c', 'ds.tar.zst.sha256'], { cwd: dir }).status === 0;

describe.skipIf(tools.missing)(tools.title('dataset build killed between the tarball and its .sha256'), () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it.for(['ds.tar.zst', 'ds.tar.zst.sha256'])(
    'killed right after renaming %s: a consistent pair, or an error naming the stale file',
    async (last) => {
      const dir = tempDir('bk-killed-sidecar-');
      const out = join(dir, 'ds.tar.zst');
      expect((await cli(['dataset', 'build', out, '--linksets', '20', '--chunks', '20'])).code).toBe(0);
      const killed = await cli(['dataset', 'build', out, '--linksets', '30', '--chunks', '30', '--seed', '2'], {
        nodeOptions: ['--import', preload],
        env: { KILL_AFTER_RENAME_TO: join(dir, last) },
      });
      expect(killed.signal, killed.stderr).toBe('SIGKILL');

      const verified = await cli(['dataset', 'verify', out, '--json']);
      const doc = jsonOf(verified);
      expect(doc.ok).toBe(sha256sumAgrees(dir));
      if (last === 'ds.tar.zst') {
        // The new tarball beside the old .sha256: refused, saying which file is stale and what to do.
        expect(doc.error?.code).toBe('CHECKSUM_MISMATCH');
        expect(doc.error?.message).toMatch(/ds\.tar\.zst\.sha256 is stale/);
        expect(doc.error?.message).toMatch(/rebuild/i);
        const text = await cli(['dataset', 'verify', out]);
        expect(text.stderr).toMatch(/ds\.tar\.zst\.sha256 is stale/);
        // import says the same, and loads nothing.
        const imported = await cli(['dataset', 'import', out, '--json'], { env: { PGURI: db.url, PGSCHEMA: 'killed_sidecar' } });
        expect(imported.code, imported.stderr).toBe(3);
        const importDoc = jsonOf(imported);
        expect(importDoc.error?.code).toBe('CHECKSUM_MISMATCH');
        expect(importDoc.error?.message).toMatch(/ds\.tar\.zst\.sha256 is stale/);
        expect(importDoc.error?.message).toMatch(/rebuild/i);
        expect(importDoc.error?.message).toMatch(/Nothing was committed/);
        const rows = await db.query<{ t: string | null }>(`SELECT pg_catalog.to_regclass('killed_sidecar.linksets_raw')::text AS t`);
        if (rows[0]!.t !== null)
          expect((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM killed_sidecar.linksets_raw'))[0]!.n).toBe('0');
      } else {
        expect(doc.ok, verified.stdout).toBe(true);
      }

      const next = await cli(['dataset', 'build', out, '--linksets', '40', '--chunks', '40', '--seed', '3']);
      expect(next.code, next.stderr).toBe(0);
      expect(temps(dir)).toEqual([]);
      expect(sha256sumAgrees(dir)).toBe(true);
      expect(jsonOf(await cli(['dataset', 'verify', out, '--json'])).ok).toBe(true);
      expect(readFileSync(`${out}.sha256`, 'utf8')).toMatch(/^[0-9a-f]{64} {2}ds\.tar\.zst\n$/);
    },
  );
});
