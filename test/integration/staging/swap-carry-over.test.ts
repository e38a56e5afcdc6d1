/**
 * A swap replaces the live table with a fresh one: everything the user put
 * on the live table must be on the swapped-in one too (or the swap must be
 * refused before anything changes). Each test describes the table from the
 * catalog before and after, and compares.
 */
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { StagingImporter } from '../../../src/staging/index.js';
import { createKeyWithExtras, primaryKeyExtras, scratch, swapSessionWithOneRow, TABLES } from './fixtures.js';

let db: TestDatabase;
let good: string;
const suffix = randomBytes(3).toString('hex');
/** Cluster-wide roles of this file, dropped afterwards. */
const roles = {
  owner: `bk_carry_owner_${suffix}`,
  reader: `bk_carry_reader_${suffix}`,
  writer: `bk_carry_writer_${suffix}`,
  importer: `bk_carry_importer_${suffix}`,
};

beforeAll(async () => {
  db = await createTestDatabase();
  good = join(scratch('bk-swap-carry-'), 'good.tar.zst');
  (
    await writeDataset(good, {
      members: { 'linksets.ndjson': generateLinksets(340, 7), 'advisory_chunks.ndjson': generateAdvisoryChunks(1200, 42) },
    })
  )._unsafeUnwrap();
  for (const role of Object.values(roles)) await db.query(`CREATE ROLE ${role}`);
  // The URL's password, if the server asks for one (it logs in with the URL's, under its own name).
  const password = decodeURIComponent(new URL(db.url).password);
  await db.query(`ALTER ROLE ${roles.importer} LOGIN${password === '' ? '' : ` PASSWORD '${password.replaceAll("'", "''")}'`}`);
  await db.query(`GRANT CREATE ON DATABASE "${db.name}" TO ${roles.importer}`);
});
afterAll(async () => {
  await db.drop();
  const admin = new pg.Client({ connectionString: db.url.replace(/\/[^/?]*(\?|$)/, '/postgres$1') });
  await admin.connect();
  try {
    for (const role of Object.values(roles)) await admin.query(`DROP ROLE IF EXISTS ${role}`);
  } finally {
    await admin.end();
  }
});

function importer(schema: string): StagingImporter {
  return new StagingImporter({ pg: db.pool, schema, tables: TABLES });
}

async function swap(schema: string): Promise<void> {
  const imported = await importer(schema).import(good, { strategy: 'swap' });
  if (imported.isErr()) throw imported.error;
  const report = imported.value;
  expect(report.tables.map((t) => t.loaded)).toEqual([340, 1200]);
}

async function oid(table: string): Promise<number> {
  const [row] = await db.query<{ oid: number }>(`SELECT $1::regclass::oid::int AS oid`, [table]);
  return row!.oid;
}

/**
 * The table's storage settings, its columns' settings and comments, and its
 * extended statistics, by name. (Some servers stamp every column's options
 * with a `pg_attver` of their own, which no statement sets: left out.)
 */
async function settings(table: string): Promise<unknown> {
  const [row] = await db.query(
    `SELECT c.reloptions, t.reloptions AS "toastOptions", obj_description(c.oid, 'pg_class') AS comment,
            (SELECT json_agg(json_build_object('name', a.attname, 'comment', col_description(c.oid, a.attnum), 'options', (SELECT array_agg(o) FROM unnest(a.attoptions) o WHERE o NOT LIKE 'pg\\_attver=%'),
                                               'storage', a.attstorage, 'compression', a.attcompression, 'statistics', a.attstattarget) ORDER BY a.attnum)
               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
            (SELECT json_agg(json_build_object('def', pg_get_statisticsobjdef(s.oid), 'target', s.stxstattarget,
                                               'comment', obj_description(s.oid, 'pg_statistic_ext'), 'owner', pg_get_userbyid(s.stxowner)) ORDER BY s.stxname)
               FROM pg_statistic_ext s WHERE s.stxrelid = c.oid) AS statistics
       FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.oid = $1::regclass`,
    [table],
  );
  return row;
}

/** Owner, the table's and its columns' privileges (grantor, grantee, privilege, grantable), sorted. */
async function privileges(table: string): Promise<unknown> {
  const [row] = await db.query(
    `SELECT pg_get_userbyid(c.relowner) AS owner,
            (SELECT json_agg(format('%s>%s:%s:%s', pg_get_userbyid(x.grantor), CASE x.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END,
                                    x.privilege_type, x.is_grantable) ORDER BY 1)
               FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) x) AS acl,
            (SELECT json_agg(format('%s %s>%s:%s:%s', a.attname, pg_get_userbyid(x.grantor), CASE x.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END,
                                    x.privilege_type, x.is_grantable) ORDER BY 1)
               FROM pg_attribute a, aclexplode(a.attacl) x WHERE a.attrelid = c.oid AND a.attnum > 0) AS "columnAcl"
       FROM pg_class c WHERE c.oid = $1::regclass`,
    [table],
  );
  return row;
}

describe('swap carries over what the user put on the table', () => {
  it('column comments, storage options (table and TOAST), column options, storage, compression and statistics targets, and extended statistics', async () => {
    const s = 's_carry_settings';
    await swap(s);
    const t = `${s}.linksets_raw`;
    await db.query(`COMMENT ON TABLE ${t} IS 'linksets as the feed sends them'`);
    await db.query(`COMMENT ON COLUMN ${t}.id IS 'the feed''s _id'`);
    await db.query(`COMMENT ON COLUMN ${t}.raw IS 'the whole record'`);
    await db.query(
      `ALTER TABLE ${t} SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, toast.autovacuum_enabled = false, autovacuum_analyze_threshold = 5000)`,
    );
    await db.query(`ALTER TABLE ${t} ALTER COLUMN id SET (n_distinct = -1), ALTER COLUMN id SET STATISTICS 1000`);
    await db.query(`ALTER TABLE ${t} ALTER COLUMN raw SET STORAGE EXTERNAL, ALTER COLUMN raw SET COMPRESSION pglz`);
    await db.query(`CREATE STATISTICS ${s}.by_kind (ndistinct, dependencies) ON id, (raw->>'kind') FROM ${t}`);
    await db.query(`CREATE STATISTICS ${s}."Raw Expr" ON (raw->>'linksetId') FROM ${t}`);
    await db.query(`ALTER STATISTICS ${s}.by_kind SET STATISTICS 300`);
    await db.query(`COMMENT ON STATISTICS ${s}.by_kind IS 'kinds per id'`);
    const before = await settings(t);
    const untouched = await settings(`${s}.advisory_chunks_raw`);
    const was = await oid(t);
    await swap(s);
    expect(await oid(t)).not.toBe(was);
    expect(await settings(t)).toEqual(before);
    expect(await settings(`${s}.advisory_chunks_raw`)).toEqual(untouched);
    // And again: the carried-over table carries over in turn.
    await swap(s);
    expect(await settings(t)).toEqual(before);
  });

  it('owner and privileges, on the table and its columns; a reader keeps reading', async () => {
    const s = 's_carry_privileges';
    await swap(s);
    const t = `${s}.linksets_raw`;
    await db.query(`ALTER TABLE ${t} OWNER TO ${roles.owner}`);
    await db.query(`GRANT USAGE ON SCHEMA ${s} TO ${roles.reader}, ${roles.writer}`);
    await db.query(`GRANT SELECT ON ${t} TO ${roles.reader}`);
    await db.query(`GRANT INSERT, UPDATE ON ${t} TO ${roles.writer} WITH GRANT OPTION`);
    await db.query(`GRANT SELECT (id) ON ${t} TO ${roles.writer}`);
    await db.query(`REVOKE TRUNCATE ON ${t} FROM ${roles.owner}`);
    const before = await privileges(t);
    expect(before).toMatchObject({ owner: roles.owner });
    await swap(s);
    expect(await privileges(t)).toEqual(before);
    const client = await db.pool.connect();
    try {
      await client.query(`SET ROLE ${roles.reader}`);
      expect((await client.query(`SELECT count(*)::int AS n FROM ${t}`)).rows).toEqual([{ n: 340 }]);
    } finally {
      await client.query('RESET ROLE');
      client.release();
    }
  });

  it("a fresh table waiting to be swapped in (or left by a killed import) takes none of the importing role's default privileges", async () => {
    const s = 's_carry_default_privileges';
    await swap(s);
    const t = `${s}.linksets_raw`;
    await db.query(`GRANT USAGE ON SCHEMA ${s} TO ${roles.reader}`);
    // The importing role's default: every table it creates here is readable by reader; the live table is not.
    await db.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} GRANT SELECT ON TABLES TO ${roles.reader}`);
    const before = await privileges(t);
    const { target, session } = await swapSessionWithOneRow(db.url, s);
    try {
      const [fresh] = await db.query<{ name: string }>(
        `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relname LIKE '\\_bk\\_stage\\_%'`,
        [s],
      );
      expect(fresh).toBeDefined();
      const client = await db.pool.connect();
      try {
        await client.query(`SET ROLE ${roles.reader}`);
        for (const table of [fresh!.name, t])
          await expect(client.query(`SELECT count(*) FROM ${table}`)).rejects.toMatchObject({ code: '42501' });
      } finally {
        await client.query('RESET ROLE');
        client.release();
      }
      expect((await session.commit()).isOk()).toBe(true);
      expect(await privileges(t)).toEqual(before);
    } finally {
      await session.abort();
      await target.close();
      await db.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA ${s} REVOKE SELECT ON TABLES FROM ${roles.reader}`);
    }
  });

  it('a table without grants stays without grants, and one owned by its importer stays so', async () => {
    const s = 's_carry_default_acl';
    await swap(s);
    const before = await privileges(`${s}.linksets_raw`);
    await swap(s);
    expect(await privileges(`${s}.linksets_raw`)).toEqual(before);
    const [row] = await db.query(`SELECT relacl FROM pg_class WHERE oid = '${s}.linksets_raw'::regclass`);
    expect(row).toEqual({ relacl: null });
  });

  it('a sequence owned by a column stays, owned by the swapped-in column', async () => {
    const s = 's_carry_sequence';
    await swap(s);
    await db.query(`CREATE SEQUENCE ${s}.batch_no OWNED BY ${s}.linksets_raw.id`);
    await db.query(`SELECT nextval('${s}.batch_no')`);
    await swap(s);
    expect(await db.query(`SELECT last_value::int AS v FROM ${s}.batch_no`)).toEqual([{ v: 1 }]);
    expect(await db.query(`SELECT pg_get_serial_sequence('${s}.linksets_raw', 'id') AS seq`)).toEqual([{ seq: `${s}.batch_no` }]);
  });

  it('triggers, with their enabled state and comments, and they fire on the swapped-in table', async () => {
    const s = 's_carry_triggers';
    await swap(s);
    const t = `${s}.linksets_raw`;
    await db.query(`CREATE FUNCTION ${s}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'refused %', NEW.id; END$$`);
    await db.query(
      `CREATE TRIGGER "No Writes" BEFORE INSERT OR UPDATE ON ${t} FOR EACH ROW WHEN (NEW.id LIKE 'x%') EXECUTE FUNCTION ${s}.refuse()`,
    );
    await db.query(`CREATE TRIGGER off_for_now AFTER DELETE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${s}.refuse()`);
    await db.query(`ALTER TABLE ${t} DISABLE TRIGGER off_for_now`);
    await db.query(`COMMENT ON TRIGGER "No Writes" ON ${t} IS 'x ids are reserved'`);
    const triggers = () =>
      db.query(
        `SELECT tgname, pg_get_triggerdef(oid) AS def, tgenabled, obj_description(oid, 'pg_trigger') AS comment
           FROM pg_trigger WHERE tgrelid = '${t}'::regclass AND NOT tgisinternal ORDER BY tgname`,
      );
    const before = await triggers();
    expect(before).toHaveLength(2);
    await swap(s);
    expect(await triggers()).toEqual(before);
    await expect(db.query(`INSERT INTO ${t} VALUES ('x1', '{}')`)).rejects.toThrow('refused x1');
  });

  it("what its primary key carries: the key's and its index's comments, the index's storage options, CLUSTER ON", async () => {
    const s = 's_carry_key';
    await createKeyWithExtras(db.query, s);
    await db.query(`ALTER TABLE ${s}.linksets_raw CLUSTER ON linksets_key`);
    const key = () => primaryKeyExtras(db.query, `${s}.linksets_raw`);
    const before = await key();
    expect(before).toHaveLength(1);
    await swap(s);
    expect(await key()).toEqual(before);
  });

  it('a primary key that covers raw (INCLUDE) or is DEFERRABLE stays so', async () => {
    const s = 's_carry_key_clauses';
    await swap(s);
    await db.query(
      `ALTER TABLE ${s}.linksets_raw DROP CONSTRAINT linksets_raw_pkey, ADD CONSTRAINT linksets_raw_pkey PRIMARY KEY (id) INCLUDE (raw) DEFERRABLE INITIALLY DEFERRED`,
    );
    await db.query(
      `ALTER TABLE ${s}.advisory_chunks_raw DROP CONSTRAINT advisory_chunks_raw_pkey, ADD CONSTRAINT advisory_chunks_raw_pkey PRIMARY KEY (id) DEFERRABLE`,
    );
    const keys = () =>
      db.query(
        `SELECT conrelid::regclass::text AS tbl, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = '${s}'::regnamespace AND contype = 'p' ORDER BY 1`,
      );
    const before = await keys();
    expect(before).toEqual([
      { tbl: `${s}.advisory_chunks_raw`, def: 'PRIMARY KEY (id) DEFERRABLE' },
      { tbl: `${s}.linksets_raw`, def: 'PRIMARY KEY (id) INCLUDE (raw) DEFERRABLE INITIALLY DEFERRED' },
    ]);
    await swap(s);
    expect(await keys()).toEqual(before);
  });

  it('FORCE ROW LEVEL SECURITY (set ahead of enabling it: no policy, no row hidden yet) stays set', async () => {
    const s = 's_carry_force_rls';
    await swap(s);
    await db.query(`ALTER TABLE ${s}.linksets_raw FORCE ROW LEVEL SECURITY`);
    const force = () =>
      db.query(
        `SELECT relname, relforcerowsecurity AS force FROM pg_class WHERE relnamespace = '${s}'::regnamespace AND relkind = 'r' ORDER BY 1`,
      );
    const before = await force();
    expect(before).toEqual([
      { relname: 'advisory_chunks_raw', force: false },
      { relname: 'linksets_raw', force: true },
    ]);
    await swap(s);
    expect(await force()).toEqual(before);
  });

  it('refuses, before loading, a privilege granted by a role other than the owner (it could not be granted again as it was)', async () => {
    const s = 's_carry_grantor';
    await swap(s);
    const t = `${s}.linksets_raw`;
    await db.query(`GRANT SELECT ON ${t} TO ${roles.writer} WITH GRANT OPTION`);
    await db.query(`GRANT USAGE ON SCHEMA ${s} TO ${roles.writer}`);
    const client = await db.pool.connect();
    try {
      await client.query(`SET ROLE ${roles.writer}`);
      await client.query(`GRANT SELECT ON ${t} TO ${roles.reader}`);
    } finally {
      await client.query('RESET ROLE');
      client.release();
    }
    const before = await privileges(t);
    const was = await oid(t);
    const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain(`SELECT granted to ${roles.reader} by ${roles.writer}`);
    expect(e.message).toContain('Nothing was changed.');
    expect(e.partial?.tables.map((r) => r.loaded)).toEqual([0, 0]);
    expect(await oid(t)).toBe(was);
    expect(await privileges(t)).toEqual(before);
    // truncate keeps the table, and its privileges with it.
    expect((await importer(s).import(good)).isOk()).toBe(true);
    expect(await privileges(t)).toEqual(before);
  });

  it('secondary indexes, with their names, definitions, options, comments, statistics targets and CLUSTER ON', async () => {
    const s = 's_carry_indexes';
    await swap(s);
    const t = `${s}.linksets_raw`;
    await db.query(`CREATE INDEX linksets_kind ON ${t} ((raw->>'kind'))`);
    await db.query(`CREATE INDEX "Raw Gin" ON ${t} USING gin (raw jsonb_path_ops) WITH (fastupdate = off)`);
    await db.query(`CREATE INDEX linksets_x ON ${t} (id text_pattern_ops) INCLUDE (raw) WHERE raw ? 'x'`);
    await db.query(`COMMENT ON INDEX ${s}."Raw Gin" IS 'containment lookups'`);
    await db.query(`ALTER INDEX ${s}.linksets_kind ALTER COLUMN 1 SET STATISTICS 250`);
    await db.query(`ALTER TABLE ${t} CLUSTER ON linksets_kind`);
    const indexes = () =>
      db.query(
        `SELECT x.relname, pg_get_indexdef(i.indexrelid) AS def, obj_description(x.oid, 'pg_class') AS comment, x.reloptions,
                i.indisclustered, i.indisvalid, (SELECT array_agg(a.attstattarget ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = x.oid) AS targets
           FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid WHERE i.indrelid = '${t}'::regclass ORDER BY x.relname`,
      );
    const before = await indexes();
    expect(before).toHaveLength(4);
    await swap(s);
    expect(await indexes()).toEqual(before);
    expect(await db.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE '\\_bk\\_%'`)).toEqual([{ n: 0 }]);
    await swap(s);
    expect(await indexes()).toEqual(before);
  });

  it('refuses, changing nothing, an index created on the live table while the swap loaded', async () => {
    const s = 's_carry_index_midload';
    await swap(s);
    const { target, session } = await swapSessionWithOneRow(db.url, s);
    try {
      await db.query(`CREATE INDEX late ON ${s}.linksets_raw ((raw->>'kind'))`);
      const e = (await session.commit())._unsafeUnwrapErr();
      expect((await session.abort()).isOk()).toBe(true);
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain('index late');
      expect(e.message).toContain('Nothing was changed.');
      expect(await db.query(`SELECT count(*)::int AS n FROM ${s}.linksets_raw`)).toEqual([{ n: 340 }]);
      expect(
        await db.query(`SELECT indexrelid::regclass::text AS i FROM pg_index WHERE indrelid = '${s}.linksets_raw'::regclass ORDER BY 1`),
      ).toEqual([{ i: `${s}.late` }, { i: `${s}.linksets_raw_pkey` }]);
    } finally {
      await target.close();
    }
  });

  it("the tablespace of the table, its primary key and its indexes, whatever the importing connections' default_tablespace", async () => {
    const [{ data_directory: data }] = (await db.query<{ data_directory: string }>('SHOW data_directory')) as [{ data_directory: string }];
    const location = mkdtempSync(join(tmpdir(), 'bk-swap-ts-'));
    const { uid, gid } = statSync(data);
    chownSync(location, uid, gid);
    const space = `bk_carry_ts_${suffix}`;
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`CREATE TABLESPACE ${space} LOCATION '${location}'`);
    try {
      const s = 's_carry_tablespace';
      await db.query(
        `CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY USING INDEX TABLESPACE ${space}, raw jsonb NOT NULL) TABLESPACE ${space}`,
      );
      await db.query(`CREATE INDEX linksets_kind ON ${s}.linksets_raw ((raw->>'kind')) TABLESPACE ${space}`);
      const spaces = () =>
        db.query(
          `SELECT c.relname, t.spcname FROM pg_class c LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
            WHERE c.oid = '${s}.linksets_raw'::regclass OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = '${s}.linksets_raw'::regclass)
            ORDER BY 1`,
        );
      const before = await spaces();
      expect(before).toEqual([
        { relname: 'linksets_kind', spcname: space },
        { relname: 'linksets_raw', spcname: space },
        { relname: 'linksets_raw_pkey', spcname: space },
      ]);
      await swap(s);
      expect(await spaces()).toEqual(before);
      // Tables in the database's default tablespace stay there when the importing connections default to another one.
      const d = 's_carry_default_tablespace';
      await swap(d);
      await db.query(`CREATE INDEX linksets_kind ON ${d}.linksets_raw ((raw->>'kind'))`);
      const elsewhere = new pg.Pool({ connectionString: db.url, max: 4, options: `-c default_tablespace=${space}` });
      try {
        const imported = await new StagingImporter({ pg: elsewhere, schema: d, tables: TABLES }).import(good, { strategy: 'swap' });
        expect(imported.isOk()).toBe(true);
      } finally {
        await elsewhere.end();
      }
      expect(
        await db.query(
          `SELECT c.relname, c.reltablespace FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '${d}' ORDER BY 1`,
        ),
      ).toEqual(
        ['advisory_chunks_raw', 'advisory_chunks_raw_pkey', 'linksets_kind', 'linksets_raw', 'linksets_raw_pkey'].map((relname) => ({
          relname,
          reltablespace: 0,
        })),
      );
    } finally {
      await db.query('DROP SCHEMA IF EXISTS s_carry_tablespace, s_carry_default_tablespace CASCADE');
      await admin.query(`DROP TABLESPACE IF EXISTS ${space}`);
      await admin.end();
    }
  });

  it("the table's access method, whatever the importing connections' default_table_access_method", async () => {
    const s = 's_carry_access_method';
    await swap(s);
    // A second table access method (heap's own handler under another name): the swapped-in table must keep the live one's.
    await db.query('CREATE ACCESS METHOD heap_again TYPE TABLE HANDLER heap_tableam_handler');
    try {
      await db.query(`ALTER TABLE ${s}.linksets_raw SET ACCESS METHOD heap_again`);
      const methods = () =>
        db.query(
          `SELECT c.relname, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relnamespace = '${s}'::regnamespace AND c.relkind = 'r' ORDER BY 1`,
        );
      const before = await methods();
      expect(before).toEqual([
        { relname: 'advisory_chunks_raw', amname: 'heap' },
        { relname: 'linksets_raw', amname: 'heap_again' },
      ]);
      await swap(s);
      expect(await methods()).toEqual(before);
      const elsewhere = new pg.Pool({ connectionString: db.url, max: 4, options: '-c default_table_access_method=heap_again' });
      try {
        const imported = await new StagingImporter({ pg: elsewhere, schema: s, tables: TABLES }).import(good, { strategy: 'swap' });
        expect(imported.isOk()).toBe(true);
      } finally {
        await elsewhere.end();
      }
      expect(await methods()).toEqual(before);
    } finally {
      await db.query(`DROP SCHEMA ${s} CASCADE; DROP ACCESS METHOD heap_again`);
    }
  });

  it("makes its tables of PostgreSQL's text and jsonb, whatever type of that name a connection's search_path finds first", async () => {
    const s = 's_carry_types';
    await db.query(
      `CREATE SCHEMA ${s}_types; CREATE DOMAIN ${s}_types.jsonb AS pg_catalog.jsonb; CREATE DOMAIN ${s}_types.text AS pg_catalog.text`,
    );
    const types = () =>
      db.query(
        `SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          WHERE c.relnamespace = '${s}'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 ORDER BY 1, 2`,
      );
    const plain = ['advisory_chunks_raw', 'linksets_raw'].flatMap((relname) => [
      { relname, attname: 'id', type: 'text' },
      { relname, attname: 'raw', type: 'jsonb' },
    ]);
    const shadowed = new pg.Pool({ connectionString: db.url, max: 4, options: `-c search_path=${s}_types,pg_catalog` });
    try {
      // The first import creates the tables; the second swaps fresh ones in.
      for (const strategy of ['truncate', 'swap'] as const) {
        const imported = await new StagingImporter({ pg: shadowed, schema: s, tables: TABLES }).import(good, { strategy });
        expect(imported.isOk()).toBe(true);
        expect(await types()).toEqual(plain);
      }
      // And a column of the look-alike type is told apart from PostgreSQL's, though that connection prints both as jsonb.
      await db.query(`ALTER TABLE ${s}.linksets_raw ALTER COLUMN raw TYPE ${s}_types.jsonb`);
      const e = (
        await new StagingImporter({ pg: shadowed, schema: s, tables: TABLES }).import(good, { strategy: 'swap' })
      )._unsafeUnwrapErr();
      expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
      expect(e.message).toContain(`column raw is ${s}_types.jsonb, but the import stores jsonb`);
    } finally {
      await shadowed.end();
    }
  });

  it('refuses a view on the table before loading anything, and the view keeps working', async () => {
    const s = 's_carry_view';
    await swap(s);
    await db.query(`CREATE VIEW ${s}.kinds AS SELECT raw->>'kind' AS kind FROM ${s}.linksets_raw`);
    const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
    expect([e.code, e.dbCode]).toEqual(['DB_ERROR', '2BP01']);
    expect(e.message).toContain(`view ${s}.kinds depends on it`);
    expect(e.partial?.tables.map((r) => r.loaded)).toEqual([0, 0]);
    expect(await db.query(`SELECT count(*)::int AS n FROM ${s}.kinds`)).toEqual([{ n: 340 }]);
  });

  it('a swap run by the role that owns the tables, not a superuser, carries over the same', async () => {
    const s = 's_carry_not_superuser';
    const url = new URL(db.url);
    url.username = roles.importer;
    const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
    try {
      const own = new StagingImporter({ pg: pool, schema: s, tables: TABLES });
      const first = await own.import(good, { strategy: 'swap' });
      if (first.isErr()) throw first.error;
      const t = `${s}.linksets_raw`;
      await db.query(`GRANT USAGE ON SCHEMA ${s} TO ${roles.reader}; GRANT SELECT ON ${t} TO ${roles.reader}`);
      await db.query(`COMMENT ON COLUMN ${t}.raw IS 'the whole record'; ALTER TABLE ${t} SET (fillfactor = 80)`);
      await db.query(`SET ROLE ${roles.importer}; CREATE STATISTICS ${s}.by_kind ON id, (raw->>'kind') FROM ${t}; RESET ROLE`);
      await db.query(`SET ROLE ${roles.importer}; CREATE INDEX kinds ON ${t} ((raw->>'kind')); RESET ROLE`);
      const before = [await settings(t), await privileges(t)];
      expect(before[1]).toMatchObject({ owner: roles.importer });
      const imported = await own.import(good, { strategy: 'swap' });
      if (imported.isErr()) throw imported.error;
      expect([await settings(t), await privileges(t)]).toEqual(before);
    } finally {
      await pool.end();
    }
  });

  it("builds the swapped-in table's indexes as the table's owner, so their expressions never run as the importing role", async () => {
    const s = 's_carry_index_owner';
    await swap(s);
    const t = `${s}.linksets_raw`;
    await db.query(`GRANT CREATE, USAGE ON SCHEMA ${s} TO ${roles.owner}; ALTER TABLE ${t} OWNER TO ${roles.owner}`);
    await db.query(
      `CREATE FUNCTION ${s}.kind_of(raw jsonb) RETURNS text IMMUTABLE LANGUAGE plpgsql AS $$
         BEGIN IF current_user <> '${roles.owner}' THEN RAISE EXCEPTION 'index expression run as %', current_user; END IF; RETURN raw->>'kind'; END $$`,
    );
    await db.query(`CREATE INDEX kinds ON ${t} (${s}.kind_of(raw))`);
    await swap(s);
    expect(await db.query(`SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = '${t}'::regclass`)).toEqual([
      { owner: roles.owner },
    ]);
    expect(await db.query(`SELECT count(*)::int AS n FROM pg_index WHERE indrelid = '${t}'::regclass`)).toEqual([{ n: 2 }]);
  });

  it("rebuilds an index on the function it was built on when the import's connection has another search_path than its loaders", async () => {
    const s = 's_carry_index_path';
    await swap(s);
    const t = `${s}.linksets_raw`;
    // The index calls s_carry_index_path_fn.kind_of; public.kind_of is a look-alike a loader with the default search_path would find.
    await db.query(
      `CREATE SCHEMA ${s}_fn; CREATE FUNCTION ${s}_fn.kind_of(raw jsonb) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT raw->>'kind' $$`,
    );
    await db.query(`CREATE FUNCTION public.kind_of(raw jsonb) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT 'look-alike' $$`);
    await db.query(`CREATE INDEX kinds ON ${t} (${s}_fn.kind_of(raw))`);
    const kinds = () =>
      db.query(
        `SELECT pg_get_indexdef(i.indexrelid) AS def, (SELECT array_agg(d.refobjid::regprocedure::text) FROM pg_depend d
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid AND d.refclassid = 'pg_proc'::regclass) AS calls
           FROM pg_index i WHERE i.indrelid = '${t}'::regclass AND i.indexrelid = '${s}.kinds'::regclass`,
      );
    const before = await kinds();
    expect(before).toEqual([{ def: `CREATE INDEX kinds ON ${t} USING btree (${s}_fn.kind_of(raw))`, calls: [`${s}_fn.kind_of(jsonb)`] }]);
    // A pool whose one idle connection (the one the import's session takes) has the function's schema on its path; the loaders' do not.
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    try {
      const first = await pool.connect();
      await first.query(`SET search_path = ${s}_fn, public`);
      first.release();
      const imported = await new StagingImporter({ pg: pool, schema: s, tables: TABLES }).import(good, { strategy: 'swap' });
      expect(imported.isOk()).toBe(true);
    } finally {
      await pool.end();
    }
    expect(await kinds()).toEqual(before);
  });

  it('refuses, before loading, a table with a rule (it would go with the old table); truncate keeps it', async () => {
    const s = 's_carry_rule';
    await swap(s);
    const t = `${s}.linksets_raw`;
    await db.query(
      `CREATE TABLE ${s}.audit (id text); CREATE RULE audit_inserts AS ON INSERT TO ${t} DO ALSO INSERT INTO ${s}.audit VALUES (NEW.id)`,
    );
    const was = await oid(t);
    const e = (await importer(s).import(good, { strategy: 'swap' }))._unsafeUnwrapErr();
    expect(e.code).toBe('TABLE_SHAPE_MISMATCH');
    expect(e.message).toContain('rule audit_inserts would be dropped with the old table');
    expect(e.partial?.tables.map((r) => r.loaded)).toEqual([0, 0]);
    expect(await oid(t)).toBe(was);
    expect((await importer(s).import(good)).isOk()).toBe(true);
    expect(await db.query(`SELECT rulename FROM pg_rules WHERE schemaname = '${s}'`)).toEqual([{ rulename: 'audit_inserts' }]);
  });

  it("planner statistics: the swapped-in table is analyzed before it takes the live one's place", async () => {
    const s = 's_carry_analyze';
    await swap(s);
    await db.query(`ANALYZE ${s}.linksets_raw`);
    const stats = () => db.query(`SELECT attname FROM pg_stats WHERE schemaname = '${s}' AND tablename = 'linksets_raw' ORDER BY attname`);
    expect(await stats()).toEqual([{ attname: 'id' }, { attname: 'raw' }]);
    await swap(s);
    expect(await stats()).toEqual([{ attname: 'id' }, { attname: 'raw' }]);
    expect(await db.query(`SELECT reltuples::int AS n FROM pg_class WHERE oid = '${s}.linksets_raw'::regclass`)).toEqual([{ n: 340 }]);
  });

  it('a raw column that allows NULL still allows it', async () => {
    const s = 's_carry_nullable';
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (id text PRIMARY KEY, raw jsonb)`);
    const notNull = () =>
      db.query(
        `SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = '${s}.linksets_raw'::regclass AND attnum > 0 ORDER BY attnum`,
      );
    const before = await notNull();
    expect(before).toEqual([
      { attname: 'id', attnotnull: true },
      { attname: 'raw', attnotnull: false },
    ]);
    await swap(s);
    expect(await notNull()).toEqual(before);
    expect(
      await db.query(`SELECT attnotnull FROM pg_attribute WHERE attrelid = '${s}.advisory_chunks_raw'::regclass AND attname = 'raw'`),
    ).toEqual([{ attnotnull: true }]);
  });

  it('the column order: a table made (raw, id) stays so, for SELECT * and INSERT … VALUES without a column list', async () => {
    const s = 's_carry_column_order';
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}.linksets_raw (raw jsonb NOT NULL, id text PRIMARY KEY)`);
    const order = (table: string) =>
      db.query(
        `SELECT attname FROM pg_attribute WHERE attrelid = '${s}.${table}'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      );
    await swap(s);
    expect(await order('linksets_raw')).toEqual([{ attname: 'raw' }, { attname: 'id' }]);
    expect(await order('advisory_chunks_raw')).toEqual([{ attname: 'id' }, { attname: 'raw' }]);
    // What a writer that relied on the order sends keeps meaning the same.
    await db.query(`INSERT INTO ${s}.linksets_raw VALUES ('{"_id":"by-position"}', 'by-position')`);
    expect(await db.query(`SELECT raw->>'_id' AS id FROM ${s}.linksets_raw WHERE id = 'by-position'`)).toEqual([{ id: 'by-position' }]);
    await swap(s);
    expect(await order('linksets_raw')).toEqual([{ attname: 'raw' }, { attname: 'id' }]);
  });

  it('NOT NULL constraint names, where PostgreSQL catalogs them (18 and later)', async () => {
    const s = 's_carry_not_null_names';
    await swap(s);
    const names = () =>
      db.query(
        `SELECT conname FROM pg_constraint WHERE conrelid = '${s}.linksets_raw'::regclass AND contype NOT IN ('p') ORDER BY conname`,
      );
    const before = await names();
    for (const { conname } of before as { conname: string }[]) expect(conname).not.toMatch(/^_bk_/);
    await swap(s);
    expect(await names()).toEqual(before);
  });
});
