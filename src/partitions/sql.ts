/**
 * Every statement the PartitionManager sends, one function each. Arguments
 * named `…Sql` are already-quoted identifiers (`"schema"."name"`) or SQL
 * literals built by `boundLiteral`; plain strings are quoted here.
 * Functions, catalogs and types are named `pg_catalog.…`, and operators
 * `OPERATOR(pg_catalog.=)` (`IN` and `CASE x WHEN` written out with them),
 * so a `search_path` that finds a user's schema first cannot swap in
 * look-alikes: a `>=` that moves the wrong rows out of the default
 * partition, an `=` that finds another table. The `search_path` itself is
 * left alone, so a table named without its schema and the user's own
 * triggers, defaults and constraints see the user's. See the statements
 * module's `sql.ts` for how such operators bind.
 *
 * @internal
 * @module
 */
import { quoteIdent, quoteLiteral, type QualifiedName } from '../_internals/sql-identifier.js';

/** A partition's range as SQL: the two bound literals and the `WHERE` condition that selects its rows. */
export interface RangeSql {
  readonly from: string;
  readonly to: string;
  readonly where: string;
}

/** `"schema"."name"`. */
export const qualified = (schema: string, name: string): string => `${quoteIdent(schema)}.${quoteIdent(name)}`;

// ---- lock_timeout ---------------------------------------------------------

/** Applies to the current transaction only. */
export const setLocalLockTimeout = (ms: number): string => `SET LOCAL lock_timeout = '${ms}ms'`;

/** Reads the session's `lock_timeout` and sets a new one (`$1`, e.g. `'5000ms'`), in one round trip. */
export const swapSessionLockTimeout =
  "SELECT pg_catalog.current_setting('lock_timeout') AS v, pg_catalog.set_config('lock_timeout', $1, false)";

/** Puts the session's `lock_timeout` back to `$1`. */
export const restoreSessionLockTimeout = "SELECT pg_catalog.set_config('lock_timeout', $1, false)";

// ---- clock ---------------------------------------------------------------

/** The database's clock right now (not the transaction's start), as epoch seconds in text: no type parser of the caller's pool reads it. */
export const databaseClock = "SELECT pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())::pg_catalog.text AS t";

// ---- advisory lock --------------------------------------------------------

/**
 * Waits up to `timeoutMs` for the lock, and only that: a shorter
 * `statement_timeout` of the role or database is lifted for this wait (SET
 * LOCAL, this statement only), so a second run still ends in `LOCKED`.
 */
export const advisoryLock = (key: string, timeoutMs: number): string =>
  `${setLocalLockTimeout(timeoutMs)}; SET LOCAL statement_timeout = 0; SELECT pg_catalog.pg_advisory_lock(${key})`;

export const advisoryUnlock = (key: string): string => `SELECT pg_catalog.pg_advisory_unlock(${key})`;

/**
 * `$1` the advisory key (an int8, as text): the session holding that lock
 * in this database (pg_locks shows a bigint key as its high and low 32
 * bits), with its application, client, state and since when, for a
 * `LOCKED` to name the run in the way.
 */
export const advisoryHolder = `SELECT l.pid, coalesce(a.application_name, '') AS app, coalesce(a.state, '') AS state,
        coalesce(pg_catalog.host(a.client_addr), '') AS client,
        coalesce(pg_catalog.to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '') AS connected,
        coalesce(pg_catalog.to_char(a.state_change AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '') AS since
     FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
     WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted AND l.objsubid OPERATOR(pg_catalog.=) 1
       AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
       AND l.classid OPERATOR(pg_catalog.=) pg_catalog.oid(($1::pg_catalog.int8 OPERATOR(pg_catalog.>>) 32) OPERATOR(pg_catalog.&) 4294967295::pg_catalog.int8)
       AND l.objid OPERATOR(pg_catalog.=) pg_catalog.oid($1::pg_catalog.int8 OPERATOR(pg_catalog.&) 4294967295::pg_catalog.int8)
     LIMIT 1`;

// ---- catalog --------------------------------------------------------------

// Bounds are converted to epochs server-side by casting the printed bound
// back to the key's own type, so neither TimeZone nor DateStyle can skew them.
// A range bound of one date/timestamp column prints as a quoted literal
// (group `literal` of the match, 'infinity' and '-infinity' included, whose
// epochs are ±Infinity) or as MINVALUE / MAXVALUE (group `literal + 1`).
const epochOf = (literal: 1 | 3): string => `CASE
      WHEN b.m[${literal + 1}] OPERATOR(pg_catalog.=) 'MINVALUE' THEN '-Infinity'::pg_catalog.float8
      WHEN b.m[${literal + 1}] OPERATOR(pg_catalog.=) 'MAXVALUE' THEN 'Infinity'::pg_catalog.float8
      ELSE CASE
        WHEN p.key_type OPERATOR(pg_catalog.=) 'date' THEN extract(epoch FROM b.m[${literal}]::pg_catalog.date)
        WHEN p.key_type OPERATOR(pg_catalog.=) 'timestamp' THEN extract(epoch FROM b.m[${literal}]::timestamp)
        WHEN p.key_type OPERATOR(pg_catalog.=) 'timestamptz' THEN extract(epoch FROM b.m[${literal}]::pg_catalog.timestamptz) END::pg_catalog.float8 END`;

/**
 * One bound of `FOR VALUES FROM (…) TO (…)`: a quoted literal or MINVALUE /
 * MAXVALUE. The pattern around it is an escape string (`E'…'`, backslashes
 * doubled): a plain literal's backslashes depend on the session's
 * `standard_conforming_strings`, which a SET in the same string cannot pin.
 */
const BOUND = "(?:''([^'']*)''|(MINVALUE|MAXVALUE))";

/**
 * The size in bytes (heap, indexes, TOAST) of the relation `oid`, or NULL
 * when there is none. A partitioned table (a sub-partitioned partition) has
 * no pages of its own: its size is its leaves'. Waits for a lock on each
 * table it sizes, like any reader.
 */
