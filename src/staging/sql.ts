/**
 * Every statement the staging module sends to PostgreSQL, named once. Table
 * and schema names arrive already quoted (`QualifiedName.sql`, `quoteIdent`);
 * values travel as parameters, except in DDL, which takes none (its one
 * literal, a table comment, is quoted with `quoteLiteral`).
 *
 * Every built-in function, catalog, type and collation a statement names is
 * named with its schema (`pg_catalog.count`, `pg_catalog.pg_class`,
 * `::pg_catalog.regclass`): a connection whose `search_path` puts another
 * schema first (`SET search_path = app, pg_catalog`) may find a look-alike
 * there, such as a `hashtext` that gives every import the same advisory
 * lock key or a `count` that lies. Operators (`=`, `||`, …) are not
 * named so: an import sends its statements with the transaction's
 * `search_path` pinned to `pg_catalog` (see `pinSearchPath`), except
 * those that run the user's code; the two statements that may run
 * outside it ({@link swapLeftovers}, whose finds are dropped, and
 * {@link lockHolders}) name theirs too (`OPERATOR(pg_catalog.=)`).
 *
 * @module
 */
import copyStreams from 'pg-copy-streams';
import type { Statement } from '../_internals/pg.js';
import { quoteLiteral } from '../_internals/sql-identifier.js';

export { query, type Statement } from '../_internals/pg.js';

const plain = (text: string): Statement => ({ text });

// Transactions

