/**
 * A swap gives the swapped-in table's primary key the live table's key name.
 * A live table without a primary key gets one, named as PostgreSQL names a
 * new table's key (`<table>_pkey`, the table's part shortened to fit 63
 * bytes, a number added when another relation of the schema has the name):
 * never a failed swap because that name is taken, nor a key left under the
 * import's own `_bk_stage_…` name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { handTarball, ndjson, scratch } from './fixtures.js';

let db: TestDatabase;
let dataset: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dataset = handTarball(scratch('bk-swap-key-'), 'new.tar.zst', [
    { name: 'linksets.ndjson', text: ndjson([{ _id: 'new-1' }, { _id: 'new-2' }]) },
  ]);
});
afterAll(async () => {
  await db.drop();
});

/** Swaps the dataset into `<schema>.<table>` twice; both must commit. Returns the key's name as PostgreSQL makes it for a new table. */
async function swapTwice(schema: string, table: string): Promise<string[]> {
  for (let i = 0; i < 2; i++) {
    const imported = await new StagingImporter({ pg: db.pool, schema, tables: { 'linksets.ndjson': table } }).import(dataset, {
      strategy: 'swap',
    });
    if (imported.isErr()) throw imported.error;
    expect(await db.query(`SELECT id FROM ${schema}.${table} ORDER BY id`)).toEqual([{ id: 'new-1' }, { id: 'new-2' }]);
  }
  const rows = await db.query<{ conname: string }>(`SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, [
    `${schema}.${table}`,
  ]);
  return rows.map((r) => r.conname);
}

/** The name PostgreSQL gives the primary key of a new table named `table` (made in a schema of its own, rolled back). */
async function postgresKeyName(table: string): Promise<string> {
  const client = await db.pool.connect();
  try {
    await client.query(`BEGIN; CREATE SCHEMA s_key_probe; CREATE TABLE s_key_probe.${table} (id text PRIMARY KEY)`);
    const { rows } = await client.query<{ conname: string }>(
      `SELECT conname FROM pg_constraint WHERE conrelid = 's_key_probe.${table}'::regclass AND contype = 'p'`,
    );
    return rows[0]!.conname;
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

describe('a swap of a live table without a primary key names the key as PostgreSQL would', () => {
  it('another relation of the schema holding <table>_pkey: the key takes the next free name', async () => {
    const s = 's_key_taken';
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text, raw jsonb NOT NULL);
      INSERT INTO ${s}.linksets_raw VALUES ('old-1', '{}');
      CREATE TABLE ${s}.other (n int); CREATE INDEX linksets_raw_pkey ON ${s}.other (n)`);
    // Before: every swap loaded its rows, then failed under its lock with 'relation "linksets_raw_pkey" already exists'.
    expect(await swapTwice(s, 'linksets_raw')).toEqual(['linksets_raw_pkey1']);
    expect(await db.query(`SELECT indexrelid::regclass::text AS i FROM pg_index WHERE indrelid = '${s}.other'::regclass`)).toEqual([
      { i: `${s}.linksets_raw_pkey` },
    ]);
  });

  it('a table name of 63 bytes: the key is named <table, shortened>_pkey, not _bk_stage_…', async () => {
    const s = 's_key_long';
    const table = `linksets_raw_${'x'.repeat(63 - 'linksets_raw_'.length)}`;
    expect(table).toHaveLength(63);
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.${table} (id text, raw jsonb NOT NULL)`);
    const expected = await postgresKeyName(table);
    expect(expected).toBe(`${table.slice(0, 58)}_pkey`);
    // Before: the key kept the name of the import's fresh table's, _bk_stage_<tag>_0_pkey.
    expect(await swapTwice(s, table)).toEqual([expected]);
  });
});