const sizeOf = (oid: string): string => `(SELECT CASE WHEN r.relkind OPERATOR(pg_catalog.=) 'p'
      THEN (SELECT pg_catalog.sum(pg_catalog.pg_total_relation_size(pt.relid)) FROM pg_catalog.pg_partition_tree(r.oid) pt WHERE pt.isleaf)
      ELSE pg_catalog.pg_total_relation_size(r.oid) END
    FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) ${oid})`;

/**
 * The estimated rows of the partitioned table `oid`: its leaves' (those
 * ANALYZE has counted), which autovacuum keeps, while it never analyzes a
 * partitioned table itself. Walks pg_inherits, which takes no lock; NULL
 * when no leaf was counted yet.
 */
const leafRows = (oid: string): string => `(WITH RECURSIVE tree(oid) AS (
      SELECT ${oid} UNION SELECT i2.inhrelid FROM pg_catalog.pg_inherits i2 JOIN tree ON i2.inhparent OPERATOR(pg_catalog.=) tree.oid)
    SELECT pg_catalog.sum(l.reltuples::pg_catalog.float8) FROM tree JOIN pg_catalog.pg_class l ON l.oid OPERATOR(pg_catalog.=) tree.oid
    WHERE l.relkind OPERATOR(pg_catalog.<>) 'p' AND l.reltuples OPERATOR(pg_catalog.>=) 0)`;

/**
 * The parent and every partition in one simple-protocol string. The settings
 * are pinned for this statement only (SET LOCAL in the same implicit
 * transaction), so the printed bounds are ISO with numeric offsets: under
 * DateStyle SQL a zone prints as an abbreviation ("IST") that reads back as
 * another zone. extra_float_digits too: below its default the epochs are
 * printed rounded (to whole seconds, or worse). lock_timeout too: sizing a
 * partition needs a lock that a running DDL may hold.
 */
export const listPartitions = (parent: QualifiedName, lockTimeoutMs: number, sizes: boolean): string =>
  `SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, MDY'; SET LOCAL extra_float_digits = 3; ${setLocalLockTimeout(lockTimeoutMs)};
WITH p AS (
  SELECT c.oid, c.relkind::pg_catalog.text AS parent_kind, pt.partstrat::pg_catalog.text AS strategy, pt.partnatts::int AS key_count,
         a.attname::pg_catalog.text AS key_column, t.typname::pg_catalog.text AS key_type,
         -- A plain partition given for its parent: which parent.
         (SELECT pg_catalog.concat(pn.nspname, '.', pc.relname) FROM pg_catalog.pg_inherits pi
            JOIN pg_catalog.pg_class pc ON pc.oid OPERATOR(pg_catalog.=) pi.inhparent
            JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) pc.relnamespace
          WHERE pi.inhrelid OPERATOR(pg_catalog.=) c.oid AND c.relispartition AND pt.partrelid IS NULL) AS partition_of
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
  LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid OPERATOR(pg_catalog.=) c.oid
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.=) pt.partattrs[0]
  LEFT JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
  WHERE n.nspname OPERATOR(pg_catalog.=) ${quoteLiteral(parent.schema)} AND c.relname OPERATOR(pg_catalog.=) ${quoteLiteral(parent.name)}
)
SELECT p.parent_kind, p.strategy, p.key_count, p.key_column, p.key_type, p.partition_of,
       k.schema, k.name, k.kind, k.bound, k.from_epoch, k.to_epoch, k.estimated_rows, k.size_bytes, k.detach_pending
FROM p
LEFT JOIN LATERAL (
  SELECT cn.nspname::pg_catalog.text AS schema, cc.relname::pg_catalog.text AS name, cc.relkind::pg_catalog.text AS kind, b.bound,
    ${epochOf(1)} AS from_epoch,
    ${epochOf(3)} AS to_epoch,
    CASE WHEN cc.relkind OPERATOR(pg_catalog.=) 'p' THEN ${leafRows('cc.oid')} ELSE cc.reltuples::pg_catalog.float8 END AS estimated_rows,
    ${sizes ? `${sizeOf('cc.oid')}::pg_catalog.text` : 'NULL::pg_catalog.text'} AS size_bytes,
    i.inhdetachpending AS detach_pending
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class cc ON cc.oid OPERATOR(pg_catalog.=) i.inhrelid
  JOIN pg_catalog.pg_namespace cn ON cn.oid OPERATOR(pg_catalog.=) cc.relnamespace
  -- Relation 0: a bound holds constants only, and pg_get_expr with the partition's oid would wait for a lock on it.
  CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_expr(cc.relpartbound, 0) AS bound) b0
  CROSS JOIN LATERAL (
    SELECT b0.bound, pg_catalog.regexp_match(b0.bound, E'^FOR VALUES FROM \\\\(${BOUND}\\\\) TO \\\\(${BOUND}\\\\)$') AS m
  ) b
  WHERE i.inhparent OPERATOR(pg_catalog.=) p.oid
) k ON true
ORDER BY k.from_epoch NULLS LAST, k.name`;

/**
 * `$1` schema, `$2` table, as given (they are quoted, so they keep their
 * case): the relation PostgreSQL means by them unquoted, `schema.table`
 * lower-cased, when that differs and exists.
 */
export const caseFoldedTable = `SELECT pg_catalog.concat(n.nspname, '.', c.relname) AS folded
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE n.nspname OPERATOR(pg_catalog.=) pg_catalog.lower($1) AND c.relname OPERATOR(pg_catalog.=) pg_catalog.lower($2)
       AND ($1 OPERATOR(pg_catalog.<>) pg_catalog.lower($1) OR $2 OPERATOR(pg_catalog.<>) pg_catalog.lower($2))`;

/**
 * `$1` schema, `$2` table, as given: the partitioned tables of that name
 * (or of its lower-case form) in other schemas, `schema.table`.
 */
export const partitionedNamedElsewhere = `SELECT pg_catalog.concat(n.nspname, '.', c.relname) AS qualified
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE c.relkind OPERATOR(pg_catalog.=) 'p' AND c.relname OPERATOR(pg_catalog.=) ANY (ARRAY[$2, pg_catalog.lower($2)])
       AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY[$1, pg_catalog.lower($1)])
     ORDER BY 1 LIMIT 5`;

