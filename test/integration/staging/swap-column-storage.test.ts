/**
 * `ALTER TABLE … ALTER COLUMN … SET STORAGE / SET COMPRESSION` changes how
 * rows stored from then on are laid out, never the rows already stored. A
 * swap must load its fresh table with the live table's column settings in
 * place, or every swapped-in row keeps the default layout (compressed with
 * `default_toast_compression`) while the column claims another.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PgStagingTarget, type StagingRow } from '../../../src/staging/index.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** A record large and repetitive enough to be compressed when stored inline or in TOAST. */
const big = (id: string): StagingRow => ({ id, raw: JSON.stringify({ _id: id, text: 'abcdefgh'.repeat(2000) }) });

async function swapIn(schema: string, rows: readonly StagingRow[]): Promise<void> {
  const target = new PgStagingTarget({ pg: db.url, schema, tables: ['linksets_raw'] });
  try {
    const session = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['linksets_raw'] }))._unsafeUnwrap();
    async function* batches(): AsyncGenerator<StagingRow[]> {
      yield [...rows];
    }
    expect((await session.load('linksets_raw', batches()))._unsafeUnwrap()).toBe(rows.length);
    (await session.commit())._unsafeUnwrap();
  } finally {
    await target.close();
  }
}

/** Whether the server was built with lz4 (the embedded builds are not). */
async function lz4Built(): Promise<boolean> {
  const rows = await db.query("SELECT 1 FROM pg_catalog.pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)");
  return rows.length > 0;
}

describe('a swap loads rows with the live table’s column storage and compression', () => {
  it.for([
    ['SET COMPRESSION lz4', 'ALTER TABLE @T ALTER COLUMN raw SET COMPRESSION lz4', 'lz4', 'x'],
    ['SET STORAGE EXTERNAL (no compression)', 'ALTER TABLE @T ALTER COLUMN raw SET STORAGE EXTERNAL', null, 'e'],
  ] as const)('%s', async ([, alter, compression, storage], ctx) => {
    if (compression === 'lz4' && !(await lz4Built())) {
      return ctx.skip('skipped: this PostgreSQL server was built without lz4 (default_toast_compression offers pglz only)');
    }
    const s = `s_column_${storage}`;
    const t = `${s}.linksets_raw`;
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${t} (id text PRIMARY KEY, raw jsonb NOT NULL)`);
    await db.query(alter.replaceAll('@T', t));
    await swapIn(s, [big('a'), big('b')]);
    expect(
      await db.query(
        `SELECT id, pg_catalog.pg_column_compression(raw) AS compression,
                (SELECT attstorage::text FROM pg_attribute WHERE attrelid = '${t}'::regclass AND attname = 'raw') AS storage
           FROM ${t} ORDER BY id`,
      ),
    ).toEqual([
      { id: 'a', compression, storage },
      { id: 'b', compression, storage },
    ]);
  });
});
