/**
 * A connection whose `search_path` puts a schema of look-alike functions
 * before `pg_catalog` (a role's `ALTER ROLE … SET search_path`, a pool's
 * `options`) must not change what the staging module does: every built-in
 * function its SQL calls is named with its schema.
 */
import { join } from 'node:path';
import type { Result } from 'neverthrow';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackfillError } from '../../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { writeDataset } from '../../../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';
import { exportDataset, StagingImporter } from '../../../src/staging/index.js';
import { scratch, swapSessionWithOneRow, TABLES } from './fixtures.js';

let db: TestDatabase;
let dir: string;
let good: string;
const pools: pg.Pool[] = [];

/** Every function the staging module's SQL calls (aggregates and variadic "any" ones are made by hand below). */
const CALLED = [
  'acldefault',
  'aclexplode',
  'array_remove',
  'col_description',
  'current_setting',
  'format',
  'format_type',
  'has_schema_privilege',
  'hashtext',
  'lower',
  'obj_description',
  'pg_advisory_xact_lock',
  'pg_backend_pid',
  'pg_describe_object',
  'pg_get_constraintdef',
  'pg_get_indexdef',
  'pg_get_statisticsobjdef_columns',
  'pg_get_triggerdef',
  'pg_get_userbyid',
  'pg_has_role',
  'pg_try_advisory_xact_lock',
  'quote_ident',
  'set_config',
  'split_part',
  'starts_with',
  'strpos',
  'substr',
  'to_regclass',
  'unnest',
];

/** Every catalog the staging module's SQL reads. */
const CATALOGS = [
  'pg_am',
  'pg_attribute',
  'pg_class',
  'pg_collation',
  'pg_constraint',
  'pg_depend',
  'pg_extension',
  'pg_index',
  'pg_inherits',
  'pg_locks',
  'pg_namespace',
  'pg_policy',
  'pg_publication',
  'pg_publication_rel',
  'pg_publication_tables',
  'pg_rewrite',
  'pg_roles',
  'pg_seclabel',
  'pg_stat_activity',
  'pg_statistic_ext',
  'pg_subscription',
  'pg_subscription_rel',
  'pg_tablespace',
  'pg_trigger',
  'pg_type',
];

/** Every type it casts to by a name that is not a keyword (`int`, `bigint` are). */
const TYPES = ['name', 'oid', 'regclass', 'regcollation', 'regtype', 'text'];

/** The value of an ok result; throws the error itself otherwise, so a failure shows it. */
function unwrap<T>(result: Result<T, BackfillError>): T {
  if (result.isErr()) throw result.error;
  return result.value;
}

