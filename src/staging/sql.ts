/**
 * Every statement the staging module sends to PostgreSQL, named once. Table
 * and schema names arrive already quoted (`QualifiedName.sql`, `quoteIdent`);
 * values travel as parameters, except in DDL, which takes none (its one
 * literal, a table comment, is quoted with `quoteLiteral`).
 *
 * @module
 */
import copyStreams from 'pg-copy-streams';
import type { PgClientLike } from '../_internals/pg.js';
import { quoteLiteral } from '../_internals/sql-identifier.js';

/** A statement and its parameters. */
export interface Statement {
  readonly text: string;
  readonly values?: readonly unknown[];
}

/** Sends `statement` on `client` and resolves with its rows. */
export async function query<R = Record<string, unknown>>(client: PgClientLike, statement: Statement): Promise<R[]> {
  const result = (await client.query(statement.text, statement.values)) as { rows?: R[] } | undefined;
  return result?.rows ?? [];
}

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

export function lockTables(tables: readonly string[]): Statement {
  return plain(`LOCK TABLE ${tables.join(', ')} IN ACCESS EXCLUSIVE MODE`);
}

/** ONLY: a table that INHERITS from one of them (refused up front, but one may be created while the import waits for its lock) keeps its rows. */
export function truncateTables(tables: readonly string[]): Statement {
  return plain(`TRUNCATE TABLE ${tables.map((t) => `ONLY ${t}`).join(', ')}`);
}

export function deleteAllRows(table: string): Statement {
  return plain(`DELETE FROM ONLY ${table}`);
}

// DDL