/**
 * `$1` the quoted parent: the other sessions holding a lock on it or on one
 * of its partitions (the parent first, then the longest-running), for a
 * `LOCK_TIMEOUT` to name whom it waited for.
 */
export const lockHoldersOfTree = `SELECT l.pid, l.mode, l.relation::pg_catalog.regclass::pg_catalog.text AS tbl,
        coalesce(a.application_name, '') AS app, coalesce(a.state, '') AS state,
        coalesce(pg_catalog.to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '') AS since
     FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
     WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted AND l.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
       AND l.database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
       -- pg_inherits walked by hand: pg_partition_tree would lock every partition, and wait for the very holders it lists.
       AND l.relation OPERATOR(pg_catalog.=) ANY (WITH RECURSIVE tree(oid) AS (SELECT $1::pg_catalog.regclass::pg_catalog.oid
                            UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree t ON i.inhparent OPERATOR(pg_catalog.=) t.oid)
                          SELECT oid FROM tree)
     ORDER BY l.relation OPERATOR(pg_catalog.=) $1::pg_catalog.regclass DESC, a.xact_start NULLS LAST, l.pid
     LIMIT 5`;

/** `$1` schema, `$2` table: the columns an INSERT may write, quoted and comma-separated. */
export const insertableColumns = `SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) AS cols
     FROM pg_catalog.pg_attribute a
     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2 AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) ''`;

/**
 * `$1` schema, `$2` names, `$3` the quoted parent: what each relation
 * holding one of the names is, and, for a partition of the parent itself,
 * its bound as PostgreSQL prints it.
 */
export const relationsNamed = `SELECT c.relname::pg_catalog.text AS name, c.relkind::pg_catalog.text AS kind, c.relispartition AS is_partition,
        CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) c.oid AND i.inhparent OPERATOR(pg_catalog.=) $3::pg_catalog.regclass)
             THEN pg_catalog.pg_get_expr(c.relpartbound, 0) END AS own_bound
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
       WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) ANY($2::pg_catalog.text[])`;

/** `$1` schema, `$2` table: its kind, whether it is a partition, its primary key columns and its indexes. */
export const tableInfo = `SELECT c.relkind::pg_catalog.text AS kind, c.relispartition AS is_partition,
        (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY k.ord)
           FROM pg_catalog.pg_index i
           CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) k.attnum
          WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid AND i.indisprimary) AS key,
        (SELECT pg_catalog.array_agg(ic.relname::pg_catalog.text ORDER BY ic.relname)
           FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
          WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid) AS indexes
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
       WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2`;

/** The current database's oid, for matching `pg_locks` rows (whose relation oids are per database). */
const CURRENT_DATABASE =
  '(SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())';

/**
 * A session `pid` (an SQL expression compared with `OPERATOR(pg_catalog.=)`,
 * or `undefined` for any session but this one) holds SHARE UPDATE EXCLUSIVE
 * on the index `indexOid`: a `REINDEX … CONCURRENTLY` holds it on each new
 * (`_ccnew`) and old index until it ends, and `pg_locks` shows it to every
 * role. A reader of the table holds ACCESS SHARE only, so an old leftover
 * a long query has open still counts as one.
 */
const lockedByBuilder = (indexOid: string, pid?: string): string => `EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
         WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.relation OPERATOR(pg_catalog.=) ${indexOid} AND l.granted
           AND l.mode OPERATOR(pg_catalog.=) 'ShareUpdateExclusiveLock'
           AND l.pid ${pid === undefined ? 'OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()' : `OPERATOR(pg_catalog.=) ${pid}`}
           AND l.database OPERATOR(pg_catalog.=) ${CURRENT_DATABASE})`;

/**
 * The index `indexOid` is no other session's work in progress: neither
 * locked by a `REINDEX … CONCURRENTLY` nor the index a `CREATE INDEX
 * CONCURRENTLY` is building (its progress row, which this role can read
 * for its own sessions and as a member of pg_read_all_stats).
 */
const notBeingBuilt = (indexOid: string): string => `NOT ${lockedByBuilder(indexOid)}
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_create_index b
                       WHERE b.index_relid OPERATOR(pg_catalog.=) ${indexOid} AND b.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid())`;

/**
 * `$1` the quoted table: the other sessions building its indexes right now
 * (a `REINDEX … CONCURRENTLY` holding an INVALID index of it, or a `CREATE
 * INDEX` / `REINDEX` whose progress row names it), with what each runs, its
 * phase, since when, and the INVALID indexes that are its work in progress.
 */
export const indexBuilders = `SELECT a.pid, coalesce(a.application_name, '') AS app,
        coalesce(p.command, '') AS command, coalesce(p.phase, '') AS phase,
        coalesce(pg_catalog.to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '') AS since,
        ARRAY(SELECT ic.relname::pg_catalog.text FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
              WHERE i.indrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND NOT i.indisvalid
                AND (${lockedByBuilder('i.indexrelid', 'a.pid')} OR i.indexrelid OPERATOR(pg_catalog.=) p.index_relid)
              ORDER BY 1) AS indexes
     FROM pg_catalog.pg_stat_activity a
     LEFT JOIN pg_catalog.pg_stat_progress_create_index p ON p.pid OPERATOR(pg_catalog.=) a.pid
     WHERE a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
       AND (p.relid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass
            OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND NOT i.indisvalid
                         AND ${lockedByBuilder('i.indexrelid', 'a.pid')}))
     ORDER BY a.query_start NULLS LAST, a.pid`;

/**
 * `$1` the quoted table: the INVALID indexes a failed `REINDEX … CONCURRENTLY`
 * left (never those another session's rebuild is building right now), named `<index>_ccnew[N]` or `<index>_ccold[N]` after an index of the
 * same table, so an index someone else made is never taken for one. When
 * that would pass the identifier limit, PostgreSQL cuts `<index>` short to
 * make room: a leftover of exactly that length may name a prefix of one.
 */