/** A pool whose connections look in `schema` before `pg_catalog`. */
function poolFirstIn(schema: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: db.url, max: 6, options: `-c search_path=${schema},pg_catalog` });
  // Ended before the database is dropped; a connection the drop still terminates is no failure.
  pool.on('error', () => undefined);
  pools.push(pool);
  return pool;
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = scratch('bk-staging-lookalikes-');
  good = join(dir, 'good.tar.zst');
  unwrap(
    await writeDataset(good, {
      members: { 'linksets.ndjson': generateLinksets(340, 3), 'advisory_chunks.ndjson': generateAdvisoryChunks(120, 4) },
    }),
  );
  // tripwire: a look-alike of each function, of the same argument types (so it, not pg_catalog's, is the one found), that fails when called.
  await db.query(`CREATE SCHEMA tripwire; DO $do$
    DECLARE f record;
    BEGIN
      FOR f IN SELECT p.proname, pg_get_function_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result
                 FROM pg_proc p
                WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f' AND p.proname = ANY('{${CALLED.join(',')}}')
                  AND NOT EXISTS (SELECT 1 FROM unnest(p.proargtypes::oid[]) t WHERE t IN ('"any"'::regtype, 'internal'::regtype, 'cstring'::regtype))
      LOOP
        EXECUTE format('CREATE FUNCTION tripwire.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L', f.proname, f.args, f.result,
                       format('BEGIN RAISE EXCEPTION %L; END', 'tripwire.' || f.proname || ' was called'));
      END LOOP;
    END $do$`);
  // Operators: a look-alike of each comparison, concatenation and pattern operator of pg_catalog between ordinary types
  // (and of = and <> between int2 arrays, which pg_catalog compares as anyarray), that fails when used.
  await db.query(`DO $do$
    DECLARE o record;
    BEGIN
      FOR o IN SELECT p.oid, p.oprname, p.oprleft::regtype AS l, p.oprright::regtype AS r, p.oprresult::regtype AS res FROM pg_operator p
                WHERE p.oprnamespace = 'pg_catalog'::regnamespace AND p.oprkind = 'b'
                  AND p.oprname IN ('=', '<>', '<', '>', '<=', '>=', '||', '~', '!~', '~~', '!~~')
                  AND NOT EXISTS (SELECT 1 FROM pg_type t WHERE t.oid IN (p.oprleft, p.oprright, p.oprresult) AND t.typtype = 'p')
               UNION ALL SELECT 0, x, 'int2[]'::regtype, 'int2[]'::regtype, 'boolean'::regtype FROM unnest(ARRAY['=', '<>']) x
      LOOP
        EXECUTE format('CREATE FUNCTION tripwire.%I(%s, %s) RETURNS %s LANGUAGE plpgsql AS %L', 'op_' || o.oid || '_' || md5(o.oprname || o.l::text || o.r::text),
                       o.l, o.r, o.res, format('BEGIN RAISE EXCEPTION %L; END', 'tripwire operator ' || o.oprname || ' (' || o.l || ', ' || o.r || ') was used'));
        EXECUTE format('CREATE OPERATOR tripwire.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = tripwire.%I)', o.oprname, o.l, o.r,
                       'op_' || o.oid || '_' || md5(o.oprname || o.l::text || o.r::text));
      END LOOP;
    END $do$`);
  // Variadic "any" cannot be written in PL/pgSQL: these return the wrong thing instead (the format string lower-cased, an empty object).
  await db.query(`CREATE FUNCTION tripwire.format(text, VARIADIC "any") RETURNS text LANGUAGE internal STABLE AS 'lower';
    CREATE FUNCTION tripwire.json_build_object(VARIADIC "any") RETURNS json LANGUAGE internal STABLE AS 'json_build_object_noargs'`);
  // Aggregates that fail when they finish.
  await db.query(`
    CREATE FUNCTION tripwire.fail_int8(int8) RETURNS int8 LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'tripwire.count was called'; END$$;
    CREATE FUNCTION tripwire.fail_text(text) RETURNS text LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'tripwire.string_agg was called'; END$$;
    CREATE FUNCTION tripwire.fail_json(json) RETURNS json LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'tripwire.json_agg was called'; END$$;
    CREATE FUNCTION tripwire.keep_text(text, text, text) RETURNS text LANGUAGE sql AS 'SELECT $1';
    CREATE FUNCTION tripwire.keep_json(json, anyelement) RETURNS json LANGUAGE sql AS 'SELECT $1';
    CREATE AGGREGATE tripwire.count(*) (SFUNC = int8inc, STYPE = int8, INITCOND = '0', FINALFUNC = tripwire.fail_int8);
    CREATE AGGREGATE tripwire.count("any") (SFUNC = int8inc_any, STYPE = int8, INITCOND = '0', FINALFUNC = tripwire.fail_int8);
    CREATE AGGREGATE tripwire.string_agg(text, text) (SFUNC = tripwire.keep_text, STYPE = text, FINALFUNC = tripwire.fail_text);
    CREATE AGGREGATE tripwire.json_agg(anyelement) (SFUNC = tripwire.keep_json, STYPE = json, FINALFUNC = tripwire.fail_json)`);
  // The catalogs and types it names: views and domains of the same names that fail when read or cast to.
  await db.query(`CREATE FUNCTION tripwire.fail(what text) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION '% was used', what; END$$;
    DO $do$
    DECLARE n text;
    BEGIN
      FOREACH n IN ARRAY '{${CATALOGS.join(',')}}'::text[] LOOP
        -- Every column but pg_attribute.attmissingval (of a pseudo-type no view may have).
        EXECUTE format('CREATE VIEW tripwire.%I AS SELECT %s FROM pg_catalog.%I WHERE tripwire.fail(%L)', n,
                       (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                         WHERE attrelid = ('pg_catalog.' || n)::regclass AND attnum > 0 AND atttypid <> 'anyarray'::regtype),
                       n, 'tripwire.' || n);
      END LOOP;
      FOREACH n IN ARRAY '{${TYPES.join(',')}}'::text[] LOOP
        EXECUTE format('CREATE DOMAIN tripwire.%I AS pg_catalog.%I CHECK (tripwire.fail(%L))', n, n, 'tripwire.' || n);
      END LOOP;
    END $do$`);
  // Liars: a count(*) that always says 7, and a hashtext that gives every name the same key.
  await db.query(`CREATE SCHEMA liar_count; CREATE SCHEMA liar_hash;
    CREATE FUNCTION liar_count.seven(int8) RETURNS int8 LANGUAGE sql AS 'SELECT 7::int8';
    CREATE AGGREGATE liar_count.count(*) (SFUNC = int8inc, STYPE = int8, INITCOND = '0', FINALFUNC = liar_count.seven);
    CREATE FUNCTION liar_hash.hashtext(text) RETURNS int4 LANGUAGE sql IMMUTABLE AS 'SELECT 0'`);
});
afterAll(async () => {
  for (const pool of pools) await pool.end();
  await db.drop();
});

