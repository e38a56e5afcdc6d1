/**
 * A swap builds its fresh table from the live table's settings before the
 * load, and swaps it in under ACCESS EXCLUSIVE after. Another session may
 * change the live table in between: the swap must notice it under its lock
 * and fail, changing nothing, rather than install a table without the change.
 */
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { swapSessionWithOneRow } from './fixtures.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  // A second table access method, for a change of access method while the import loads (superuser only).
  await db.query('CREATE ACCESS METHOD heap_too TYPE TABLE HANDLER heap_tableam_handler');
});
afterAll(async () => {
  await db.drop();
});

/** `<schema>.linksets_raw` with two rows of its own, after `setup` (SQL, `T` for the table). */
async function liveTable(schema: string, setup = ''): Promise<string> {
  const t = `${schema}.linksets_raw`;
  await db.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${t} (id text PRIMARY KEY, raw jsonb NOT NULL)`);
  await db.query(`INSERT INTO ${t} VALUES ('old-1', '{"_id":"old-1"}'), ('old-2', '{"_id":"old-2"}')`);
  if (setup !== '') await db.query(setup.replaceAll('@T', t));
  return t;
}

/** The live table as the tests compare it: its rows, settings, access method and row security. */
async function describeTable(t: string): Promise<Record<string, unknown>> {
  const [row] = await db.query(
    `SELECT (SELECT array_agg(id ORDER BY id) FROM ${t}) AS ids, c.reloptions, a.amname, c.relrowsecurity,
            (SELECT count(*)::int FROM pg_class WHERE relname LIKE '\\_bk\\_%') AS leftovers
       FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = '${t}'::regclass`,
  );
  return row!;
}

/** Loads one row in a swap session, runs `change` (`@T` the live table) from another connection, and commits. */
async function swapAround(schema: string, t: string, change: string) {
  const { target, session } = await swapSessionWithOneRow(db.url, schema);
  try {
    await db.query(change.replaceAll('@T', t));
    const committed = await session.commit();
    expect((await session.abort()).isOk()).toBe(true);
    return committed;
  } finally {
    await target.close();
  }
}

describe('a swap refuses a live table changed while it loaded', () => {
  it.each([
    [
      'a storage parameter set',
      's_mid_set_fillfactor',
      '',
      'ALTER TABLE @T SET (fillfactor = 70)',
      'storage parameters',
      ['fillfactor=70'],
    ],
    [
      'a storage parameter reset',
      's_mid_reset_fillfactor',
      'ALTER TABLE @T SET (fillfactor = 70)',
      'ALTER TABLE @T RESET (fillfactor)',
      'storage parameters',
      null,
    ],
    [
      "the TOAST table's storage parameter",
      's_mid_toast',
      '',
      'ALTER TABLE @T SET (toast.autovacuum_enabled = false)',
      'storage parameters',
      null,
    ],
  ])('%s', async (_what, schema, setup, change, named, reloptions) => {
    const t = await liveTable(schema, setup);
    const e = (await swapAround(schema, t, change))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain('changed while the import loaded');
    expect(e.message).toContain(named);
    expect(e.message).toContain('Import again. Nothing was changed.');
    expect(await describeTable(t)).toEqual({ ids: ['old-1', 'old-2'], reloptions, amname: 'heap', relrowsecurity: false, leftovers: 0 });
  });

  it('its access method changed', async () => {
    const schema = 's_mid_access_method';
    const t = await liveTable(schema);
    const e = (await swapAround(schema, t, 'ALTER TABLE @T SET ACCESS METHOD heap_too'))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain('access method was heap, now heap_too');
    expect(e.message).toContain('Import again. Nothing was changed.');
    expect(await describeTable(t)).toEqual({
      ids: ['old-1', 'old-2'],
      reloptions: null,
      amname: 'heap_too',
      relrowsecurity: false,
      leftovers: 0,
    });
  });

  it("its primary key's index storage parameters reset", async () => {
    const schema = 's_mid_key_options';
    const t = await liveTable(schema, `ALTER INDEX ${schema}.linksets_raw_pkey SET (fillfactor = 50)`);
    const e = (await swapAround(schema, t, `ALTER INDEX ${schema}.linksets_raw_pkey RESET (fillfactor)`))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain("primary key's index storage parameters was fillfactor = '50', now the default");
    expect(await db.query(`SELECT reloptions FROM pg_class WHERE oid = '${schema}.linksets_raw_pkey'::regclass`)).toEqual([
      { reloptions: null },
    ]);
    expect(await describeTable(t)).toMatchObject({ ids: ['old-1', 'old-2'], leftovers: 0 });
  });

  it("an index moved to another tablespace (which the index's definition does not name)", async () => {
    const [{ data_directory: data }] = (await db.query<{ data_directory: string }>('SHOW data_directory')) as [{ data_directory: string }];
    const location = mkdtempSync(join(tmpdir(), 'bk-mid-ts-'));
    const { uid, gid } = statSync(data);
    chownSync(location, uid, gid);
    const space = `bk_mid_ts_${randomBytes(3).toString('hex')}`;
    await db.query(`CREATE TABLESPACE ${space} LOCATION '${location}'`);
    const schema = 's_mid_index_tablespace';
    try {
      const t = await liveTable(schema, `CREATE INDEX linksets_kind ON @T ((raw->>'kind'))`);
      const e = (await swapAround(schema, t, `ALTER INDEX ${schema}.linksets_kind SET TABLESPACE ${space}`))._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain('index linksets_kind');
      expect(e.message).toContain(space);
      expect(e.message).toContain('Import again. Nothing was changed.');
      expect(
        await db.query(
          `SELECT t.spcname FROM pg_class c LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace WHERE c.oid = '${schema}.linksets_kind'::regclass`,
        ),
      ).toEqual([{ spcname: space }]);
      expect(await describeTable(t)).toMatchObject({ ids: ['old-1', 'old-2'], leftovers: 0 });
    } finally {
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.query(`DROP TABLESPACE IF EXISTS ${space}`);
    }
  });

  it('row-level security enabled', async () => {
    const schema = 's_mid_rls';
    const t = await liveTable(schema);
    const e = (await swapAround(schema, t, 'ALTER TABLE @T ENABLE ROW LEVEL SECURITY'))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain('row-level security');
    expect(e.message).toContain('Nothing was changed.');
    expect(await describeTable(t)).toEqual({
      ids: ['old-1', 'old-2'],
      reloptions: null,
      amname: 'heap',
      relrowsecurity: true,
      leftovers: 0,
    });
  });

  it('and swaps in a table changed in what the swap carries over itself (a comment, a grant) as it is now', async () => {
    const schema = 's_mid_carried';
    const t = await liveTable(schema);
    const committed = await swapAround(schema, t, `COMMENT ON TABLE @T IS 'set mid-load'; GRANT SELECT ON @T TO PUBLIC`);
    expect(committed.isOk()).toBe(true);
    expect(
      await db.query(
        `SELECT (SELECT array_agg(id) FROM ${t}) AS ids, obj_description('${t}'::regclass, 'pg_class') AS comment,
                has_table_privilege('public', '${t}', 'SELECT') AS readable`,
      ),
    ).toEqual([{ ids: ['new-1'], comment: 'set mid-load', readable: true }]);
  });
});