export const rebuildLeftovers = `SELECT ic.relname::pg_catalog.text AS name
     FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
     CROSS JOIN LATERAL (SELECT pg_catalog.regexp_match(ic.relname::pg_catalog.text, '^(.+)_cc(new|old)[0-9]*$') AS m) x
     WHERE i.indrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND NOT i.indisvalid AND x.m IS NOT NULL AND ${notBeingBuilt('i.indexrelid')}
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_index b JOIN pg_catalog.pg_class bc ON bc.oid OPERATOR(pg_catalog.=) b.indexrelid
                   WHERE b.indrelid OPERATOR(pg_catalog.=) i.indrelid AND b.indexrelid OPERATOR(pg_catalog.<>) i.indexrelid
                     AND (bc.relname::pg_catalog.text OPERATOR(pg_catalog.=) x.m[1]
                          OR (pg_catalog.octet_length(ic.relname::pg_catalog.text) OPERATOR(pg_catalog.=) pg_catalog.current_setting('max_identifier_length')::int
                              AND pg_catalog.starts_with(bc.relname::pg_catalog.text, x.m[1]))))
     ORDER BY 1`;

/**
 * `$1` the quoted table: its INVALID indexes (a failed `CREATE INDEX
 * CONCURRENTLY`, or a rebuild's leftovers), except those another
 * session's `CREATE INDEX CONCURRENTLY` or `REINDEX … CONCURRENTLY` is
 * building right now.
 */
export const invalidIndexes = `SELECT ic.relname::pg_catalog.text AS name
     FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
     WHERE i.indrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND NOT i.indisvalid AND ${notBeingBuilt('i.indexrelid')}
     ORDER BY 1`;

/** `REINDEX TABLE CONCURRENTLY` skips INVALID indexes (with a mere WARNING): each one needs its own. */
export const reindexIndexConcurrently = (indexSql: string): string => `REINDEX INDEX CONCURRENTLY ${indexSql}`;

/**
 * The sizes of `tableSqls`, in their order, in one round trip. Sizing a
 * table waits for a lock on it, like any reader: under the statement's
 * `lock_timeout`, so a table held by DDL is `LOCK_TIMEOUT`. One dropped
 * meanwhile (by hand, during a dry run) is size 0, not an error.
 */
export const relationSizesWithin = (tableSqls: readonly string[], lockTimeoutMs: number): string =>
  `${setLocalLockTimeout(lockTimeoutMs)}; SELECT COALESCE(${sizeOf('pg_catalog.to_regclass(t)::pg_catalog.oid')}, 0)::pg_catalog.text AS s
     FROM pg_catalog.unnest(ARRAY[${tableSqls.map(quoteLiteral).join(', ')}]::pg_catalog.text[]) WITH ORDINALITY AS u(t, i) ORDER BY i`;

// ---- rows -----------------------------------------------------------------

/**
 * Writers pause, readers continue: no new row can land in the default
 * partition meanwhile. The parent `ONLY` (every write through it takes ROW
 * EXCLUSIVE there) and the default itself (writes straight into it): a plain
 * `LOCK TABLE parent` would lock every partition too, and wait for a VACUUM
 * of an old month the move never touches.
 */
export const lockParentForMove = (parentSql: string, defaultSql: string): string =>
  `LOCK TABLE ONLY ${parentSql}, ${defaultSql} IN SHARE ROW EXCLUSIVE MODE`;

export const anyRowIn = (tableSql: string, where: string): string => `SELECT EXISTS (SELECT 1 FROM ${tableSql} WHERE ${where}) AS stuck`;

/**
 * `$1` the quoted table: the foreign keys that reference it (named as on
 * the parent, for the copies PostgreSQL makes per partition), with the
 * referencing table (quoted as `regclass` prints it), its ON DELETE action
 * and the quoted key columns on both sides.
 */
export const keysReferencing = `SELECT coalesce((SELECT p.conname::pg_catalog.text FROM pg_catalog.pg_constraint p WHERE p.oid OPERATOR(pg_catalog.=) c.conparentid), c.conname::pg_catalog.text) AS name,
        c.conrelid::pg_catalog.regclass::pg_catalog.text AS referencing,
        c.confdeltype::pg_catalog.text AS on_delete,
        ARRAY(SELECT pg_catalog.quote_ident(a.attname) FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY AS k(n, i)
              JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.conrelid AND a.attnum OPERATOR(pg_catalog.=) k.n ORDER BY k.i) AS cols,
        ARRAY(SELECT pg_catalog.quote_ident(a.attname) FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY AS k(n, i)
              JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.confrelid AND a.attnum OPERATOR(pg_catalog.=) k.n ORDER BY k.i) AS refcols
     FROM pg_catalog.pg_constraint c WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass`;

/**
 * `$1` the quoted parent: whether a foreign key references it. PostgreSQL
 * then refuses `DROP TABLE` of every one of its partitions (the key depends
 * on each), while a detach checks the referencing rows and lets a partition
 * no row references go.
 */