export const BEGIN: Statement = plain('BEGIN');
/** An import's session: its counts must see the fresh tables that loader connections commit, whatever the server's default. */
export const BEGIN_READ_COMMITTED: Statement = plain('BEGIN ISOLATION LEVEL READ COMMITTED');
/** An export: every table read from one snapshot. */
export const BEGIN_SNAPSHOT: Statement = plain('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
export const COMMIT: Statement = plain('COMMIT');
export const ROLLBACK: Statement = plain('ROLLBACK');

export function setLockTimeout(ms: number): Statement {
  return plain(`SET LOCAL lock_timeout = ${ms}`);
}

/**
 * An import's session idles in its transaction while loader connections
 * fill the fresh tables (or while the reader skips a member no table takes):
 * a server's `idle_in_transaction_session_timeout` must not end it.
 */
export const NO_IDLE_TIMEOUT: Statement = plain('SET LOCAL idle_in_transaction_session_timeout = 0');

// Emptying and locking live tables

/**
 * `tables` in one order, whatever order a caller was given them in: LOCK
 * TABLE takes its list one table at a time, so an import and an export (or
 * two imports) locking shared tables in opposite orders could each hold
 * one and wait for the other, a deadlock PostgreSQL ends by failing one.
 */
function lockOrder(tables: readonly string[]): string {
  return [...tables].sort().join(', ');
}

export function lockTables(tables: readonly string[]): Statement {
  return plain(`LOCK TABLE ${lockOrder(tables)} IN ACCESS EXCLUSIVE MODE`);
}

/** ONLY: a table that INHERITS from one of them (refused up front, but one may be created while the import waits for its lock) keeps its rows. */
export function truncateTables(tables: readonly string[]): Statement {
  return plain(`TRUNCATE TABLE ${tables.map((t) => `ONLY ${t}`).join(', ')}`);
}

export function deleteAllRows(table: string): Statement {
  return plain(`DELETE FROM ONLY ${table}`);
}

// DDL

/**
 * Of `schemas` (unquoted) and `tables` (quoted), those that do not exist
 * yet (`missing`, each as given): an import creates only these. `CREATE
 * SCHEMA IF NOT EXISTS` and `CREATE TABLE IF NOT EXISTS` check the CREATE
 * privilege on the database or schema before they look for the object, so
 * sent for ones that exist they failed an importing role that may write the
 * tables but not create anything.
 */
export function missingSchemas(schemas: readonly string[]): Statement {
  return {
    text: `SELECT s AS missing FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS x(s, i)
      WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = x.s) ORDER BY x.i`,
    values: [schemas],
  };
}

/** See {@link missingSchemas}. */
export function missingTables(tables: readonly string[]): Statement {
  return {
    text: `SELECT t AS missing FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS x(t, i)
      WHERE pg_catalog.to_regclass(x.t) IS NULL ORDER BY x.i`,
    values: [tables],
  };
}

export function createSchema(schema: string): Statement {
  return plain(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
}

/** A live staging table, made on its first import. Its types are named with their schema (here and below): a `text` or `jsonb` of another schema early in the connection's `search_path` is never taken. */
export function createLiveTable(table: string): Statement {
  return plain(`CREATE TABLE IF NOT EXISTS ${table} (id pg_catalog.text PRIMARY KEY, raw pg_catalog.jsonb NOT NULL)`);
}

/** Where a swap builds a fresh table and its primary key, as the live table has them (see {@link freshSettings}). */
export interface FreshSettings {
  /** `WITH (…)` options of the table and its TOAST table (`toast.…`), or null. */
  readonly options: string | null;
  /** Tablespace (quoted), or null for the database's default. */
  readonly tablespace: string | null;
  /** `WITH (…)` options of the primary key's index, or null. */
  readonly keyOptions: string | null;
  /** Tablespace (quoted) of the primary key's index, or null. */
  readonly keyTablespace: string | null;
  /** The primary key's `INCLUDE (…)` columns (quoted), or null. */
  readonly keyInclude: string | null;
  /** `DEFERRABLE` or `DEFERRABLE INITIALLY DEFERRED` when the primary key is, or null. */
  readonly keyDeferrable: string | null;
  /** The live table's owner (quoted): the fresh table is its from the start, so index expressions run as that role, as they do on the live table. */
  readonly owner: string;
  /** The live table's access method (quoted, `heap` for most), never the connection's `default_table_access_method`. */
  readonly accessMethod: string;
  /**
   * `raw` when the live table's `raw` column comes before its `id`, else
   * `id`: the fresh table's columns are made in the same order, so that
   * `SELECT *`, `INSERT … VALUES` and `COPY` without a column list read and
   * write the swapped-in table as they did the live one.
   */
  readonly firstColumn: 'id' | 'raw';
  /**
   * `ALTER COLUMN …` clauses giving the `id` and `raw` columns the live
   * table's storage, compression, statistics target and options, or null:
   * run before the COPY ({@link alterFreshColumns}), since `SET STORAGE`
   * and `SET COMPRESSION` apply only to rows stored afterwards, and
   * `ANALYZE` of the loaded table reads the other two.
   */
  readonly columns: string | null;
}

/**
 * For the rest of the transaction, a table or index created without a
 * `TABLESPACE` goes to the database's default tablespace, as the live
 * table's did (`reltablespace` 0), whatever the connection's
 * `default_tablespace` (a role's `ALTER ROLE … SET default_tablespace`).
 */
export const DATABASE_DEFAULT_TABLESPACE: Statement = plain("SET LOCAL default_tablespace = ''");

/** A swap's fresh table: keyed only after its COPY; `settings` are the live table's. */
export function createFreshTable(table: string, settings?: FreshSettings): Statement {
  const options = settings?.options == null ? '' : ` WITH (${settings.options})`;
  const tablespace = settings?.tablespace == null ? '' : ` TABLESPACE ${settings.tablespace}`;
  const method = settings === undefined ? '' : ` USING ${settings.accessMethod}`;
  const columns = ['id pg_catalog.text NOT NULL', 'raw pg_catalog.jsonb NOT NULL'];
  if (settings?.firstColumn === 'raw') columns.reverse();
  return plain(`CREATE TABLE ${table} (${columns.join(', ')})${method}${options}${tablespace}`);
}

/** The live table's column settings ({@link FreshSettings.columns}) on a swap's fresh table, before its COPY. */
export function alterFreshColumns(table: string, clauses: string): Statement {
  return plain(`ALTER TABLE ${table} ${clauses}`);
}

/** A dry run's table: invisible to everyone, dropped with the transaction. */
export function createTemporaryTable(table: string): Statement {
  return plain(`CREATE TEMPORARY TABLE ${table} (id pg_catalog.text NOT NULL, raw pg_catalog.jsonb NOT NULL) ON COMMIT DROP`);
}

/**
 * An export's first statement: it waits for an import holding any of
 * `tables`, and takes no snapshot, so the export's REPEATABLE READ snapshot,
 * taken by the statement after it, sees what that import committed in every
 * table (TRUNCATE and COPY FREEZE are not MVCC-safe: a snapshot taken
 * before the import committed would see its rows in a truncated table and
 * the old rows in one it emptied with DELETE).
 */
export function lockTablesShared(tables: readonly string[]): Statement {
  return plain(`LOCK TABLE ${lockOrder(tables)} IN ACCESS SHARE MODE`);
}

/**
 * `name`: those of `tables` that LOCK TABLE takes (tables, partitioned
 * tables, views) or that do not exist (LOCK TABLE then names the missing
 * one); not a materialized view or foreign table, which an import never
 * writes. Sent before the export's transaction begins, which must take its
 * snapshot only after its locks.
 */
export function lockableTables(tables: readonly string[]): Statement {
  return {
    text: `SELECT t.name FROM pg_catalog.unnest($1::pg_catalog.text[]) AS t(name)
      WHERE coalesce((SELECT c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v}'::pg_catalog.char[]) FROM pg_catalog.pg_class c
                       WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(t.name)), true)`,
    values: [tables],
  };
}

/** Fails at once (SQLSTATE 55P03) when another session holds any lock on `table`. */
export function lockTableNowait(table: string): Statement {
  return plain(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE NOWAIT`);
}

/** Around a swap's trial build of the live table's other indexes on an empty fresh table, before the load: always rolled back to. */
export const PROBE_SAVEPOINT: Statement = plain('SAVEPOINT bk_probe');
export const ROLLBACK_TO_PROBE: Statement = plain('ROLLBACK TO SAVEPOINT bk_probe');
export const RELEASE_PROBE: Statement = plain('RELEASE SAVEPOINT bk_probe');

export const SAVEPOINT: Statement = plain('SAVEPOINT bk_leftover');
export const RELEASE_SAVEPOINT: Statement = plain('RELEASE SAVEPOINT bk_leftover');
export const ROLLBACK_TO_SAVEPOINT: Statement = plain('ROLLBACK TO SAVEPOINT bk_leftover');

export function dropTable(table: string): Statement {
  return plain(`DROP TABLE IF EXISTS ${table}`);
}

export function renameTable(table: string, to: string): Statement {
  return plain(`ALTER TABLE ${table} RENAME TO ${to}`);
}

/** `comment` null removes the comment. */
export function commentOnTable(table: string, comment: string | null): Statement {
  return plain(`COMMENT ON TABLE ${table} IS ${comment === null ? 'NULL' : quoteLiteral(comment)}`);
}

/** `(id)` as primary key; `constraint` names it (an unnamed key gets PostgreSQL's default name); `settings` as the live key has them. */
export function addIdPrimaryKey(table: string, constraint?: string, settings?: FreshSettings): Statement {
  const include = settings?.keyInclude == null ? '' : ` INCLUDE (${settings.keyInclude})`;
  const options = settings?.keyOptions == null ? '' : ` WITH (${settings.keyOptions})`;
  const tablespace = settings?.keyTablespace == null ? '' : ` USING INDEX TABLESPACE ${settings.keyTablespace}`;
  const deferrable = settings?.keyDeferrable == null ? '' : ` ${settings.keyDeferrable}`;
  return plain(
    `ALTER TABLE ${table} ADD ${constraint === undefined ? '' : `CONSTRAINT ${constraint} `}PRIMARY KEY (id)${include}${options}${tablespace}${deferrable}`,
  );
}

/**
 * `stmt`: one REVOKE of every privilege on `fresh` held by a role other than
 * its owner, or no row. A swap's fresh table is created with the importing
 * role's default privileges (`ALTER DEFAULT PRIVILEGES … GRANT SELECT ON
 * TABLES TO r`), which the live table may not grant: until the swap gives it
 * the live table's own (or for good, if the import is killed), only its
 * owner may read it.
 */
export function revokeOthersPrivileges(fresh: string): Statement {
  return {
    text: `SELECT pg_catalog.format('REVOKE ALL ON TABLE %s FROM %s', $1::pg_catalog.text,
                         pg_catalog.string_agg(DISTINCT CASE x.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END, ', ')) AS stmt
         FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) x WHERE c.oid = $1::pg_catalog.text::pg_catalog.regclass AND x.grantee <> c.relowner HAVING pg_catalog.count(*) > 0`,
    values: [fresh],
  };
}

/** `owner` quoted. */
export function setTableOwner(table: string, owner: string): Statement {
  return plain(`ALTER TABLE ${table} OWNER TO ${owner}`);
}

/** Planner statistics for a swap's fresh table, which has none of the live table's. */
export function analyzeTable(table: string): Statement {
  return plain(`ANALYZE ${table}`);
}

/** `CREATE INDEX name ON table USING <rest>`: `rest` is what `pg_get_indexdef` printed after `USING` for the live table's index. */
export function createIndexUsing(name: string, table: string, rest: string): Statement {
  return plain(`CREATE INDEX ${name} ON ${table} USING ${rest}`);
}

/** One statement that a catalog query (`swapCarryOver`, `swapPrivileges`) wrote. */
export function generated(text: string): Statement {
  return plain(text);
}

export function renameIndex(index: string, to: string): Statement {
  return plain(`ALTER INDEX ${index} RENAME TO ${to}`);
}

export function setIndexTablespace(index: string, tablespace: string): Statement {
  return plain(`ALTER INDEX ${index} SET TABLESPACE ${tablespace}`);
}

/** Puts back a constraint as `pg_get_constraintdef` described it. */
export function addConstraint(table: string, constraint: string, definition: string): Statement {
  return plain(`ALTER TABLE ${table} ADD CONSTRAINT ${constraint} ${definition}`);
}

export function dropConstraint(table: string, constraint: string): Statement {
  return plain(`ALTER TABLE ${table} DROP CONSTRAINT ${constraint}`);
}

export function renameConstraint(table: string, from: string, to: string): Statement {
  return plain(`ALTER TABLE ${table} RENAME CONSTRAINT ${from} TO ${to}`);
}

/** Whether a relation (a table, an index, …) named `name` exists in `schema` (both unquoted): relation names are unique per schema. */
export function relationNamed(schema: string, name: string): Statement {
  return {
    text: `SELECT pg_catalog.to_regclass(pg_catalog.format('%I.%I', $1::pg_catalog.text, $2::pg_catalog.text)) IS NOT NULL AS taken`,
    values: [schema, name],
  };
}

// Counting

/** Rows `n` of one table. */
export function countRows(table: string): Statement {
  return plain(`SELECT pg_catalog.count(*)::bigint AS n FROM ${table}`);
}

/** One row: the count of `tables[i]` as `c<i>`. */
export function countTables(tables: readonly string[]): Statement {
  return plain(`SELECT ${tables.map((t, i) => `(SELECT pg_catalog.count(*)::bigint FROM ${t}) AS c${i}`).join(', ')}`);
}

/** `n`: how many of `schemas` exist. */
export function countSchemas(schemas: readonly string[]): Statement {
  return {
    text: 'SELECT pg_catalog.count(*)::int AS n FROM pg_catalog.pg_namespace WHERE nspname = ANY($1::pg_catalog.text[])',
    values: [schemas],
  };
}

// COPY

/**
 * `names`: the session's open cursors, comma-separated, or null. PostgreSQL
 * refuses COPY FREEZE while there is one ("because of prior transaction
 * activity").
 */
export const OPEN_CURSORS: Statement = plain(
  "SELECT pg_catalog.string_agg(name::pg_catalog.text, ', ' ORDER BY name) AS names FROM pg_catalog.pg_cursors",
);

/** `freeze` needs `table` to have been created or truncated in the current transaction, and no open cursor ({@link OPEN_CURSORS}). */
export function copyIn(table: string, freeze: boolean): ReturnType<typeof copyStreams.from> {
  return copyStreams.from(`COPY ${table} (id, raw) FROM STDIN${freeze ? ' WITH (FREEZE)' : ''}`);
}

/**
 * The type of each existing table's `raw` column (`formatted`, and whether
 * it is pg_catalog's `jsonb`), for an export: only jsonb text is sure to be
 * one JSON value on one line. No row for a table that does not exist or has
 * no `raw` (the COPY reports those).
 */
export function exportRawTypes(tables: readonly string[]): Statement {
  return {
    text: `SELECT t.name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.atttypid OPERATOR(pg_catalog.=) 'pg_catalog.jsonb'::pg_catalog.regtype AS jsonb
       FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS t(name, i)
       JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(t.name) AND a.attname OPERATOR(pg_catalog.=) 'raw' AND NOT a.attisdropped
      ORDER BY t.i`,
    values: [tables],
  };
}

/** The `raw` column in id order, `COLLATE "C"` so the order does not depend on the server's locale. */
export function copyOutRaw(table: string): ReturnType<typeof copyStreams.to> {
  return copyStreams.to(`COPY (SELECT raw FROM ${table} ORDER BY id COLLATE pg_catalog."C") TO STDOUT`);
}

// Catalog

/**
 * `conname`, `def`, and whether the primary key of `table` (a quoted name)
 * must stay in place during a load (`keep`): a foreign key references it,
 * it comes from a partitioned parent, the importing role may write the
 * table but not build the key again (only the table's owner may drop and
 * add it, and adding builds an index, which needs CREATE on the schema),
 * the table has a trigger deferred to COMMIT other than the key's own (a
 * `DEFERRABLE INITIALLY DEFERRED` foreign key of its own, a constraint
 * trigger: the COPY leaves its events pending, and PostgreSQL refuses to
 * ALTER a table that has some), or it carries what `ADD CONSTRAINT
 * … def` would not bring back (a comment on it or its index, the index's
 * storage options or tablespace, `REPLICA IDENTITY USING INDEX`, `CLUSTER ON`).
 */
export function primaryKeyOf(table: string): Statement {
  return {
    text: `SELECT c.conname, pg_catalog.pg_get_constraintdef(c.oid) AS def,
              EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f WHERE f.confrelid = c.conrelid AND f.contype = 'f')
              OR c.conparentid <> 0 OR NOT pg_catalog.pg_has_role(t.relowner, 'USAGE')
              OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = c.conrelid AND g.tginitdeferred AND g.tgconstraint <> c.oid)
              OR NOT pg_catalog.has_schema_privilege(t.relnamespace, 'CREATE') OR i.indisreplident OR i.indisclustered OR x.reloptions IS NOT NULL OR x.reltablespace <> 0
              OR pg_catalog.obj_description(c.oid, 'pg_constraint') IS NOT NULL OR pg_catalog.obj_description(x.oid, 'pg_class') IS NOT NULL AS keep
         FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_index i ON i.indexrelid = c.conindid JOIN pg_catalog.pg_class x ON x.oid = c.conindid
         JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
        WHERE c.conrelid = $1::pg_catalog.regclass AND c.contype = 'p'`,
    values: [table],
  };
}

/** The table's comment and primary key name, for a swap to carry over. */
export function commentAndPrimaryKey(table: string): Statement {
  return {
    text: `SELECT pg_catalog.obj_description($1::pg_catalog.regclass, 'pg_class') AS comment,
              (SELECT conname FROM pg_catalog.pg_constraint WHERE conrelid = $1::pg_catalog.regclass AND contype = 'p') AS pk`,
    values: [table],
  };
}

/**
 * For each of `tables` (its `name` as given, and `tbl` as PostgreSQL prints
 * it) that DROP TABLE would refuse to drop, one object (`what`) depending on
 * it: a view, a foreign key, a SQL function using the table, or anything
 * using its row type (`RETURNS SETOF <table>`, a column of that type), or
 * the array of it. Or the extension it belongs to (`extension`, quoted, set only
 * then): DROP TABLE refuses an extension's member table too. Objects that belong to the table itself (a trigger whose
 * `WHEN` reads a column, a statistics object, a policy) go with it, so they
 * are not listed.
 */
export function dependents(tables: readonly string[]): Statement {
  return {
    text: `SELECT DISTINCT ON (x.i) x.name, x.tbl, x.what, x.extension FROM (
         SELECT t.i, t.name, c.oid::pg_catalog.regclass::pg_catalog.text AS tbl, pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) AS what,
                NULL::pg_catalog.text AS extension, d.classid, d.objid
           FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS t(name, i) JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name)
           JOIN pg_catalog.pg_type r ON r.oid = c.reltype
           JOIN pg_catalog.pg_depend d ON d.deptype = 'n'
            AND (d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = c.oid
                 OR d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.refobjid IN (r.oid, r.typarray))
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend o WHERE o.classid = d.classid AND o.objid = d.objid AND o.deptype IN ('a', 'i')
                               AND o.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.refobjid = c.oid)
         UNION ALL
         SELECT t.i, t.name, c.oid::pg_catalog.regclass::pg_catalog.text, pg_catalog.pg_describe_object(d.refclassid, d.refobjid, 0), pg_catalog.quote_ident(e.extname), 0::pg_catalog.oid, e.oid
           FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS t(name, i) JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name)
           JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
           JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
       ) x
       ORDER BY x.i, x.classid, x.objid`,
    values: [tables],
  };
}

/**
 * Each existing table's kind, row security, columns, its primary key when
 * that key is not on `id` alone, constraints other than its primary key,
 * unique indexes no constraint owns, the tables inheriting from it, the
 * publications that list it by name and those that publish it with every
 * table of its database or schema, the privileges on it or its columns
 * that a role other than its owner granted, its rules, the extensions it
 * belongs to, the subscriptions replicating into it and the type it is a
 * typed table of, in the order given. NOT NULL
 * constraints (catalogued since PostgreSQL 18) are left to the columns'
 * `notNull`.
 */
export function tableShapes(tables: readonly string[]): Statement {
  return {
    text: `SELECT t.name, c.relkind::pg_catalog.text AS kind,
            (c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid)) AS "rowSecurity",
            pg_catalog.row_security_active(c.oid) AS "rowSecurityActive",
            coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('name', a.attname,
                                                'type', CASE a.atttypid WHEN 'pg_catalog.text'::pg_catalog.regtype THEN 'text' WHEN 'pg_catalog.jsonb'::pg_catalog.regtype THEN 'jsonb'
                                                        ELSE (SELECT CASE WHEN f.name IN ('text', 'jsonb') THEN pg_catalog.quote_ident(n.nspname) || '.' || f.name ELSE f.name END
                                                                FROM (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) AS name) f, pg_catalog.pg_type y JOIN pg_catalog.pg_namespace n ON n.oid = y.typnamespace
                                                               WHERE y.oid = a.atttypid) END, 'notNull', a.attnotnull,
                                                'filled', a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
                                                'generated', a.attgenerated <> '',
                                                'collation', CASE WHEN a.attcollation NOT IN (0, 100) THEN a.attcollation::pg_catalog.regcollation::pg_catalog.text END,
                                                'deterministic', coalesce((SELECT co.collisdeterministic FROM pg_catalog.pg_collation co WHERE co.oid = a.attcollation), true)) ORDER BY a.attnum)
                     FILTER (WHERE a.attnum IS NOT NULL), '[]') AS columns,
            (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('name', k.conname, 'def', pg_catalog.pg_get_constraintdef(k.oid)) ORDER BY k.conname), '[]')
               FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype NOT IN ('p', 'n')) AS constraints,
            EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS "hasPrimaryKey",
            (SELECT pg_catalog.pg_get_constraintdef(k.oid) FROM pg_catalog.pg_constraint k
              WHERE k.conrelid = c.oid AND k.contype = 'p'
                AND k.conkey <> ARRAY(SELECT d.attnum FROM pg_catalog.pg_attribute d WHERE d.attrelid = c.oid AND d.attname = 'id')) AS "primaryKeyNotOnId",
            (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('name', x.relname, 'def', pg_catalog.pg_get_indexdef(u.indexrelid)) ORDER BY x.relname), '[]')
               FROM pg_catalog.pg_index u JOIN pg_catalog.pg_class x ON x.oid = u.indexrelid
              WHERE u.indrelid = c.oid AND u.indisunique
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = u.indexrelid AND k.conrelid = c.oid AND k.contype IN ('p', 'u', 'x'))) AS "uniqueIndexes",
            (SELECT coalesce(pg_catalog.json_agg(i.inhrelid::pg_catalog.regclass::pg_catalog.text ORDER BY i.inhrelid::pg_catalog.regclass::pg_catalog.text), '[]')
               FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid) AS "inheritedBy",
            (SELECT coalesce(pg_catalog.json_agg(p.pubname ORDER BY p.pubname), '[]')
               FROM pg_catalog.pg_publication_rel r JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid WHERE r.prrelid = c.oid) AS publications,
            (SELECT coalesce(pg_catalog.json_agg(v.pubname ORDER BY v.pubname), '[]')
               FROM pg_catalog.pg_publication_tables v
              WHERE v.schemaname = (SELECT nspname FROM pg_catalog.pg_namespace WHERE oid = c.relnamespace) AND v.tablename = c.relname
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication_rel r JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid
                                 WHERE r.prrelid = c.oid AND p.pubname = v.pubname)) AS "publishedWhole",
            (SELECT coalesce(pg_catalog.json_agg(i.inhparent::pg_catalog.regclass::pg_catalog.text ORDER BY i.inhseqno), '[]')
               FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) AS "inheritsFrom",
            (SELECT coalesce(pg_catalog.json_agg(pg_catalog.format('%s%s granted to %s by %s', x.privilege_type, coalesce(' (' || a.attname || ')', ''),
                                             CASE x.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(x.grantee) END, pg_catalog.pg_get_userbyid(x.grantor))
                                      ORDER BY a.attnum NULLS FIRST, x.grantee, x.privilege_type), '[]')
               FROM (SELECT NULL::smallint AS attnum, NULL::pg_catalog.name AS attname, c.relacl AS acl
                     UNION ALL SELECT d.attnum, d.attname, d.attacl FROM pg_catalog.pg_attribute d WHERE d.attrelid = c.oid AND d.attnum > 0 AND NOT d.attisdropped) a,
                    pg_catalog.aclexplode(a.acl) x
              WHERE x.grantor <> c.relowner) AS "otherGrantors",
            (SELECT coalesce(pg_catalog.json_agg(r.rulename ORDER BY r.rulename), '[]') FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN') AS rules,
            (SELECT coalesce(pg_catalog.json_agg(e.extname ORDER BY e.extname), '[]')
               FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
              WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e') AS extensions,
            (SELECT coalesce(pg_catalog.json_agg(pg_catalog.format('from provider %s%s', l.provider, ' on column ' || pg_catalog.quote_ident(la.attname)) ORDER BY l.objsubid, l.provider), '[]')
               FROM pg_catalog.pg_seclabel l LEFT JOIN pg_catalog.pg_attribute la ON la.attrelid = c.oid AND la.attnum = l.objsubid AND l.objsubid > 0
              WHERE l.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND l.objoid = c.oid) AS "securityLabels",
            (SELECT coalesce(pg_catalog.json_agg(s.subname ORDER BY s.subname), '[]')
               FROM pg_catalog.pg_subscription_rel r JOIN pg_catalog.pg_subscription s ON s.oid = r.srsubid WHERE r.srrelid = c.oid) AS subscriptions,
            CASE WHEN c.reloftype <> 0 THEN c.reloftype::pg_catalog.regtype::pg_catalog.text END AS "ofType",
            c.relpersistence = 'u' AS unlogged,
            c.relreplident::pg_catalog.text AS "replicaIdentity"
       FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS t(name, i) JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name)
       LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      GROUP BY t.name, t.i, c.oid, c.relname, c.relnamespace, c.relkind, c.relrowsecurity, c.relpersistence, c.relreplident, c.relacl, c.relowner, c.reloftype ORDER BY t.i`,
    values: [tables],
  };
}

/**
 * The triggers of `table` that the user (or an event trigger) made, by name
 * (`name`): not the internal ones of its constraints. A swap's fresh table
 * has none as it is made; its live table's are carried over in the swap.
 */
export function userTriggers(table: string): Statement {
  return {
    text: `SELECT g.tgname AS name FROM pg_catalog.pg_trigger g
        WHERE g.tgrelid = pg_catalog.to_regclass($1::pg_catalog.text) AND NOT g.tgisinternal ORDER BY g.tgname`,
    values: [table],
  };
}

/**
 * Of the tables `schemas[i]`.`names[i]` (unquoted), one schema or table
 * that does not exist while its lower-case fold (what PostgreSQL makes of
 * the name unquoted) does, as `given` and `folded`; no row when none.
 */
export function caseFoldedNames(schemas: readonly string[], names: readonly string[]): Statement {
  return {
    text: `SELECT * FROM (
         SELECT s AS given, pg_catalog.lower(s) AS folded FROM pg_catalog.unnest($1::pg_catalog.text[]) AS s
          WHERE s <> pg_catalog.lower(s) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = s)
            AND EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = pg_catalog.lower(s))
         UNION ALL
         SELECT s || '.' || t, s || '.' || pg_catalog.lower(t) FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS x(s, t)
          WHERE t <> pg_catalog.lower(t) AND pg_catalog.to_regclass(pg_catalog.format('%I.%I', s, t)) IS NULL AND pg_catalog.to_regclass(pg_catalog.format('%I.%I', s, pg_catalog.lower(t))) IS NOT NULL
       ) names LIMIT 1`,
    values: [schemas, names],
  };
}

/**
 * For each of `tables` that exists (`tbl` as PostgreSQL prints it), what a
 * swap needs of the importing role: CREATE on the table's schema
 * (`canCreate`), where it makes the fresh table, and the right to give the
 * fresh table to the live table's `owner`, which `ALTER TABLE … OWNER TO`
 * grants a superuser or that owner (`isOwner`), or else a member of it (one
 * that may SET ROLE to it from PostgreSQL 16 on: `member`) while the owner
 * may create in the schema (`ownerCanCreate`). And `statistics`: the
 * table's extended statistics objects of another owner, which the swap
 * drops and makes again for the swapped-in table, giving them back to that
 * owner (`ALTER TABLE … OWNER TO` leaves them with the role that made
 * them): the importing role needs that owner's privileges and the right to
 * give it an object (`member`), and the owner CREATE on their schema
 * (`ownerCanCreate`). None for a superuser. And `triggerFunctions`: its
 * triggers whose function the importing role may not EXECUTE, which
 * `CREATE TRIGGER` needs to make them again for the swapped-in table (a
 * trigger a superuser made, calling a function revoked from PUBLIC).
 */
export function swapAccess(tables: readonly string[]): Statement {
  return {
    text: `SELECT c.oid::pg_catalog.regclass::pg_catalog.text AS tbl, pg_catalog.quote_ident(n.nspname) AS schema,
              pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)) AS owner, pg_catalog.quote_ident(CURRENT_USER::pg_catalog.text) AS me,
              pg_catalog.has_schema_privilege(c.relnamespace, 'CREATE') AS "canCreate",
              coalesce((SELECT r.rolsuper OR r.oid = c.relowner FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER), false) AS "isOwner",
              pg_catalog.pg_has_role(CURRENT_USER, c.relowner,
                    CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END) AS member,
              pg_catalog.has_schema_privilege(c.relowner, c.relnamespace, 'CREATE') AS "ownerCanCreate",
              (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(
                        'name', pg_catalog.format('%I.%I', xn.nspname, x.stxname), 'schema', pg_catalog.quote_ident(xn.nspname),
                        'owner', pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.stxowner)),
                        'member', pg_catalog.pg_has_role(CURRENT_USER, x.stxowner, 'USAGE') AND pg_catalog.pg_has_role(CURRENT_USER, x.stxowner,
                                    CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END),
                        'ownerCanCreate', pg_catalog.has_schema_privilege(x.stxowner, x.stxnamespace, 'CREATE')) ORDER BY xn.nspname, x.stxname), '[]')
                 FROM pg_catalog.pg_statistic_ext x JOIN pg_catalog.pg_namespace xn ON xn.oid = x.stxnamespace
                WHERE x.stxrelid = c.oid AND x.stxowner <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER)
                  AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER), false)) AS statistics,
              (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('trigger', pg_catalog.quote_ident(g.tgname), 'function', g.tgfoid::pg_catalog.regprocedure::pg_catalog.text)
                                                ORDER BY g.tgname), '[]')
                 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal AND NOT pg_catalog.has_function_privilege(g.tgfoid, 'EXECUTE')) AS "triggerFunctions"
         FROM pg_catalog.unnest($1::pg_catalog.text[]) WITH ORDINALITY AS t(name, i) JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.name)
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        ORDER BY t.i`,
    values: [tables],
  };
}

/** Foreign keys of other tables that reference `tables`, with their ON DELETE action. */
export function referencingKeys(tables: readonly string[]): Statement {
  return {
    text: `SELECT t.name AS referenced, c.conname, c.conrelid::pg_catalog.regclass::pg_catalog.text AS referencing, c.confdeltype::pg_catalog.text AS on_delete
       FROM pg_catalog.unnest($1::pg_catalog.text[]) AS t(name) JOIN pg_catalog.pg_constraint c ON c.confrelid = pg_catalog.to_regclass(t.name)
      WHERE c.contype = 'f' AND c.conrelid <> ALL (SELECT pg_catalog.to_regclass(x) FROM pg_catalog.unnest($1::pg_catalog.text[]) AS x)
      ORDER BY 2`,
    values: [tables],
  };
}

/**
 * Sessions holding a lock on any of `tables`, other than this one; with
 * `exclusiveOnly`, only ACCESS EXCLUSIVE locks, held or waited for (what
 * an ACCESS SHARE request queues behind). Sent after the transaction
 * ended, so outside its pinned `search_path`: its operators are named with
 * their schema.
 */
export function lockHolders(tables: readonly string[], exclusiveOnly = false): Statement {
  return {
    text: `SELECT l.relation::pg_catalog.regclass::pg_catalog.text AS tbl, a.pid, coalesce(a.application_name, '') AS app, coalesce(a.state, '') AS state, l.mode, l.granted
         FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
        WHERE l.locktype OPERATOR(pg_catalog.=) 'relation'::pg_catalog.text AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
          AND CASE WHEN $2::pg_catalog.bool THEN l.mode OPERATOR(pg_catalog.=) 'AccessExclusiveLock'::pg_catalog.text ELSE l.granted END
          AND l.relation OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.to_regclass(x)::pg_catalog.oid FROM pg_catalog.unnest($1::pg_catalog.text[]) AS x))
        ORDER BY 1, 2`,
    values: [tables, exclusiveOnly],
  };
}

/**
 * Tables in `schemas` named and marked as an earlier swap's (`sql`, `name`),
 * listed only when no running import holds the advisory lock of its tag
 * ({@link holdSwapTag}): a fresh (`_bk_stage_…`) table is in use while its
 * import runs, or left for it to drop once it aborted, and an old
 * (`_bk_old_…`) one until its import, having committed, has dropped it.
 */
export function swapLeftovers(schemas: readonly string[], mark: string): Statement {
  // What it finds is dropped: its operators are named with their schema too (OPERATOR(pg_catalog.=), pg_catalog.concat
  // for ||), so a look-alike || or = earlier in the search_path cannot make a user's table pass for a leftover.
  return {
    text: `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS sql, pg_catalog.concat(n.nspname, '.', c.relname) AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         CROSS JOIN LATERAL (SELECT pg_catalog.substring(c.relname::pg_catalog.text, '^_bk_(?:old|stage)_([0-9a-f]{8})_[0-9]+$'::pg_catalog.text) AS tag) m
      WHERE n.nspname OPERATOR(pg_catalog.=) ANY($1::pg_catalog.name[]) AND c.relkind OPERATOR(pg_catalog.=) 'r'::pg_catalog.char AND m.tag IS NOT NULL
        AND CASE WHEN NOT pg_catalog.starts_with(coalesce(pg_catalog.obj_description(c.oid, 'pg_class'), ''), pg_catalog.concat($2::pg_catalog.text, ' ', m.tag, ': ')) THEN false
                 ELSE pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtext($2), pg_catalog.hashtext(m.tag)) END
      ORDER BY 1`,
    values: [[...schemas], mark],
  };
}

/**
 * Held by a swap session from its start until it has dropped the tables of
 * `tag` it leaves behind: its old tables after COMMIT, or the fresh tables
 * its loaders committed after an abort (released with
 * {@link releaseSwapTag}). Another import's cleanup leaves them to it. A
 * process that dies lets go of it with its connection, and the next import
 * drops what it left.
 */
export function holdSwapTag(mark: string, tag: string): Statement {
  return { text: 'SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtext($1), pg_catalog.hashtext($2))', values: [mark, tag] };
}

export function releaseSwapTag(mark: string, tag: string): Statement {
  return { text: 'SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtext($1), pg_catalog.hashtext($2))', values: [mark, tag] };
}

const RELOPTIONS = (list: string): string =>
  `(SELECT pg_catalog.string_agg(pg_catalog.format('%I = %L', pg_catalog.split_part(o, '=', 1), pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)), ', ') FROM pg_catalog.unnest(${list}) o)`;

/**
 * The live table's {@link FreshSettings}: a swap builds the fresh table and
 * its key with them, so its rows are laid out as the live table's would be
 * (`fillfactor`), by the same access method, and land in the same
 * tablespaces, and its key covers the same columns (`INCLUDE`) and is as
 * deferrable. No row when `live` does not exist.
 */
export function freshSettings(live: string): Statement {
  return {
    text: `SELECT (SELECT pg_catalog.string_agg(pg_catalog.format('%s%I = %L', CASE WHEN x.oid = c.oid THEN '' ELSE 'toast.' END,
                                         pg_catalog.split_part(o, '=', 1), pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)), ', ')
                FROM pg_catalog.pg_class x, pg_catalog.unnest(x.reloptions) o WHERE x.oid IN (c.oid, c.reltoastrelid)) AS options,
              (SELECT pg_catalog.quote_ident(spcname) FROM pg_catalog.pg_tablespace WHERE oid = c.reltablespace) AS tablespace,
              ${RELOPTIONS('k.reloptions')} AS "keyOptions",
              (SELECT pg_catalog.quote_ident(spcname) FROM pg_catalog.pg_tablespace WHERE oid = k.reltablespace) AS "keyTablespace",
              (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY u.n)
                 FROM pg_catalog.pg_index i, pg_catalog.unnest(i.indkey) WITH ORDINALITY AS u(attnum, n) JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = u.attnum
                WHERE i.indexrelid = p.conindid AND u.n > i.indnkeyatts) AS "keyInclude",
              CASE WHEN p.condeferrable THEN 'DEFERRABLE' || CASE WHEN p.condeferred THEN ' INITIALLY DEFERRED' ELSE '' END END AS "keyDeferrable",
              pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)) AS owner,
              (SELECT pg_catalog.quote_ident(amname) FROM pg_catalog.pg_am WHERE oid = c.relam) AS "accessMethod",
              (SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = c.oid AND a.attname IN ('id', 'raw') AND NOT a.attisdropped ORDER BY a.attnum LIMIT 1) AS "firstColumn",
              (SELECT pg_catalog.string_agg(u.clause, ', ' ORDER BY a.attnum, u.k)
                 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid,
                      pg_catalog.unnest(ARRAY[
                        CASE WHEN a.attstorage <> t.typstorage THEN pg_catalog.format('ALTER COLUMN %I SET STORAGE %s', a.attname,
                               CASE a.attstorage WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL' WHEN 'm' THEN 'MAIN' ELSE 'EXTENDED' END) END,
                        CASE WHEN a.attcompression <> '' THEN pg_catalog.format('ALTER COLUMN %I SET COMPRESSION %s', a.attname,
                               CASE a.attcompression WHEN 'l' THEN 'lz4' ELSE 'pglz' END) END,
                        CASE WHEN a.attstattarget >= 0 THEN pg_catalog.format('ALTER COLUMN %I SET STATISTICS %s', a.attname, a.attstattarget) END,
                        CASE WHEN a.attoptions IS NOT NULL THEN pg_catalog.format('ALTER COLUMN %I SET (%s)', a.attname, ${RELOPTIONS('a.attoptions')}) END
                      ]) WITH ORDINALITY AS u(clause, k)
                WHERE a.attrelid = c.oid AND a.attname IN ('id', 'raw') AND NOT a.attisdropped) AS columns
         FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_constraint p ON p.conrelid = c.oid AND p.contype = 'p' LEFT JOIN pg_catalog.pg_class k ON k.oid = p.conindid
        WHERE c.oid = pg_catalog.to_regclass($1::pg_catalog.text)`,
    values: [live],
  };
}

/** `path`: the `search_path` in effect, for {@link setSearchPath} to put back after {@link PIN_SEARCH_PATH}. */
export const SEARCH_PATH: Statement = plain("SELECT pg_catalog.current_setting('search_path') AS path");

/**
 * Until {@link setSearchPath} or the end of the transaction: under this
 * `search_path`, `pg_get_indexdef` qualifies every object outside
 * `pg_catalog`, so a definition means the same on a connection with
 * another `search_path`.
 */
export const PIN_SEARCH_PATH: Statement = plain('SET LOCAL search_path = pg_catalog, pg_temp');

/** Sets the transaction's `search_path` back to `path` (what {@link SEARCH_PATH} returned). */
export function setSearchPath(path: string): Statement {
  return { text: "SELECT pg_catalog.set_config('search_path', $1, true)", values: [path] };
}

/**
 * The live table's indexes that no constraint owns (`CREATE INDEX`; unique
 * ones are refused before a swap), by name: `name` and `nspname` unquoted,
 * `def` as `pg_get_indexdef` prints it, `prefix` the part of `def` that
 * names the index and the table (`CREATE INDEX name ON schema.table USING `),
 * `tablespace` quoted or null. Read under {@link PIN_SEARCH_PATH}: a loader
 * connection builds `def` with a `search_path` of its own.
 */
export function secondaryIndexes(live: string): Statement {
  return {
    text: `SELECT x.relname AS name, n.nspname, pg_catalog.pg_get_indexdef(i.indexrelid) AS def,
              pg_catalog.format('CREATE INDEX %I ON %I.%I USING ', x.relname, n.nspname, c.relname) AS prefix,
              (SELECT pg_catalog.quote_ident(spcname) FROM pg_catalog.pg_tablespace WHERE oid = x.reltablespace) AS tablespace
         FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class x ON x.oid = i.indexrelid JOIN pg_catalog.pg_class c ON c.oid = i.indrelid JOIN pg_catalog.pg_namespace n ON n.oid = x.relnamespace
        WHERE i.indrelid = pg_catalog.to_regclass($1::pg_catalog.text)
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
        ORDER BY x.relname`,
    values: [live],
  };
}

/**
 * The statements that give the table called `target` (quoted, as given)
 * what the live table `live` carries besides its rows, comment and primary
 * key name, one `stmt` a row, in the order to run them: its owner, storage
 * options (its own and its TOAST table's), `FORCE ROW LEVEL SECURITY`
 * (row security itself is refused before a swap), each column's options, storage,
 * compression, statistics target, comment and whether it allows NULL (`id`
 * cannot: it is the swapped-in table's primary key) (and,
 * from PostgreSQL 18, its NOT NULL constraint's name), the sequences its columns own,
 * its extended statistics (dropped from `live` first: their names are
 * unique per schema), its triggers with their enabled state and comments,
 * what its primary key carries (comments, index storage options,
 * `CLUSTER ON`), and its other indexes' comments, statistics targets and
 * `CLUSTER ON` (the indexes themselves are built beside the fresh table's
 * load, from {@link secondaryIndexes}, and renamed into place). Built while `target` still names the live table and run
 * once the fresh table has taken the name. Privileges: {@link swapPrivileges}.
 */
export function swapCarryOver(live: string, target: string, fresh: string): Statement {
  return {
    text: `WITH c AS (SELECT * FROM pg_catalog.pg_class WHERE oid = $1::pg_catalog.text::pg_catalog.regclass),
        cols AS (SELECT a.*, t.typstorage, pg_catalog.col_description(a.attrelid, a.attnum) AS comment
                   FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                  WHERE a.attrelid = $1::pg_catalog.text::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped),
        pk AS (SELECT k.oid, k.conname, x.oid AS idx, x.relname AS idxname, n.nspname, x.reloptions, i.indisclustered
                 FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class x ON x.oid = k.conindid JOIN pg_catalog.pg_index i ON i.indexrelid = x.oid
                 JOIN pg_catalog.pg_namespace n ON n.oid = x.relnamespace
                WHERE k.conrelid = $1::pg_catalog.text::pg_catalog.regclass AND k.contype = 'p')
      SELECT u.stmt FROM (
        SELECT 1 AS step, 0 AS n, ARRAY[pg_catalog.format('ALTER TABLE %s OWNER TO %I', $2::pg_catalog.text, pg_catalog.pg_get_userbyid(relowner))] AS stmts FROM c
        UNION ALL
        SELECT 2, 0, ARRAY[pg_catalog.format('ALTER TABLE %s SET (%s)', $2::pg_catalog.text, pg_catalog.string_agg(pg_catalog.format('%s%I = %L', CASE WHEN x.oid = c.oid THEN '' ELSE 'toast.' END,
                                                                                         pg_catalog.split_part(o, '=', 1), pg_catalog.substr(o, pg_catalog.strpos(o, '=') + 1)), ', '))]
          FROM c JOIN pg_catalog.pg_class x ON x.oid IN (c.oid, c.reltoastrelid), pg_catalog.unnest(x.reloptions) o HAVING pg_catalog.count(*) > 0
        UNION ALL
        SELECT 2, 1, ARRAY[pg_catalog.format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', $2::pg_catalog.text)] FROM c WHERE relforcerowsecurity
        UNION ALL
        SELECT 3, attnum, pg_catalog.array_remove(ARRAY[
                 CASE WHEN attoptions IS NOT NULL THEN pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET (%s)', $2::pg_catalog.text, attname, ${RELOPTIONS('attoptions')}) END,
                 CASE WHEN attstorage <> typstorage THEN pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET STORAGE %s', $2::pg_catalog.text, attname,
                        CASE attstorage WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL' WHEN 'm' THEN 'MAIN' ELSE 'EXTENDED' END) END,
                 CASE WHEN attcompression <> '' THEN pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET COMPRESSION %s', $2::pg_catalog.text, attname,
                        CASE attcompression WHEN 'l' THEN 'lz4' ELSE 'pglz' END) END,
                 CASE WHEN attstattarget >= 0 THEN pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS %s', $2::pg_catalog.text, attname, attstattarget) END,
                 CASE WHEN comment IS NOT NULL THEN pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', $2::pg_catalog.text, attname, comment) END,
                 CASE WHEN NOT attnotnull AND attname <> 'id' THEN pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL', $2::pg_catalog.text, attname) END], NULL)
          FROM cols
        UNION ALL
        SELECT 3, 1000 + l.conkey[1], ARRAY[pg_catalog.format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', $2::pg_catalog.text, f.conname, l.conname)]
          FROM pg_catalog.pg_constraint l JOIN pg_catalog.pg_constraint f ON f.conrelid = $3::pg_catalog.text::pg_catalog.regclass AND f.contype = 'n' AND f.conkey = l.conkey
         WHERE l.conrelid = $1::pg_catalog.text::pg_catalog.regclass AND l.contype = 'n' AND f.conname <> l.conname
        UNION ALL
        SELECT 4, s.oid::int, ARRAY[pg_catalog.format('ALTER SEQUENCE %s OWNED BY %s.%I', s.oid::pg_catalog.regclass, $2::pg_catalog.text, a.attname)]
          FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN cols a ON a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = $1::pg_catalog.text::pg_catalog.regclass AND d.deptype = 'a'
        UNION ALL
        SELECT 5, x.oid::int, pg_catalog.array_remove(ARRAY[
                 pg_catalog.format('DROP STATISTICS %I.%I', n.nspname, x.stxname),
                 pg_catalog.format('CREATE STATISTICS %I.%I %s ON %s FROM %s', n.nspname, x.stxname,
                        (SELECT '(' || pg_catalog.string_agg(CASE k WHEN 'd' THEN 'ndistinct' WHEN 'f' THEN 'dependencies' ELSE 'mcv' END, ', ') || ')'
                           FROM pg_catalog.unnest(x.stxkind) k WHERE k <> 'e'),
                        pg_catalog.pg_get_statisticsobjdef_columns(x.oid), $2::pg_catalog.text),
                 pg_catalog.format('ALTER STATISTICS %I.%I OWNER TO %I', n.nspname, x.stxname, pg_catalog.pg_get_userbyid(x.stxowner)),
                 CASE WHEN x.stxstattarget >= 0 THEN pg_catalog.format('ALTER STATISTICS %I.%I SET STATISTICS %s', n.nspname, x.stxname, x.stxstattarget) END,
                 CASE WHEN pg_catalog.obj_description(x.oid, 'pg_statistic_ext') IS NOT NULL
                      THEN pg_catalog.format('COMMENT ON STATISTICS %I.%I IS %L', n.nspname, x.stxname, pg_catalog.obj_description(x.oid, 'pg_statistic_ext')) END], NULL)
          FROM pg_catalog.pg_statistic_ext x JOIN pg_catalog.pg_namespace n ON n.oid = x.stxnamespace WHERE x.stxrelid = $1::pg_catalog.text::pg_catalog.regclass
        UNION ALL
        SELECT 6, g.oid::int, pg_catalog.array_remove(ARRAY[
                 pg_catalog.pg_get_triggerdef(g.oid),
                 CASE g.tgenabled WHEN 'D' THEN pg_catalog.format('ALTER TABLE %s DISABLE TRIGGER %I', $2::pg_catalog.text, g.tgname)
                                  WHEN 'R' THEN pg_catalog.format('ALTER TABLE %s ENABLE REPLICA TRIGGER %I', $2::pg_catalog.text, g.tgname)
                                  WHEN 'A' THEN pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', $2::pg_catalog.text, g.tgname) END,
                 CASE WHEN pg_catalog.obj_description(g.oid, 'pg_trigger') IS NOT NULL
                      THEN pg_catalog.format('COMMENT ON TRIGGER %I ON %s IS %L', g.tgname, $2::pg_catalog.text, pg_catalog.obj_description(g.oid, 'pg_trigger')) END], NULL)
          FROM pg_catalog.pg_trigger g WHERE g.tgrelid = $1::pg_catalog.text::pg_catalog.regclass AND NOT g.tgisinternal
        UNION ALL
        SELECT 7, 0, pg_catalog.array_remove(ARRAY[
                 CASE WHEN pg_catalog.obj_description(oid, 'pg_constraint') IS NOT NULL
                      THEN pg_catalog.format('COMMENT ON CONSTRAINT %I ON %s IS %L', conname, $2::pg_catalog.text, pg_catalog.obj_description(oid, 'pg_constraint')) END,
                 CASE WHEN pg_catalog.obj_description(idx, 'pg_class') IS NOT NULL
                      THEN pg_catalog.format('COMMENT ON INDEX %I.%I IS %L', nspname, idxname, pg_catalog.obj_description(idx, 'pg_class')) END,
                 CASE WHEN reloptions IS NOT NULL THEN pg_catalog.format('ALTER INDEX %I.%I SET (%s)', nspname, idxname, ${RELOPTIONS('reloptions')}) END,
                 CASE WHEN indisclustered THEN pg_catalog.format('ALTER TABLE %s CLUSTER ON %I', $2::pg_catalog.text, idxname) END], NULL)
          FROM pk
        UNION ALL
        SELECT 8, x.oid::int, pg_catalog.array_remove(ARRAY[
                 CASE WHEN pg_catalog.obj_description(x.oid, 'pg_class') IS NOT NULL
                      THEN pg_catalog.format('COMMENT ON INDEX %I.%I IS %L', n.nspname, x.relname, pg_catalog.obj_description(x.oid, 'pg_class')) END,
                 CASE WHEN i.indisclustered THEN pg_catalog.format('ALTER TABLE %s CLUSTER ON %I', $2::pg_catalog.text, x.relname) END]
                 || ARRAY(SELECT pg_catalog.format('ALTER INDEX %I.%I ALTER COLUMN %s SET STATISTICS %s', n.nspname, x.relname, a.attnum, a.attstattarget)
                            FROM pg_catalog.pg_attribute a WHERE a.attrelid = x.oid AND a.attstattarget >= 0 ORDER BY a.attnum), NULL)
          FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class x ON x.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = x.relnamespace
         WHERE i.indrelid = $1::pg_catalog.text::pg_catalog.regclass AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)
      ) s CROSS JOIN LATERAL pg_catalog.unnest(s.stmts) WITH ORDINALITY AS u(stmt, k) ORDER BY s.step, s.n, u.k`,
    values: [live, target, fresh],
  };
}

/**
 * The REVOKE and GRANT statements (`stmt`) that give `fresh` exactly the
 * privileges of `live` (on the table and on each column), run once `fresh`
 * has `live`'s owner. Every grant is made as the owner: a privilege granted
 * by another role is refused before the import (see `tableShapes`).
 * Nothing when neither table has privileges other than the owner's defaults.
 */
export function swapPrivileges(live: string, fresh: string): Statement {
  return {
    text: `WITH l AS (SELECT * FROM pg_catalog.pg_class WHERE oid = $1::pg_catalog.text::pg_catalog.regclass), f AS (SELECT * FROM pg_catalog.pg_class WHERE oid = $2::pg_catalog.text::pg_catalog.regclass),
        who(id) AS (SELECT relowner FROM l UNION SELECT relowner FROM f UNION SELECT 0
                    UNION SELECT x.grantee FROM f, pg_catalog.aclexplode(f.relacl) x
                    UNION SELECT x.grantee FROM pg_catalog.pg_attribute a, pg_catalog.aclexplode(a.attacl) x WHERE a.attrelid = $2::pg_catalog.text::pg_catalog.regclass),
        name(id, role) AS (SELECT id, CASE id WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(id)) END FROM who)
      SELECT stmt FROM (
        SELECT 1 AS step, pg_catalog.format('REVOKE ALL ON TABLE %s FROM %s', $2::pg_catalog.text, pg_catalog.string_agg(role, ', ' ORDER BY role)) AS stmt FROM name
        UNION ALL
        SELECT 2, pg_catalog.format('REVOKE ALL (%I) ON TABLE %s FROM %s', a.attname, $2::pg_catalog.text, (SELECT pg_catalog.string_agg(role, ', ' ORDER BY role) FROM name))
          FROM pg_catalog.pg_attribute a WHERE a.attrelid = $2::pg_catalog.text::pg_catalog.regclass AND a.attacl IS NOT NULL
        UNION ALL
        SELECT 3, pg_catalog.format('GRANT %s ON TABLE %s TO %s%s', x.privilege_type, $2::pg_catalog.text,
                         CASE x.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END,
                         CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
          FROM l, pg_catalog.aclexplode(coalesce(l.relacl, pg_catalog.acldefault('r', l.relowner))) x
        UNION ALL
        SELECT 4, pg_catalog.format('GRANT %s (%I) ON TABLE %s TO %s%s', x.privilege_type, a.attname, $2::pg_catalog.text,
                         CASE x.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END,
                         CASE WHEN x.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
          FROM pg_catalog.pg_attribute a, pg_catalog.aclexplode(a.attacl) x WHERE a.attrelid = $1::pg_catalog.text::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped
      ) s
      WHERE EXISTS (SELECT 1 FROM l WHERE relacl IS NOT NULL) OR EXISTS (SELECT 1 FROM f WHERE relacl IS NOT NULL)
         OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid IN ($1::pg_catalog.text::pg_catalog.regclass, $2::pg_catalog.text::pg_catalog.regclass) AND a.attacl IS NOT NULL)
      ORDER BY step`,
    values: [live, fresh],
  };
}
