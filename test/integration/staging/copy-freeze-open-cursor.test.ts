/**
 * PostgreSQL refuses `COPY … WITH (FREEZE)` ("cannot perform COPY FREEZE
 * because of prior transaction activity", SQLSTATE 25000) while the session
 * has an open cursor: a WITH HOLD cursor of the caller's connection, or one
 * that a TRUNCATE trigger opened and left open. The import used to fail
 * with that message; it now loads such a table without FREEZE.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StagingImporter } from '../../../src/staging/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { scratch, smallDataset, TABLES } from './fixtures.js';

let db: TestDatabase;
let dir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch('bk-freeze-cursor-');
});
afterAll(async () => {
  await db.drop();
});

async function counts(schema: string): Promise<Record<string, string>> {
  const rows = await db.query<{ t: string; n: string }>(
    `SELECT 'linksets_raw' AS t, count(*)::text AS n FROM ${schema}.linksets_raw
     UNION ALL SELECT 'advisory_chunks_raw', count(*)::text FROM ${schema}.advisory_chunks_raw`,
  );
  return Object.fromEntries(rows.map((r) => [r.t, r.n]));
}

describe('an import on a connection with an open cursor', () => {
  it.for(['truncate', 'swap'] as const)(
    "loads without FREEZE when the caller's connection holds a WITH HOLD cursor (%s)",
    { timeout: 120_000 },
    async (strategy) => {
      const schema = `freeze_hold_${strategy}`;
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const importer = new StagingImporter({ pg: client, schema, tables: TABLES });
        (await importer.import(await smallDataset(dir, `${strategy}-0.tar.zst`, 1, 20, 30), { strategy }))._unsafeUnwrap();
        await client.query('BEGIN; DECLARE held CURSOR WITH HOLD FOR SELECT g FROM pg_catalog.generate_series(1, 3) g; COMMIT');
        const report = await importer.import(await smallDataset(dir, `${strategy}-1.tar.zst`, 2, 40, 50), { strategy });
        expect(report.isOk(), report.isErr() ? report.error.message : '').toBe(true);
        expect(await counts(schema)).toEqual({ linksets_raw: '40', advisory_chunks_raw: '50' });
        // The caller's cursor is left as it was.
        expect((await client.query('FETCH ALL FROM held')).rows).toEqual([{ g: 1 }, { g: 2 }, { g: 3 }]);
      } finally {
        await client.end();
      }
    },
  );

  it('loads without FREEZE when a TRUNCATE trigger leaves a cursor open', async () => {
    const schema = 'freeze_trigger';
    const importer = new StagingImporter({ pg: db.pool, schema, tables: TABLES });
    (await importer.import(await smallDataset(dir, 'trigger-0.tar.zst', 3, 20, 30)))._unsafeUnwrap();
    await db.query(`
      CREATE FUNCTION ${schema}.audit() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE c refcursor := 'audit_' || TG_TABLE_NAME;
        BEGIN OPEN c FOR SELECT 1; RETURN NULL; END $$;
      CREATE TRIGGER audit AFTER TRUNCATE ON ${schema}.advisory_chunks_raw EXECUTE FUNCTION ${schema}.audit();`);
    const report = await importer.import(await smallDataset(dir, 'trigger-1.tar.zst', 4, 40, 50), { strategy: 'truncate' });
    expect(report.isOk(), report.isErr() ? report.error.message : '').toBe(true);
    expect(await counts(schema)).toEqual({ linksets_raw: '40', advisory_chunks_raw: '50' });
  }, 120_000);
});