export function createSchema(schema: string): Statement {
  return plain(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
}

/** A live staging table, made on its first import. */
export function createLiveTable(table: string): Statement {
  return plain(`CREATE TABLE IF NOT EXISTS ${table} (id text PRIMARY KEY, raw jsonb NOT NULL)`);
}

/** A swap's fresh table: keyed only after its COPY. */
export function createFreshTable(table: string): Statement {
  return plain(`CREATE TABLE ${table} (id text NOT NULL, raw jsonb NOT NULL)`);
}

/** A dry run's table: invisible to everyone, dropped with the transaction. */
export function createTemporaryTable(table: string): Statement {
  return plain(`CREATE TEMPORARY TABLE ${table} (id text NOT NULL, raw jsonb NOT NULL) ON COMMIT DROP`);
}

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

/** `(id)` as primary key; `constraint` names it (an unnamed key gets PostgreSQL's default name). */
export function addIdPrimaryKey(table: string, constraint?: string): Statement {
  return plain(`ALTER TABLE ${table} ADD ${constraint === undefined ? '' : `CONSTRAINT ${constraint} `}PRIMARY KEY (id)`);
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

// Counting

/** Rows `n` of one table. */
export function countRows(table: string): Statement {
  return plain(`SELECT count(*)::bigint AS n FROM ${table}`);
}

/** One row: the count of `tables[i]` as `c<i>`. */
export function countTables(tables: readonly string[]): Statement {
  return plain(`SELECT ${tables.map((t, i) => `(SELECT count(*)::bigint FROM ${t}) AS c${i}`).join(', ')}`);
}

/** `n`: how many of `schemas` exist. */
export function countSchemas(schemas: readonly string[]): Statement {
  return { text: 'SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ANY($1::text[])', values: [schemas] };
}

// COPY

/** `freeze` needs `table` to have been created or truncated in the current transaction. */
export function copyIn(table: string, freeze: boolean): ReturnType<typeof copyStreams.from> {
  return copyStreams.from(`COPY ${table} (id, raw) FROM STDIN${freeze ? ' WITH (FREEZE)' : ''}`);
}

/** The `raw` column in id order, `COLLATE "C"` so the order does not depend on the server's locale. */
export function copyOutRaw(table: string): ReturnType<typeof copyStreams.to> {
  return copyStreams.to(`COPY (SELECT raw FROM ${table} ORDER BY id COLLATE "C") TO STDOUT`);
}

// Catalog

/**
 * `conname`, `def`, and whether the primary key of `table` (a quoted name)
 * must stay in place during a load (`keep`): a foreign key references it,
 * it comes from a partitioned parent, or it carries what `ADD CONSTRAINT
 * … def` would not bring back (a comment on it or its index, the index's
 * storage options or tablespace, `REPLICA IDENTITY USING INDEX`, `CLUSTER ON`).
 */
export function primaryKeyOf(table: string): Statement {
  return {
    text: `SELECT c.conname, pg_get_constraintdef(c.oid) AS def,
              EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = c.conrelid AND f.contype = 'f')
              OR c.conparentid <> 0 OR i.indisreplident OR i.indisclustered OR x.reloptions IS NOT NULL OR x.reltablespace <> 0
              OR obj_description(c.oid, 'pg_constraint') IS NOT NULL OR obj_description(x.oid, 'pg_class') IS NOT NULL AS keep
         FROM pg_constraint c JOIN pg_index i ON i.indexrelid = c.conindid JOIN pg_class x ON x.oid = c.conindid
        WHERE c.conrelid = $1::regclass AND c.contype = 'p'`,
    values: [table],
  };
}

/** The table's comment and primary key name, for a swap to carry over. */
export function commentAndPrimaryKey(table: string): Statement {
  return {
    text: `SELECT obj_description($1::regclass, 'pg_class') AS comment,
              (SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p') AS pk`,
    values: [table],
  };
}

/**
 * For each of `tables` (its `name` as given, and `tbl` as PostgreSQL prints
 * it) that DROP TABLE would refuse to drop, one object (`what`) depending on
 * it: a view, a foreign key, a SQL function using the table, or anything
 * using its row type (`RETURNS SETOF <table>`, a column of that type), or
 * the array of it.
 */
export function dependents(tables: readonly string[]): Statement {
  return {
    text: `SELECT DISTINCT ON (t.i) t.name, c.oid::regclass::text AS tbl, pg_describe_object(d.classid, d.objid, d.objsubid) AS what
         FROM unnest($1::text[]) WITH ORDINALITY AS t(name, i) JOIN pg_class c ON c.oid = to_regclass(t.name)
         JOIN pg_type r ON r.oid = c.reltype
         JOIN pg_depend d ON d.deptype = 'n'
          AND (d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid
               OR d.refclassid = 'pg_type'::regclass AND d.refobjid IN (r.oid, r.typarray))
        ORDER BY t.i, d.classid, d.objid`,
    values: [tables],
  };
}

/**
 * Each existing table's kind, row security, columns, its primary key when
 * that key is not on `id` alone, constraints other than its primary key,
 * unique indexes no constraint owns, the tables inheriting from it and the
 * publications that list it by name, in the order given. NOT NULL
 * constraints (catalogued since PostgreSQL 18) are left to the columns'
 * `notNull`.
 */
export function tableShapes(tables: readonly string[]): Statement {
  return {
    text: `SELECT t.name, c.relkind::text AS kind,
            (c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)) AS "rowSecurity",
            coalesce(json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'notNull', a.attnotnull,
                                                'filled', a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '',
                                                'collation', CASE WHEN a.attcollation NOT IN (0, 100) THEN a.attcollation::regcollation::text END,
                                                'deterministic', coalesce((SELECT co.collisdeterministic FROM pg_collation co WHERE co.oid = a.attcollation), true)) ORDER BY a.attnum)
                     FILTER (WHERE a.attnum IS NOT NULL), '[]') AS columns,
            (SELECT coalesce(json_agg(json_build_object('name', k.conname, 'def', pg_get_constraintdef(k.oid)) ORDER BY k.conname), '[]')
               FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype NOT IN ('p', 'n')) AS constraints,
            EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') AS "hasPrimaryKey",
            (SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k
              WHERE k.conrelid = c.oid AND k.contype = 'p'
                AND k.conkey <> ARRAY(SELECT d.attnum FROM pg_attribute d WHERE d.attrelid = c.oid AND d.attname = 'id')) AS "primaryKeyNotOnId",
            (SELECT coalesce(json_agg(json_build_object('name', x.relname, 'def', pg_get_indexdef(u.indexrelid)) ORDER BY x.relname), '[]')
               FROM pg_index u JOIN pg_class x ON x.oid = u.indexrelid
              WHERE u.indrelid = c.oid AND u.indisunique
                AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = u.indexrelid AND k.conrelid = c.oid AND k.contype IN ('p', 'u', 'x'))) AS "uniqueIndexes",
            (SELECT coalesce(json_agg(i.inhrelid::regclass::text ORDER BY i.inhrelid::regclass::text), '[]')
               FROM pg_inherits i WHERE i.inhparent = c.oid) AS "inheritedBy",
            (SELECT coalesce(json_agg(p.pubname ORDER BY p.pubname), '[]')
               FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid WHERE r.prrelid = c.oid) AS publications,
            (SELECT coalesce(json_agg(i.inhparent::regclass::text ORDER BY i.inhseqno), '[]')
               FROM pg_inherits i WHERE i.inhrelid = c.oid) AS "inheritsFrom",
            c.relpersistence = 'u' AS unlogged,
            c.relreplident::text AS "replicaIdentity"
       FROM unnest($1::text[]) WITH ORDINALITY AS t(name, i) JOIN pg_class c ON c.oid = to_regclass(t.name)
       LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      GROUP BY t.name, t.i, c.oid, c.relkind, c.relrowsecurity, c.relpersistence, c.relreplident ORDER BY t.i`,
    values: [tables],
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
         SELECT s AS given, lower(s) AS folded FROM unnest($1::text[]) AS s
          WHERE s <> lower(s) AND NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = s)
            AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = lower(s))
         UNION ALL
         SELECT s || '.' || t, s || '.' || lower(t) FROM unnest($1::text[], $2::text[]) AS x(s, t)
          WHERE t <> lower(t) AND to_regclass(format('%I.%I', s, t)) IS NULL AND to_regclass(format('%I.%I', s, lower(t))) IS NOT NULL
       ) names LIMIT 1`,
    values: [schemas, names],
  };
}

/** Foreign keys of other tables that reference `tables`, with their ON DELETE action. */
export function referencingKeys(tables: readonly string[]): Statement {
  return {
    text: `SELECT t.name AS referenced, c.conname, c.conrelid::regclass::text AS referencing, c.confdeltype::text AS on_delete
       FROM unnest($1::text[]) AS t(name) JOIN pg_constraint c ON c.confrelid = to_regclass(t.name)
      WHERE c.contype = 'f' AND c.conrelid <> ALL (SELECT to_regclass(x) FROM unnest($1::text[]) AS x)
      ORDER BY 2`,
    values: [tables],
  };
}

/** Sessions holding a lock on any of `tables`, other than this one. */
export function lockHolders(tables: readonly string[]): Statement {
  return {
    text: `SELECT l.relation::regclass::text AS tbl, a.pid, coalesce(a.application_name, '') AS app, coalesce(a.state, '') AS state, l.mode
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid()
          AND l.relation IN (SELECT to_regclass(x) FROM unnest($1::text[]) AS x)
        ORDER BY 1, 2`,
    values: [tables],
  };
}

/**
 * Tables in `schemas` named and marked as an earlier swap's (`sql`, `name`).
 * A fresh (`_bk_stage_…`) table is listed only when no running import holds
 * the advisory lock of its tag.
 */
export function swapLeftovers(schemas: readonly string[], mark: string): Statement {
  return {
    text: `SELECT format('%I.%I', n.nspname, c.relname) AS sql, n.nspname || '.' || c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN LATERAL (SELECT substring(c.relname FROM '^_bk_(?:old|stage)_([0-9a-f]{8})_[0-9]+$') AS tag) m
      WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'r' AND m.tag IS NOT NULL
        AND CASE WHEN NOT starts_with(coalesce(obj_description(c.oid, 'pg_class'), ''), $2 || ' ' || m.tag || ': ') THEN false
                 WHEN c.relname LIKE '\\_bk\\_old\\_%' THEN true
                 ELSE pg_try_advisory_xact_lock(hashtext($2), hashtext(m.tag)) END
      ORDER BY 1`,
    values: [[...schemas], mark],
  };
}

/** Held for the transaction: the fresh tables of `tag` are in use. */
export function lockSwapTag(mark: string, tag: string): Statement {
  return { text: 'SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', values: [mark, tag] };
}