export const foreignKeyReferences = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
     WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass) AS referenced`;

/** `$1` the quoted table: its user triggers (not those of foreign keys) that are not disabled, with how each is enabled. */
export const userTriggers = `SELECT t.tgname::pg_catalog.text AS name, t.tgenabled::pg_catalog.text AS enabled FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND NOT t.tgisinternal AND t.tgenabled OPERATOR(pg_catalog.<>) 'D' ORDER BY 1`;

/** `ALTER TABLE … DISABLE TRIGGER`, or ENABLE it again as `pg_trigger.tgenabled` says it was (`O`, `A`lways or `R`eplica). */
export const setTrigger = (tableSql: string, name: string, enabled: string): string => {
  const how = enabled === 'D' ? 'DISABLE' : enabled === 'A' ? 'ENABLE ALWAYS' : enabled === 'R' ? 'ENABLE REPLICA' : 'ENABLE';
  return `ALTER TABLE ${tableSql} ${how} TRIGGER ${quoteIdent(name)}`;
};

/** Whether a row of `referencingSql` points (`cols` → `refcols`) at a row of `tableSql` matching `where`. */
export const anyRowReferenced = (
  referencingSql: string,
  cols: readonly string[],
  tableSql: string,
  refcols: readonly string[],
  where: string,
): string =>
  `SELECT EXISTS (SELECT 1 FROM ${referencingSql} r WHERE (${cols.map((c) => `r.${c}`).join(', ')}) OPERATOR(pg_catalog.=) ANY (SELECT ${refcols.join(', ')} FROM ${tableSql} WHERE ${where})) AS hit`;

/** The rows of a range: `from` inclusive, `to` exclusive. */
export const inRange = (columnSql: string, from: string, to: string): string =>
  `${columnSql} OPERATOR(pg_catalog.>=) ${from} AND ${columnSql} OPERATOR(pg_catalog.<) ${to}`;

/** The first row (its key columns as `k0`, `k1`…, and the partition column as `v`) that is outside `where`. */
export const firstRowOutside = (tableSql: string, keySql: readonly string[], columnSql: string, where: string): string =>
  `SELECT ${keySql.map((k, i) => `${k}::pg_catalog.text AS k${i}`).join(', ')}, ${columnSql}::pg_catalog.text AS v FROM ${tableSql} WHERE NOT (${columnSql} IS NOT NULL AND ${where}) LIMIT 1`;

/** One statement, so no row is ever in both tables or in neither. */
export const moveRows = (fromSql: string, toSql: string, columns: string, where: string): string =>
  `WITH moved AS (DELETE FROM ${fromSql} WHERE ${where} RETURNING ${columns})
     INSERT INTO ${toSql} (${columns}) OVERRIDING SYSTEM VALUE SELECT ${columns} FROM moved`;

// ---- partitions -----------------------------------------------------------

/**
 * Where PostgreSQL puts a partition the parent did not place itself: its
 * tablespace and table access method, when the parent sets them; and the
 * parent's replica identity, which PostgreSQL never gives a partition.
 */
export interface ParentStorage {
  readonly tablespace: string | null;
  readonly am: string | null;
  /** The parent's `relreplident`: `d` default, `n` nothing, `f` full, `i` an index. */
  readonly replicaIdentity: string;
  /** For `i`, that index of the parent, quoted. */
  readonly replicaIndex: string | null;
}

/**
 * `$1` the quoted parent: the tablespace and the table access method
 * (PostgreSQL 17 and later) it sets for its partitions, each `null` when it
 * sets none (new tables then follow `default_tablespace` and
 * `default_table_access_method`, as partitions do), and its replica identity.
 */
export const parentStorage = `SELECT t.spcname::pg_catalog.text AS tablespace, am.amname::pg_catalog.text AS am,
        c.relreplident::pg_catalog.text AS "replicaIdentity",
        (SELECT pg_catalog.concat(pg_catalog.quote_ident(n.nspname::pg_catalog.text), '.', pg_catalog.quote_ident(ic.relname::pg_catalog.text))
           FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) x.indexrelid
           JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) ic.relnamespace
           WHERE x.indrelid OPERATOR(pg_catalog.=) c.oid AND x.indisreplident) AS "replicaIndex"
     FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_tablespace t ON t.oid OPERATOR(pg_catalog.=) c.reltablespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid OPERATOR(pg_catalog.=) c.relam
     WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass`;

/** One grant of the parent's ACL: quoted grantee (or `PUBLIC`), the privileges as PostgreSQL names them, and whether with grant option. */
export interface ParentGrant {
  readonly grantee: string;
  readonly privileges: string;
  readonly grantable: boolean;
}

/** The parent's owner and table privileges, and what a new table made by this role starts with instead. */
export interface ParentAccess {
  /** The parent's owner, quoted. */
  readonly owner: string;
  /** This role (`CURRENT_USER`), quoted. */
  readonly me: string;
  /** This role owns the parent: a table it makes already has the parent's owner. */
  readonly owned: boolean;
  /** This role may hand a new table to the parent's owner (a superuser; or a member that may SET ROLE to it, whose owner may create in the schema). */
  readonly canOwn: boolean;
  /** The parent has the default privileges of its owner (`relacl` is NULL). */
  readonly defaultAcl: boolean;
  /**
   * The parent has row-level security on: its policies apply to reads
   * through it, never to a partition read directly, so no role but the
   * owner gets the parent's privileges on a partition.
   */
  readonly rowSecurity: boolean;
  /** The grantees (quoted, or `PUBLIC`) of this role's `ALTER DEFAULT PRIVILEGES` for tables in the schema: what a new table gets. */
  readonly defaults: readonly string[];
  /** The parent's privileges, by grantee (the owner's own included, as `acldefault` gives them when `relacl` is NULL). */
  readonly grants: readonly ParentGrant[];
  /** The parent's column privileges, each `privileges` one privilege with its quoted columns (`SELECT ("a", "b")`). */
  readonly columnGrants: readonly ParentGrant[];
}

/** `$1` the quoted parent: its owner, this role, and what decides the privileges of a table this role makes in its schema. */
export const parentAccess = `SELECT pg_catalog.quote_ident(o.rolname::pg_catalog.text) AS owner, pg_catalog.quote_ident(CURRENT_USER::pg_catalog.text) AS me,
        o.rolname OPERATOR(pg_catalog.=) CURRENT_USER AS owned,
        -- ALTER … OWNER TO takes a superuser, or a member of the new owner (one that may SET ROLE to it from
        -- PostgreSQL 16 on, where a membership may lack that) whose owner may create in the schema.
        coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), false)
          OR (pg_catalog.has_schema_privilege(c.relowner, c.relnamespace, 'CREATE')
              AND pg_catalog.pg_has_role(CURRENT_USER, c.relowner,
                    CASE WHEN pg_catalog.current_setting('server_version_num')::int OPERATOR(pg_catalog.>=) 160000 THEN 'SET' ELSE 'MEMBER' END)) AS "canOwn",
        c.relacl IS NULL AS "defaultAcl", c.relrowsecurity AS "rowSecurity",
        ARRAY(SELECT DISTINCT CASE WHEN e.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                                   ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(e.grantee)::pg_catalog.text) END
              FROM pg_catalog.pg_default_acl d CROSS JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) e
              WHERE d.defaclrole OPERATOR(pg_catalog.=) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)
                AND d.defaclobjtype OPERATOR(pg_catalog.=) 'r'::pg_catalog.char
                AND d.defaclnamespace OPERATOR(pg_catalog.=) ANY (ARRAY[0::pg_catalog.oid, c.relnamespace])
              ORDER BY 1) AS defaults,
        -- In the order of the parent's ACL, so the partition's reads the same.
        (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('grantee', g.grantee, 'privileges', g.privileges, 'grantable', g.grantable) ORDER BY g.n), '[]'::pg_catalog.json) FROM (
           SELECT CASE WHEN e.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(e.grantee)::pg_catalog.text) END AS grantee,
                  pg_catalog.string_agg(DISTINCT e.privilege_type, ', ' ORDER BY e.privilege_type) AS privileges, e.is_grantable AS grantable,
                  pg_catalog.min(e.n) AS n
           FROM pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r'::pg_catalog.char, c.relowner))) WITH ORDINALITY
                AS e(grantor, grantee, privilege_type, is_grantable, n)
           GROUP BY 1, 3) g)::pg_catalog.text AS grants,
        -- Column privileges (GRANT SELECT (col) ON parent): one privilege with its columns, in the columns' order.
        (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_object('grantee', g.grantee, 'privileges', g.privileges, 'grantable', g.grantable)
                                             ORDER BY g.grantee, g.privileges), '[]'::pg_catalog.json) FROM (
           SELECT CASE WHEN e.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                       ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(e.grantee)::pg_catalog.text) END AS grantee,
                  pg_catalog.concat(e.privilege_type, ' (',
                    pg_catalog.string_agg(DISTINCT pg_catalog.quote_ident(a.attname::pg_catalog.text), ', ' ORDER BY pg_catalog.quote_ident(a.attname::pg_catalog.text)), ')') AS privileges,
                  e.is_grantable AS grantable
           FROM pg_catalog.pg_attribute a CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) e
           WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND a.attacl IS NOT NULL
           GROUP BY 1, e.privilege_type, 3) g)::pg_catalog.text AS "columnGrants"
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) c.relowner
     WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass`;

/** A role's quoted name, `PUBLIC` for grantee 0, from an `aclexplode` row `e`. */
const granteeName = `CASE WHEN e.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                         ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(e.grantee)::pg_catalog.text) END`;

/**
 * `$1` the quoted parent, `$2` names of its partitions: each one whose
 * privileges differ from what `ensure` gives a new partition (the parent's,
 * its owner's alone under row-level security), with `missing` the grantees
 * (quoted, or `PUBLIC`) lacking a table privilege it would give them, and
 * `extra` those holding one, on the table or a column, it would not (the
 * partition's owner aside), whether the parent has row-level security,
 * and `owner`, quoted, when the partition's owner is not the parent's
 * (`parentOwner`): a new owner takes the old one's privileges over, so the
 * parent's owner is then not counted as missing any.
 */
export const privilegeDrift = `WITH parent AS (
       SELECT c.oid, c.relowner, c.relrowsecurity AS rls, coalesce(c.relacl, pg_catalog.acldefault('r'::pg_catalog.char, c.relowner)) AS acl
       FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass),
     -- What a new partition gets: grantee, privilege, column (0 for the table).
     given AS (
       SELECT e.grantee, e.privilege_type, 0::pg_catalog.int2 AS attnum FROM parent CROSS JOIN LATERAL pg_catalog.aclexplode(parent.acl) e
       UNION SELECT e.grantee, e.privilege_type, a.attnum FROM parent
         JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) parent.oid AND a.attacl IS NOT NULL AND NOT a.attisdropped
         CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) e),
     expected AS (SELECT g.* FROM given g, parent WHERE NOT parent.rls OR g.grantee OPERATOR(pg_catalog.=) parent.relowner),
     part AS (
       SELECT pc.oid, pc.relname::pg_catalog.text AS name, pc.relowner,
              coalesce(pc.relacl, pg_catalog.acldefault('r'::pg_catalog.char, pc.relowner)) AS acl
       FROM parent JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) parent.oid
       JOIN pg_catalog.pg_class pc ON pc.oid OPERATOR(pg_catalog.=) i.inhrelid
       WHERE pc.relname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.text[])),
     -- What each partition has; its columns matched to the parent's by name.
     has AS (
       SELECT part.oid, e.grantee, e.privilege_type, 0::pg_catalog.int2 AS attnum FROM part CROSS JOIN LATERAL pg_catalog.aclexplode(part.acl) e
       UNION SELECT part.oid, e.grantee, e.privilege_type, pa.attnum FROM part, parent
         JOIN pg_catalog.pg_attribute a ON a.attacl IS NOT NULL AND NOT a.attisdropped
         CROSS JOIN LATERAL pg_catalog.aclexplode(a.attacl) e
         JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) parent.oid AND pa.attname OPERATOR(pg_catalog.=) a.attname
         WHERE a.attrelid OPERATOR(pg_catalog.=) part.oid),
     drift AS (
       SELECT part.name, parent.rls,
         CASE WHEN part.relowner OPERATOR(pg_catalog.<>) parent.relowner
              THEN pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(part.relowner)::pg_catalog.text) END AS owner,
         pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(parent.relowner)::pg_catalog.text) AS "parentOwner",
         ARRAY(SELECT DISTINCT ${granteeName} FROM expected e
               WHERE e.attnum OPERATOR(pg_catalog.=) 0
                 AND NOT (e.grantee OPERATOR(pg_catalog.=) parent.relowner AND part.relowner OPERATOR(pg_catalog.<>) parent.relowner)
                 AND NOT EXISTS (SELECT 1 FROM has h
                 WHERE h.oid OPERATOR(pg_catalog.=) part.oid AND h.attnum OPERATOR(pg_catalog.=) 0
                   AND h.grantee OPERATOR(pg_catalog.=) e.grantee AND h.privilege_type OPERATOR(pg_catalog.=) e.privilege_type)
               ORDER BY 1) AS missing,
         ARRAY(SELECT DISTINCT ${granteeName} FROM has e
               WHERE e.oid OPERATOR(pg_catalog.=) part.oid AND e.grantee OPERATOR(pg_catalog.<>) part.relowner
                 AND NOT EXISTS (SELECT 1 FROM expected x WHERE x.grantee OPERATOR(pg_catalog.=) e.grantee
                   AND x.privilege_type OPERATOR(pg_catalog.=) e.privilege_type
                   AND (x.attnum OPERATOR(pg_catalog.=) e.attnum OR x.attnum OPERATOR(pg_catalog.=) 0))
               ORDER BY 1) AS extra
       FROM parent, part)
     SELECT name, rls, owner, "parentOwner", missing, extra FROM drift
     WHERE owner IS NOT NULL OR pg_catalog.cardinality(missing) OPERATOR(pg_catalog.>) 0 OR pg_catalog.cardinality(extra) OPERATOR(pg_catalog.>) 0
     ORDER BY name`;

/**
 * What gives a new partition the parent's owner and table and column
 * privileges, exactly, in the transaction that makes it (as PostgreSQL never does for
 * a partition): the owner first, then every privilege the new table got
 * (its creator's, PUBLIC's, this role's default privileges') revoked and
 * the parent's granted, by the owner. Nothing when the new table already
 * matches (this role owns the parent, which has and gets the default
 * privileges). When the owner may not own a table in the schema, the
 * table stays this role's, keeping its own privileges, with the parent's
 * granted too. A parent under row-level security gives its partitions
 * its owner's privileges only: its policies do not apply to a partition
 * read directly, so any other grant there would bypass them.
 */
export function copyAccess(childSql: string, access: ParentAccess): string[] {
  const handOver = !access.owned && access.canOwn;
  const out = handOver ? [`ALTER TABLE ${childSql} OWNER TO ${access.owner}`] : [];
  const grant = (g: ParentGrant): string =>
    `GRANT ${g.privileges} ON TABLE ${childSql} TO ${g.grantee}${g.grantable ? ' WITH GRANT OPTION' : ''}`;
  // Under row-level security, a grant on a partition would let its grantee read past the parent's policies.
  const granted = (g: ParentGrant): boolean => !access.rowSecurity || g.grantee === access.owner;
  // A new table has no column privileges: the parent's are only granted.
  const columns = access.columnGrants.filter(granted).map(grant);
  if (access.defaultAcl && access.defaults.length === 0 && (access.owned || handOver)) return [...out, ...columns];
  const from = new Set(['PUBLIC', ...(access.owned || handOver ? [access.owner] : []), ...access.defaults]);
  if (!handOver && !access.owned) from.delete(access.me);
  return [...out, `REVOKE ALL ON TABLE ${childSql} FROM ${[...from].join(', ')}`, ...access.grants.filter(granted).map(grant), ...columns];
}

/**
 * A standalone table shaped as `CREATE TABLE … PARTITION OF` shapes a
 * partition: the parent's columns (types, collations, NOT NULL), defaults,
 * generation expressions, CHECK constraints, storage and compression, in
 * the parent's tablespace and access method. Takes ACCESS SHARE on the parent
 * only. Indexes, keys, foreign keys and row triggers are left to ATTACH,
 * which clones them from the parent as it does for `PARTITION OF`; identity
 * too, where PostgreSQL gives partitions the parent's identity (17 and
 * later), so the column never gets a sequence of its own.
 */
export const createLikeParent = (childSql: string, parentSql: string, storage: ParentStorage): string =>
  `CREATE TABLE ${childSql} (LIKE ${parentSql} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING GENERATED)` +
  `${storage.am === null ? '' : ` USING ${quoteIdent(storage.am)}`}${storage.tablespace === null ? '' : ` TABLESPACE ${quoteIdent(storage.tablespace)}`}`;

/** SHARE UPDATE EXCLUSIVE on the parent (readers and writers go on), ACCESS EXCLUSIVE on the table and on the default partition, if any. */
export const attachPartition = (parentSql: string, childSql: string, range: RangeSql): string =>
  `ALTER TABLE ${parentSql} ATTACH PARTITION ${childSql} FOR VALUES FROM (${range.from}) TO (${range.to})`;

/**
 * What gives a partition, once attached, the parent's replica identity,
 * which PostgreSQL never passes on: without it, a publication that
 * publishes updates refuses every UPDATE and DELETE of the partition's rows
 * (a parent with REPLICA IDENTITY FULL has no key to fall back on). FULL is
 * set as it is; USING INDEX names the partition's copy of the parent's
 * index, which only ATTACH makes, so its name is looked up in the same
 * transaction. DEFAULT needs nothing, and NOTHING is not copied: a partition
 * with a primary key would lose the identity its UPDATEs replicate with.
 */
export function copyReplicaIdentity(childSql: string, storage: ParentStorage): string[] {
  if (storage.replicaIdentity === 'f') return [`ALTER TABLE ${childSql} REPLICA IDENTITY FULL`];
  if (storage.replicaIdentity !== 'i' || storage.replicaIndex === null) return [];
  const body = `BEGIN EXECUTE pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY USING INDEX %I', ${quoteLiteral(childSql)},
    (SELECT ic.relname FROM pg_catalog.pg_inherits h
       JOIN pg_catalog.pg_index x ON x.indexrelid OPERATOR(pg_catalog.=) h.inhrelid
       JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) h.inhrelid
     WHERE h.inhparent OPERATOR(pg_catalog.=) ${quoteLiteral(storage.replicaIndex)}::pg_catalog.regclass
       AND x.indrelid OPERATOR(pg_catalog.=) ${quoteLiteral(childSql)}::pg_catalog.regclass)); END`;
  return [`DO ${quoteLiteral(body)}`];
}

export const detachPartition = (parentSql: string, childSql: string, how: '' | ' CONCURRENTLY' | ' FINALIZE'): string =>
  `ALTER TABLE ${parentSql} DETACH PARTITION ${childSql}${how}`;

export const dropTable = (tableSql: string): string => `DROP TABLE ${tableSql}`;

/** ACCESS EXCLUSIVE on the table and, for a partitioned one, its partitions: what DROP and DETACH take, taken before they lock the parent. */
export const lockExclusive = (tableSql: string): string => `LOCK TABLE ${tableSql} IN ACCESS EXCLUSIVE MODE`;

/**
 * The mark `retention` puts on a partition it detaches and then drops, so a
 * run stopped between the two (or whose DROP was refused) leaves a table the
 * next run knows it may drop. It is the whole comment of a table that had
 * none, else appended to the table's own comment after {@link MARK_SEPARATOR},
 * so that comment survives a DROP that PostgreSQL refuses.
 */
export const DETACHED_TO_DROP = 'backfill-kit retention: detached, to be dropped';

/** What stands between a table's own comment and the mark appended to it. */
export const MARK_SEPARATOR = '\n\n';

/** A table's comment with the drop mark appended (the mark alone when it had none); a marked one stays as it is. */
export function markedComment(note: string | null): string {
  if (note === null) return DETACHED_TO_DROP;
  return unmarkedComment(note) === note ? `${note}${MARK_SEPARATOR}${DETACHED_TO_DROP}` : note;
}

/** The table's own comment: `note` without the drop mark. */
export function unmarkedComment(note: string | null): string | null {
  if (note === DETACHED_TO_DROP) return null;
  const tail = `${MARK_SEPARATOR}${DETACHED_TO_DROP}`;
  return note?.endsWith(tail) ? note.slice(0, -tail.length) : note;
}

/**
 * `COMMENT ON TABLE`, `null` removing it. An escape string literal, so a
 * user's comment with backslashes is put back as it was even under
 * `standard_conforming_strings = off`.
 */
export const commentOnTable = (tableSql: string, comment: string | null): string =>
  `COMMENT ON TABLE ${tableSql} IS ${comment === null ? 'NULL' : `E${quoteLiteral(comment.replaceAll('\\', '\\\\'))}`}`;

/** `$1` the quoted table: its comment, if any. */
export const tableComment = "SELECT pg_catalog.obj_description($1::pg_catalog.regclass, 'pg_class') AS c";

/** `$1` the quoted table: whether it is a partition left detach pending. */
export const isDetachPending =
  'SELECT coalesce(pg_catalog.bool_or(i.inhdetachpending), false) AS pending FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass';

/**
 * `$1` schema, `$2` the mark, `$3` the separator: the tables of the schema
 * (partitioned ones too) that are no partition and carry it, alone or
 * appended. Not sized here: sizing waits for a lock on each, and one
 * retention does not drop must not hold it up.
 */
export const detachedToDrop = `SELECT c.relname::pg_catalog.text AS name, c.reltuples::pg_catalog.float8 AS estimated_rows
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
     CROSS JOIN LATERAL (SELECT pg_catalog.obj_description(c.oid, 'pg_class') AS note) d
     WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::pg_catalog.char[]) AND NOT c.relispartition
       AND (d.note OPERATOR(pg_catalog.=) $2 OR pg_catalog.right(d.note, pg_catalog.length(pg_catalog.concat($3::pg_catalog.text, $2::pg_catalog.text)))
                            OPERATOR(pg_catalog.=) pg_catalog.concat($3::pg_catalog.text, $2::pg_catalog.text))
     ORDER BY 1`;

/** The CHECK that lets ATTACH skip its validation scan. */
export const addBoundsCheck = (tableSql: string, checkName: string, columnSql: string, where: string): string =>
  `ALTER TABLE ${tableSql} ADD CONSTRAINT ${quoteIdent(checkName)} CHECK (${columnSql} IS NOT NULL AND ${where})`;

/**
 * The CHECK that keeps the rows of every range in `wheres` out of the
 * default partition: one scan of it, after which PostgreSQL sees each
 * ATTACH of those ranges implied and skips its own scan.
 */
export const addRangesExcluded = (tableSql: string, checkName: string, wheres: readonly string[]): string =>
  `ALTER TABLE ${tableSql} ADD CONSTRAINT ${quoteIdent(checkName)} CHECK (${wheres.map((w) => `NOT (${w})`).join(' AND ')})`;

/** `$1` the quoted default partition: a plain table this role may alter, so it may take that CHECK. */
export const defaultTakesCheck = `SELECT c.relkind OPERATOR(pg_catalog.=) 'r' AND pg_catalog.pg_has_role(c.relowner, 'USAGE') AS ok
     FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass`;

export const dropBoundsCheck = (tableSql: string, checkName: string, ifExists: boolean): string =>
  `ALTER TABLE ${tableSql} DROP CONSTRAINT ${ifExists ? 'IF EXISTS ' : ''}${quoteIdent(checkName)}`;

// ---- upkeep ---------------------------------------------------------------

export const vacuum = (tableSql: string, analyze: boolean): string => `VACUUM ${analyze ? '(ANALYZE) ' : ''}${tableSql}`;

export const analyze = (tableSql: string): string => `ANALYZE ${tableSql}`;

export const reindex = (tableSql: string, concurrently: boolean): string =>
  `REINDEX TABLE ${concurrently ? 'CONCURRENTLY ' : ''}${tableSql}`;

/** PostgreSQL takes one index per `DROP INDEX CONCURRENTLY`. */
export const dropIndexConcurrently = (indexSql: string, ifExists: boolean): string =>
  `DROP INDEX CONCURRENTLY ${ifExists ? 'IF EXISTS ' : ''}${indexSql}`;

// ---- a new parent ---------------------------------------------------------

export const createSchema = (schema: string): string => `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`;

/** `definitions` are column definitions and table constraints, already quoted. */
export const createPartitionedTable = (parentSql: string, definitions: readonly string[], columnSql: string): string =>
  `CREATE TABLE ${parentSql} (${definitions.join(', ')}) PARTITION BY RANGE (${columnSql})`;

export const createIndex = (nameSql: string, parentSql: string, columnsSql: string, unique: boolean): string =>
  `CREATE ${unique ? 'UNIQUE ' : ''}INDEX ${nameSql} ON ${parentSql} (${columnsSql})`;

export const createDefaultPartition = (childSql: string, parentSql: string): string =>
  `CREATE TABLE ${childSql} PARTITION OF ${parentSql} DEFAULT`;
