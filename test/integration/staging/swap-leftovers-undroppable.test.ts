/**
 * An import first drops what killed swaps left behind. That is tidying up:
 * a leftover the import may not or cannot drop must stay, with a warning,
 * and the import go on. A `truncate` import needs only USAGE on the schema
 * and SELECT, INSERT and TRUNCATE on its tables, while a leftover belongs to
 * the live table's owner; and a database may refuse drops outright (an
 * event trigger on `sql_drop`). Each test has a database of its own (event
 * triggers are per database).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, onServer, type TestDatabase } from '../../support/pg.js';
import { StagingImporter, type StagingStrategy } from '../../../src/staging/index.js';
import { handTarball, ndjson, scratch } from './fixtures.js';

const suffix = randomBytes(3).toString('hex');
const owner = `bk_left_owner_${suffix}`;
const loader = `bk_left_loader_${suffix}`;
let dataset: string;

beforeAll(async () => {
  dataset = handTarball(scratch('bk-swap-left-'), 'new.tar.zst', [
    { name: 'linksets.ndjson', text: ndjson([{ _id: 'new-1' }, { _id: 'new-2' }]) },
  ]);
  await onServer(`CREATE ROLE ${owner}`);
  await onServer(`CREATE ROLE ${loader}`);
});
afterAll(async () => {
  await onServer(`DROP ROLE IF EXISTS ${loader}`);
  await onServer(`DROP ROLE IF EXISTS ${owner}`);
});

const TABLES = { 'linksets.ndjson': 'linksets_raw' };

/**
 * A database of its own with `s.linksets_raw` owned by the owner role, one
 * old row in it, and what a swap killed after its loader committed leaves:
 * its fresh table (the library's name and mark, the live table's owner, no
 * privileges for others) and an old table (the live table's privileges).
 */
async function databaseWithLeftovers(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  const password = decodeURIComponent(new URL(db.url).password);
  await db.query(`ALTER ROLE ${loader} LOGIN${password === '' ? '' : ` PASSWORD '${password.replaceAll("'", "''")}'`}`);
  const mark = (role: string) =>
    `'@stella/backfill-kit swap import 0badc0de: ${role} contents of s.linksets_raw; dropped by the next swap import if left behind'`;
  await db.query(`CREATE SCHEMA s;
    CREATE TABLE s.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL);
    INSERT INTO s.linksets_raw VALUES ('old-1', '{"_id":"old-1"}');
    CREATE TABLE s._bk_stage_0badc0de_0 (id text PRIMARY KEY, raw jsonb NOT NULL);
    COMMENT ON TABLE s._bk_stage_0badc0de_0 IS ${mark('new')};
    CREATE TABLE s._bk_old_0badc0de_1 (id text PRIMARY KEY, raw jsonb NOT NULL);
    COMMENT ON TABLE s._bk_old_0badc0de_1 IS ${mark('old')};
    GRANT USAGE ON SCHEMA s TO ${loader}`);
  for (const t of ['linksets_raw', '_bk_stage_0badc0de_0', '_bk_old_0badc0de_1']) await db.query(`ALTER TABLE s.${t} OWNER TO ${owner}`);
  // What the README says a truncate import needs, on the live table (and so on the old one, which was the live table).
  for (const t of ['linksets_raw', '_bk_old_0badc0de_1']) await db.query(`GRANT SELECT, INSERT, TRUNCATE ON s.${t} TO ${loader}`);
  return db;
}

async function leftovers(db: TestDatabase): Promise<string[]> {
  const rows = await db.query<{ relname: string }>(
    `SELECT relname FROM pg_class WHERE relname LIKE '\\_bk\\_%' AND relkind = 'r' ORDER BY 1`,
  );
  return rows.map((r) => r.relname);
}

/** Imports the dataset as `pool`'s role, collecting warnings; expects it to commit. */
async function importKeepingWarnings(
  pool: pg.Pool,
  strategy: StagingStrategy,
): Promise<{ dropped: readonly string[]; warnings: [string, Record<string, unknown> | undefined][] }> {
  const warnings: [string, Record<string, unknown> | undefined][] = [];
  const logger = { debug() {}, info() {}, error() {}, warn: (m: string, f?: Record<string, unknown>) => void warnings.push([m, f]) };
  const imported = await new StagingImporter({ pg: pool, schema: 's', tables: TABLES }).import(dataset, { strategy, logger });
  if (imported.isErr()) throw imported.error;
  return { dropped: imported.value.dropped, warnings };
}

describe('leftovers an import cannot drop stay, with a warning, and the import goes on', () => {
  it("a truncate import by a role with only the table privileges it needs (the leftovers are the owner's)", async () => {
    const db = await databaseWithLeftovers();
    const url = new URL(db.url);
    url.username = loader;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
    try {
      // Before: DB_ERROR 42501 (permission denied for table _bk_stage_0badc0de_0), every time, until someone dropped them.
      const { dropped, warnings } = await importKeepingWarnings(pool, 'truncate');
      expect(dropped).toEqual([]);
      expect(await db.query('SELECT id FROM s.linksets_raw ORDER BY id')).toEqual([{ id: 'new-1' }, { id: 'new-2' }]);
      expect(await leftovers(db)).toEqual(['_bk_old_0badc0de_1', '_bk_stage_0badc0de_0']);
      expect(warnings.map(([m, f]) => [m, f?.table, f?.fix])).toEqual([
        [
          'a swapped-out staging table stays: it could not be dropped',
          's._bk_old_0badc0de_1',
          'DROP TABLE s._bk_old_0badc0de_1, as its owner or a superuser',
        ],
        [
          'a swapped-out staging table stays: it could not be dropped',
          's._bk_stage_0badc0de_0',
          'DROP TABLE s._bk_stage_0badc0de_0, as its owner or a superuser',
        ],
      ]);
      expect(String(warnings[0]?.[1]?.error)).toMatch(/must be owner|permission denied/);
      // One that may drop them does.
      expect((await importKeepingWarnings(db.pool, 'truncate')).dropped).toEqual(['s._bk_old_0badc0de_1', 's._bk_stage_0badc0de_0']);
      expect(await leftovers(db)).toEqual([]);
    } finally {
      await pool.end();
      await db.drop();
    }
  });

  it('an event trigger that refuses DROP TABLE: imports of either strategy go on, keeping the leftovers', async () => {
    const db = await databaseWithLeftovers();
    try {
      await db.query(`CREATE FUNCTION public.no_drops() RETURNS event_trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table') THEN
              RAISE EXCEPTION 'tables are not dropped here';
            END IF;
          END $$;
        CREATE EVENT TRIGGER no_drops ON sql_drop EXECUTE FUNCTION public.no_drops()`);
      for (const strategy of ['truncate', 'swap'] as const) {
        // Before: the import failed with DB_ERROR P0001 (tables are not dropped here) before loading anything.
        const { dropped, warnings } = await importKeepingWarnings(db.pool, strategy);
        expect(dropped).toEqual([]);
        expect(warnings.filter(([, f]) => String(f?.table).includes('0badc0de')).map(([, f]) => String(f?.error))).toEqual([
          expect.stringContaining('tables are not dropped here'),
          expect.stringContaining('tables are not dropped here'),
        ]);
        expect(await db.query('SELECT id FROM s.linksets_raw ORDER BY id')).toEqual([{ id: 'new-1' }, { id: 'new-2' }]);
      }
      expect((await leftovers(db)).filter((t) => t.includes('0badc0de'))).toEqual(['_bk_old_0badc0de_1', '_bk_stage_0badc0de_0']);
    } finally {
      await db.drop();
    }
  });
});
