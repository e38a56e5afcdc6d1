/**
 * An export that starts while a truncate import holds its tables must write
 * one moment of the database: every table as it was before the import, or
 * every table as the import left it. It used to take its snapshot (at its
 * first query) before it could lock the tables, wait for the import's lock,
 * and then read a table the import emptied with TRUNCATE as the import left
 * it (TRUNCATE and COPY FREEZE are not MVCC-safe) beside a table the import
 * emptied with DELETE (one a foreign key references) as it was before: new
 * rows of one table with old rows of another.
 *
 * And the two must not deadlock: each locked its tables in the order it was
 * given them, so an export given them in the other order could hold one
 * while the import held the other, each waiting for the other.
 */
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportDataset, StagingImporter } from '../../../src/staging/index.js';
import { createTestDatabase, type TestDatabase, waitForLockWaiter } from '../../support/pg.js';
import { scratch, smallDataset, TABLES } from './fixtures.js';

let db: TestDatabase;
let dir: string;
const SCHEMA = 'export_race';
const GATE = 7_340_211;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch('bk-export-race-');
});
afterAll(async () => {
  await db.drop();
});

const dataset = (name: string, seed: number): Promise<string> => smallDataset(dir, name, seed, 50, 80);

/** Each member's SHA-256 in an export of the schema now. */
async function exported(name: string): Promise<Record<string, string | undefined>> {
  const report = (await exportDataset({ pg: db.url, schema: SCHEMA, tables: TABLES }, join(dir, name)))._unsafeUnwrap();
  return Object.fromEntries(report.manifest.members.map((m) => [m.name, m.sha256]));
}

describe('exportDataset during a truncate import', () => {
  it('writes every table before the import or every table after it, never a mix', async () => {
    const importer = new StagingImporter({ pg: db.pool, schema: SCHEMA, tables: TABLES });
    (await importer.import(await dataset('old.tar.zst', 3)))._unsafeUnwrap();
    // A foreign key references linksets_raw, so the import empties it with DELETE; advisory_chunks_raw it TRUNCATEs.
    // A TRUNCATE trigger holds the import, with both tables locked, until the test opens the gate.
    await db.query(`
      CREATE TABLE ${SCHEMA}.refs (ls text REFERENCES ${SCHEMA}.linksets_raw (id));
      CREATE FUNCTION ${SCHEMA}.gate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_catalog.pg_advisory_xact_lock_shared(${GATE}); RETURN NULL; END $$;
      CREATE TRIGGER gate BEFORE TRUNCATE ON ${SCHEMA}.advisory_chunks_raw EXECUTE FUNCTION ${SCHEMA}.gate();`);
    const before = await exported('before.tar.zst');
    const next = await dataset('new.tar.zst', 9);

    const gate = await db.pool.connect();
    try {
      await gate.query('SELECT pg_catalog.pg_advisory_lock($1)', [GATE]);
      const importing = importer.import(next, { strategy: 'truncate' });
      await waitForLockWaiter(db, 'advisory');
      // It waits for the import's whole load, however slow a loaded machine makes it.
      const exporting = exportDataset({ pg: db.url, schema: SCHEMA, tables: TABLES }, join(dir, 'during.tar.zst'), {
        lockTimeoutMs: 120_000,
      });
      await waitForLockWaiter(db, 'relation');
      await gate.query('SELECT pg_catalog.pg_advisory_unlock($1)', [GATE]);
      const imported = await importing;
      expect(imported.isOk(), imported.isErr() ? imported.error.message : '').toBe(true);
      const during = (await exporting)._unsafeUnwrap();
      const after = await exported('after.tar.zst');
      expect(after).not.toEqual(before);
      const got = Object.fromEntries(during.manifest.members.map((m) => [m.name, m.sha256]));
      // Waiting for the import's lock, the export reads what the import committed.
      expect(got).toEqual(after);
    } finally {
      gate.release();
    }
  }, 300_000);

  it('does not deadlock with an import given the tables in the other order', async () => {
    const schema = 'export_order';
    const importer = new StagingImporter({ pg: db.pool, schema, tables: TABLES, lockTimeoutMs: 120_000 });
    (await importer.import(await dataset('order-old.tar.zst', 4)))._unsafeUnwrap();
    const reversed = Object.fromEntries(Object.entries(TABLES).reverse());
    // A reader holds the table the import names first, so the import waits for it, whatever it holds by then.
    const first = Object.values(TABLES)[0]!;
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    try {
      await reader.query(`BEGIN; LOCK TABLE ${schema}.${first} IN ACCESS SHARE MODE`);
      const importing = importer.import(await dataset('order-new.tar.zst', 5), { strategy: 'truncate' });
      await waitForLockWaiter(db, 'relation');
      const exporting = exportDataset({ pg: db.url, schema, tables: reversed }, join(dir, 'order.tar.zst'), { lockTimeoutMs: 120_000 });
      // The export holds the import's second table and waits for its first (before the fix), or waits for its first.
      await waitForLockWaiter(db, 'relation', 2);
      await reader.query('COMMIT');
      const [imported, written] = await Promise.all([importing, exporting]);
      expect(imported.isOk(), imported.isErr() ? imported.error.message : '').toBe(true);
      expect(written.isOk(), written.isErr() ? written.error.message : '').toBe(true);
    } finally {
      await reader.end();
    }
  }, 300_000);
});
