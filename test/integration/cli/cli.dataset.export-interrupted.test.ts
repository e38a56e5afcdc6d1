import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, waitForNoBackend, withApplicationName } from '../../support/pg.js';
import { tempDir } from '../../support/tmp.js';
import { cli, jsonOf, stagedTestDatabase } from './cli-harness.js';

const dir = tempDir('bk-cli-export-interrupted-');
let db: TestDatabase;

beforeAll(async () => {
  db = await stagedTestDatabase(dir);
  // Enough rows that the export is still reading the table's COPY when the signal comes.
  await db.query(
    "INSERT INTO lnm_raw.linksets_raw SELECT 'row-' || g, pg_catalog.jsonb_build_object('_id', 'row-' || g, 'pad', pg_catalog.repeat('x', 300)) FROM pg_catalog.generate_series(1, 200000) g",
  );
}, 120_000);
afterAll(async () => {
  await db.drop();
});

describe('Ctrl-C or SIGTERM while dataset export reads a table', () => {
  it.each([['SIGINT'], ['SIGTERM']] as const)(
    '%s: exit 130 with one ABORTED JSON document, the previous tarball kept, no temporary file left',
    async (signal) => {
      const out = join(dir, `out-${signal}`);
      spawnSync('mkdir', ['-p', out]);
      const tarball = join(out, 'ds.tar.zst');
      // The previous export, which the interrupted one must leave as it is.
      const first = await cli(['dataset', 'export', tarball, '--table', 'advisory_chunks.ndjson=advisory_chunks_raw', '--quiet'], {
        env: { PGURI: db.url },
      });
      expect(first.code, first.stderr).toBe(0);
      const before = readFileSync(tarball);

      let pid: number | undefined;
      let stderr = '';
      let signalled = false;
      const appName = `bk_export_${signal.toLowerCase()}`;
      const running = cli(['dataset', 'export', tarball, '--json'], {
        env: { PGURI: withApplicationName(db.url, appName), BACKFILL_KIT_PROGRESS_INTERVAL: '0.001' },
        onSpawn: (p) => (pid = p),
        onStderr: (d: string) => {
          stderr += d;
          // Interrupt once rows are flowing out of the COPY, well before the end.
          if (!signalled && /: [1-9][\d,]* rows/.test(stderr)) {
            signalled = true;
            process.kill(pid!, signal);
          }
        },
      });
      const r = await running;
      expect(signalled, r.stderr).toBe(true);
      expect(r.code, r.stderr).toBe(130);
      const doc = jsonOf(r);
      expect(doc.ok).toBe(false);
      expect(doc.error?.code).toBe('ABORTED');
      expect(r.stderr).not.toMatch(/unsettled top-level await/);
      expect(readFileSync(tarball).equals(before)).toBe(true);
      expect(readdirSync(out).sort()).toEqual(['ds.tar.zst', 'ds.tar.zst.sha256']);
      // The export's connection goes away with its read-only transaction (the server notices the
      // closed socket a moment after the process exits), and then nothing holds the tables.
      await waitForNoBackend(db, appName);
      const held = await db.query(
        "SELECT 1 FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c ON c.oid = l.relation WHERE c.relname = 'linksets_raw' AND l.pid <> pg_catalog.pg_backend_pid()",
      );
      expect(held).toEqual([]);
    },
    120_000,
  );
});
