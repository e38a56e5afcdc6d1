/**
 * A swap rebuilds the live table's other indexes on the fresh table after
 * the load, with `search_path` set to `pg_catalog` only (so a look-alike
 * earlier in a connection's path is never taken). An index whose function
 * calls another without naming its schema built on the live table under
 * the connection's own path, and cannot be built there: the import must
 * say so before it loads anything, not after loading every row.
 */
import pg from 'pg';
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

describe('a swap checks before the load that the live table’s indexes can be rebuilt', () => {
  it('refuses, before loading a row, an index whose SQL function finds another through the connection’s search_path only', async (ctx) => {
    const [version] = await db.query<{ v: number }>("SELECT pg_catalog.current_setting('server_version_num')::int AS v");
    if ((version?.v ?? 0) >= 170000) {
      return ctx.skip(
        'skipped: PostgreSQL 17 and later build every index with search_path = pg_catalog, so no such index can be made there',
      );
    }
    const s = 's_probe_search_path';
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL)`);
    // Made on a connection whose search_path finds kind_of, as the importing role's do (ALTER ROLE … SET search_path, say).
    const setup = new pg.Client({ connectionString: db.url, options: `-c search_path=${s},public` });
    await setup.connect();
    try {
      await setup.query(`CREATE FUNCTION ${s}.kind_of(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT j->>'kind' $$`);
      await setup.query(`CREATE FUNCTION ${s}.kind(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT kind_of(j) $$`);
      await setup.query(`CREATE INDEX linksets_kind ON ${s}.linksets_raw (${s}.kind(raw))`);
      await setup.query(`INSERT INTO ${s}.linksets_raw VALUES ('old-1', '{"_id":"old-1","kind":"a"}')`);
    } finally {
      await setup.end();
    }
    const pool = new pg.Pool({ connectionString: db.url, options: `-c search_path=${s},public`, max: 4 });
    const target = new PgStagingTarget({ pg: pool, schema: s, tables: ['linksets_raw'] });
    let pulled = 0;
    async function* rows(): AsyncGenerator<StagingRow[]> {
      pulled++;
      yield [{ id: 'new-1', raw: '{"_id":"new-1","kind":"b"}' }];
    }
    try {
      const begun = await target.begin({ strategy: 'swap', dryRun: false, tables: ['linksets_raw'] });
      if (begun.isOk()) {
        const session = begun.value;
        const loaded = await session.load('linksets_raw', rows());
        await session.abort();
        expect.fail(`the import began, and failed only after loading (${loaded.isErr() ? loaded.error.message : 'loaded'})`);
      }
      const e = begun._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain(`index linksets_kind of "${s}"."linksets_raw"`);
      expect(e.message).toContain('kind_of');
      expect(e.message).toContain('strategy "truncate"');
      expect(e.message).toContain('Nothing was changed.');
      expect(pulled).toBe(0);
      // (Read on the pool: planning any query on the table inlines the index's function, which needs its search_path.)
      expect((await pool.query(`SELECT id FROM ${s}.linksets_raw`)).rows).toEqual([{ id: 'old-1' }]);
      expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE '\\_bk\\_%'`)).toEqual([]);
      // Truncate keeps the index, maintained under the connection's search_path: it imports.
      const truncate = (await target.begin({ strategy: 'truncate', dryRun: false, tables: ['linksets_raw'] }))._unsafeUnwrap();
      expect((await truncate.load('linksets_raw', rows()))._unsafeUnwrap()).toBe(1);
      expect((await truncate.commit()).isOk()).toBe(true);
      expect((await pool.query(`SELECT id FROM ${s}.linksets_raw`)).rows).toEqual([{ id: 'new-1' }]);
    } finally {
      await target.close();
      await pool.end();
    }
  });

  it('still swaps in a table whose indexes call functions by their schema', async () => {
    const s = 's_probe_qualified';
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb NOT NULL)`);
    await db.query(`CREATE FUNCTION ${s}.kind_of(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT j->>'kind' $$`);
    await db.query(`CREATE FUNCTION ${s}.kind(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT ${s}.kind_of(j) $$`);
    await db.query(
      `CREATE INDEX linksets_kind ON ${s}.linksets_raw (${s}.kind(raw)); CREATE INDEX linksets_gin ON ${s}.linksets_raw USING gin (raw)`,
    );
    const target = new PgStagingTarget({ pg: db.url, schema: s, tables: ['linksets_raw'] });
    try {
      const session = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['linksets_raw'] }))._unsafeUnwrap();
      async function* rows(): AsyncGenerator<StagingRow[]> {
        yield [{ id: 'new-1', raw: '{"_id":"new-1","kind":"b"}' }];
      }
      expect((await session.load('linksets_raw', rows()))._unsafeUnwrap()).toBe(1);
      expect((await session.commit()).isOk()).toBe(true);
      expect(
        await db.query(`SELECT indexrelid::regclass::text AS i FROM pg_index WHERE indrelid = '${s}.linksets_raw'::regclass ORDER BY 1`),
      ).toEqual([{ i: `${s}.linksets_gin` }, { i: `${s}.linksets_kind` }, { i: `${s}.linksets_raw_pkey` }]);
    } finally {
      await target.close();
    }
  });
});
