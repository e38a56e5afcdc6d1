/**
 * What each PostgreSQL store of this module is built from: a connection and
 * validated table names, resolved once by its constructor.
 *
 * @module
 */
import { err, ok, Result, ResultAsync } from 'neverthrow';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import { PgHandle, pgErrorToBackfill, type PgClientLike, type PgSource } from '../_internals/pg.js';
import { parseQualifiedName, type QualifiedName } from '../_internals/sql-identifier.js';

/** A store's resolved config: frozen, and built whole or not at all. */
export interface PgStore<Table extends string> {
  readonly pg: PgHandle;
  readonly tables: Readonly<Record<Table, QualifiedName>>;
}

function pgSource(value: unknown): Result<PgSource, BackfillError> {
  const usable =
    (typeof value === 'string' && value.length > 0) ||
    (typeof value === 'object' && value !== null && typeof (value as { query?: unknown }).query === 'function');
  return usable
    ? ok(value as PgSource)
    : err(new BackfillError('INVALID_ARGUMENT', 'pg must be a pg.Pool, a connected pg.Client or a connection string.'));
}

/**
 * Checks `pg` and every table name (`table` or `schema.table`) before it
 * opens anything, so an invalid config never creates a pool.
 */
export function resolvePgStore<Table extends string>(
  pg: PgSource,
  tables: Readonly<Record<Table, string>>,
): Result<Readonly<PgStore<Table>>, BackfillError> {
  const keys = Object.keys(tables) as Table[];
  return pgSource(pg).andThen((source) =>
    Result.combine(keys.map((key) => parseQualifiedName(tables[key]))).map((names) =>
      Object.freeze({
        pg: new PgHandle(source),
        tables: Object.freeze(Object.fromEntries(keys.map((key, i) => [key, names[i]])) as Record<Table, QualifiedName>),
      }),
    ),
  );
}

/**
 * Runs `work` on one connection of the store, or returns why the store's
 * config is invalid; a database failure becomes a BackfillError located by `where`.
 */
export function withStoreClient<Table extends string, T>(
  store: Result<Readonly<PgStore<Table>>, BackfillError>,
  where: (tables: PgStore<Table>['tables']) => BackfillErrorContext,
  work: (c: PgClientLike, tables: PgStore<Table>['tables']) => Promise<T>,
): ResultAsync<T, BackfillError> {
  return store.asyncAndThen(({ pg, tables }) =>
    ResultAsync.fromPromise(
      pg.withClient((c) => work(c, tables)),
      (e) => pgErrorToBackfill(e, where(tables)),
    ),
  );
}

/** A column's type as read from the catalog. */
export interface ColumnType {
  readonly name: string;
  /** As PostgreSQL shows it (a domain's base type). */
  readonly type: string;
  /** Its internal name when the type is PostgreSQL's own (`text`, `varchar`, `bpchar`). */
  readonly builtin: string | null;
  /** The column's collation when that is nondeterministic. */
  readonly nondeterministic: string | null;
}

/** PostgreSQL's types (internal names) of a digest column (a domain's base type) that compare as the text a cursor or a list of digests holds. */
const DIGEST_TYPES: ReadonlySet<string> = new Set(['text', 'varchar', 'bpchar']);

/**
 * Why the digest column `name` of `table` (read into `columns`) is refused:
 * missing (`why.missing` says what the table should hold and where it was
 * named: a user pointed the store at another table), of a type not text,
 * varchar or char (`citext` ignores case), or of a nondeterministic
 * collation (one that finds `A` and `a` equal). `why` says what would go
 * wrong with each, and `convertTo` the type the ALTER of the fix gives;
 * undefined when the column compares as text.
 */
export function digestColumnRefusal(
  table: QualifiedName,
  name: string,
  columns: readonly ColumnType[],
  why: { readonly missing: string; readonly type: string; readonly collation: string; readonly convertTo: string },
): BackfillError | undefined {
  const column = columns.find((found) => found.name === name);
  if (column === undefined) {
    return new BackfillError('INVALID_ARGUMENT', `${table.sql} has no column ${name}: ${why.missing}`, {
      context: { table: table.sql, column: name },
    });
  }
  const alter = `ALTER TABLE ${table.sql} ALTER COLUMN ${column.name} TYPE`;
  if (!DIGEST_TYPES.has(column.builtin ?? '')) {
    return new BackfillError(
      'INVALID_ARGUMENT',
      `${table.sql}: column ${column.name} is ${column.type}, not text or varchar: ${why.type} Convert it: ${alter} ${why.convertTo}`,
      { context: { table: table.sql, column: column.name, type: column.type } },
    );
  }
  const collation = column.nondeterministic;
  if (collation === null) return undefined;
  return new BackfillError(
    'INVALID_ARGUMENT',
    `${table.sql}: column ${column.name} has the nondeterministic collation ${collation}, under which digests that differ (only in case, say) compare equal: ${why.collation} Give the column a deterministic collation: ${alter} text COLLATE "C"`,
    { context: { table: table.sql, column: column.name, collation } },
  );
}
