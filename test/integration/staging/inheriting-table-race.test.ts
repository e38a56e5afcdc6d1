/**
 * A table that INHERITS from a live table is refused up front, but one can
 * be committed while an import (or rollback()) waits for its lock, after
 * the check: emptying the live table must still never empty it.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { scratch } from './fixtures.js';

let db: TestDatabase;
let file: string;

beforeAll(async () => {
  db = await createTestDatabase();
  file = join(scratch('bk-inherit-race-'), 'ds.tar.zst');
  (await writeDataset(file, { members: { 'linksets.ndjson': [{ _id: 'a' }, { _id: 'b' }] } }))._unsafeUnwrap();
});
afterAll(async () => {
  await db?.drop();
});

const importer = (schema: string) =>
  new StagingImporter({ pg: db.pool, schema, tables: { 'linksets.ndjson': 'linksets_raw' }, lockTimeoutMs: 20_000 });

/** Runs `run` while another session creates and fills a table inheriting from the live one, committing once `run` waits for its lock. */
async function withInheritingTableCommittedMidway(schema: string, run: () => Promise<unknown>): Promise<number> {
  (await importer(schema).import(file))._unsafeUnwrap();
  const other = new pg.Client({ connectionString: db.url });
  await other.connect();
  try {
    await other.query('BEGIN');
    await other.query(`CREATE TABLE ${schema}.linksets_archive () INHERITS (${schema}.linksets_raw)`);
    await other.query(`INSERT INTO ${schema}.linksets_archive VALUES ('kept-1', '{}'), ('kept-2', '{}')`);
    const running = run();
    // The check has passed: the import now waits for its LOCK TABLE behind the other session.
    for (let waiting = 0; waiting === 0; ) {
      await new Promise((r) => setTimeout(r, 25));
      [{ waiting = 0 } = {}] = await db.query<{ waiting: number }>(
        `SELECT count(*)::int AS waiting FROM pg_locks WHERE NOT granted AND relation = '${schema}.linksets_raw'::regclass`,
      );
    }
    await other.query('COMMIT');
    await running;
    const [row] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ONLY ${schema}.linksets_archive`);
    return row?.n ?? -1;
  } finally {
    await other.end();
  }
}

it('a truncate import never empties a table that came to inherit from the live one while it waited for its lock', async () => {
  expect(
    await withInheritingTableCommittedMidway('s_trunc', async () => await importer('s_trunc').import(file, { strategy: 'truncate' })),
  ).toBe(2);
}, 60_000);

it('rollback() never empties a table that came to inherit from the live one while it waited for its lock', async () => {
  expect(await withInheritingTableCommittedMidway('s_rb', async () => await importer('s_rb').rollback())).toBe(2);
}, 60_000);