describe('staging SQL under a search_path with look-alike functions first', () => {
  it('the tripwires work: a connection with that search_path calls them for unqualified names', async () => {
    const pool = poolFirstIn('tripwire');
    await expect(pool.query('SELECT count(*) FROM pg_catalog.pg_class')).rejects.toThrow('tripwire.count was called');
    await expect(pool.query("SELECT to_regclass('pg_class')")).rejects.toThrow('tripwire.to_regclass was called');
    await expect(pool.query("SELECT hashtext('x')")).rejects.toThrow('tripwire.hashtext was called');
    expect((await pool.query("SELECT format('%I', 'A') AS f")).rows).toEqual([{ f: '%i' }]);
    await expect(pool.query('SELECT relname FROM pg_class')).rejects.toThrow('tripwire.pg_class was used');
    await expect(pool.query("SELECT 'x'::text")).rejects.toThrow('tripwire.text was used');
    await expect(pool.query('SELECT relname FROM pg_catalog.pg_class WHERE oid = 1259')).rejects.toThrow(
      'tripwire operator = (oid, oid) was used',
    );
  });

  it('a count(*) that lies does not change the counts checked against the manifest', async () => {
    const importer = new StagingImporter({ pg: poolFirstIn('liar_count'), schema: 's_liar_count', tables: TABLES });
    for (const strategy of ['truncate', 'swap'] as const) {
      const report = unwrap(await importer.import(good, { strategy }));
      expect(report.tables.map((t) => t.loaded)).toEqual([340, 120]);
    }
    expect(unwrap(await importer.counts())).toEqual({ linksets_raw: 340, advisory_chunks_raw: 120 });
  });

  it("an operator that lies (a || that concatenates nothing) does not make a user's table look like a swap's leftover", async () => {
    const s = 's_liar_concat';
    await db.query(`CREATE SCHEMA liar_concat;
      CREATE FUNCTION liar_concat.nothing(text, text) RETURNS text LANGUAGE sql IMMUTABLE AS $$SELECT ''$$;
      CREATE OPERATOR liar_concat.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = liar_concat.nothing)`);
    // A table of the user's named like a swap's old table, but without the library's mark: never a leftover.
    await db.query(`CREATE SCHEMA ${s}; CREATE TABLE ${s}._bk_old_0123abcd_0 (note text);
      INSERT INTO ${s}._bk_old_0123abcd_0 VALUES ('keep me'); COMMENT ON TABLE ${s}._bk_old_0123abcd_0 IS 'mine'`);
    const report = unwrap(await new StagingImporter({ pg: poolFirstIn('liar_concat'), schema: s, tables: TABLES }).import(good));
    expect(report.dropped).toEqual([]);
    expect(await db.query(`SELECT note FROM ${s}._bk_old_0123abcd_0`)).toEqual([{ note: 'keep me' }]);
  });

  it("a hashtext that lies does not let another import drop a running swap's loaded table as a leftover", async () => {
    const s = 's_liar_hash';
    unwrap(await new StagingImporter({ pg: db.pool, schema: s, tables: TABLES }).import(good, { strategy: 'swap' }));
    const { target, session } = await swapSessionWithOneRow(db.url, s);
    try {
      const [fresh] = await db.query<{ name: string }>(
        `SELECT relname AS name FROM pg_class WHERE relnamespace = '${s}'::regnamespace AND relname LIKE '\\_bk\\_stage\\_%'`,
      );
      expect(fresh).toBeDefined();
      // Another import, on a connection whose hashtext gives every swap the same advisory lock key, looks for leftovers to drop.
      const other = unwrap(await new StagingImporter({ pg: poolFirstIn('liar_hash'), schema: s, tables: TABLES }).import(good));
      expect(other.dropped).toEqual([]);
      expect((await session.commit()).isOk()).toBe(true);
      expect(await db.query(`SELECT array_agg(id) AS ids FROM ${s}.linksets_raw`)).toEqual([{ ids: ['new-1'] }]);
    } finally {
      await session.abort();
      await target.close();
    }
  });

  it('imports (truncate, swap carrying everything over, dry run), counts, rollback, export, lock timeouts and name checks never call them', async () => {
    const s = 's_tripwire';
    const pool = poolFirstIn('tripwire');
    const importer = new StagingImporter({ pg: pool, schema: s, tables: TABLES, lockTimeoutMs: 300 });
    expect(unwrap(await importer.import(good)).tables.map((t) => t.loaded)).toEqual([340, 120]);
    // What a swap carries over, each read by a query of its own.
    const t = `${s}.linksets_raw`;
    await db.query(`CREATE INDEX kinds ON ${t} ((raw->>'kind')); COMMENT ON TABLE ${t} IS 'linksets'; COMMENT ON COLUMN ${t}.raw IS 'record';
      ALTER TABLE ${t} SET (fillfactor = 80); GRANT SELECT ON ${t} TO PUBLIC; GRANT SELECT (id) ON ${t} TO PUBLIC;
      CREATE STATISTICS ${s}.by_kind ON id, (raw->>'kind') FROM ${t}; CREATE SEQUENCE ${s}.batch_no OWNED BY ${t}.id;
      CREATE FUNCTION ${s}.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
      CREATE TRIGGER noop BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${s}.noop(); COMMENT ON TRIGGER noop ON ${t} IS 'does nothing'`);
    // A leftover of a killed swap, marked as the library marks them.
    await db.query(`CREATE TABLE ${s}._bk_stage_0badc0de_0 (id text);
      COMMENT ON TABLE ${s}._bk_stage_0badc0de_0 IS '@stella/backfill-kit swap import 0badc0de: new contents of ${t}; dropped by the next swap import if left behind'`);
    const swapped = unwrap(await importer.import(good, { strategy: 'swap' }));
    expect(swapped.dropped).toContain(`${s}._bk_stage_0badc0de_0`);
    expect(
      await db.query(
        `SELECT obj_description('${t}'::regclass, 'pg_class') AS comment, (SELECT count(*)::int FROM pg_index WHERE indrelid = '${t}'::regclass) AS indexes,
                has_table_privilege('public', '${t}', 'SELECT') AS readable, (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = '${t}'::regclass) AS triggers`,
      ),
    ).toEqual([{ comment: 'linksets', indexes: 2, readable: true, triggers: 1 }]);
    expect((await importer.import(good, { strategy: 'swap', dryRun: true })).isOk()).toBe(true);
    expect(unwrap(await importer.counts())).toEqual({ linksets_raw: 340, advisory_chunks_raw: 120 });
    const exported = unwrap(await exportDataset({ pg: pool, schema: s, tables: TABLES }, join(dir, 'export.tar.zst')));
    expect(exported.tables.map((x) => x.rows)).toEqual([340, 120]);
    // A reader holding the table: the lock timeout names it.
    const reader = await db.pool.connect();
    try {
      await reader.query(`BEGIN; LOCK TABLE ${t} IN ACCESS SHARE MODE`);
      const e = (await importer.import(good))._unsafeUnwrapErr();
      expect(e.code).toBe('LOCK_TIMEOUT');
      expect(e.message).toContain('held by session');
    } finally {
      await reader.query('ROLLBACK');
      reader.release();
    }
    const twin = (
      await new StagingImporter({ pg: pool, schema: s, tables: { 'linksets.ndjson': 'LINKSETS_RAW' } }).import(good)
    )._unsafeUnwrapErr();
    expect(twin.message).toContain(`Did you mean ${s}.linksets_raw?`);
    expect((await importer.rollback()).isOk()).toBe(true);
    expect(unwrap(await importer.counts())).toEqual({ linksets_raw: 0, advisory_chunks_raw: 0 });
  });
});
