/**
 * The statements `createParent` runs, built and checked before any is sent.
 *
 * @internal
 * @module
 */
import { err, ok, Result, safeTry } from 'neverthrow';
import { quoteIdent, validateIdentifier } from '../_internals/sql-identifier.js';
import { DEFAULT_PARTITION_SUFFIX } from './defaults.js';
import { invalid, type ManagerContext } from './options.js';
import { inParentSchema } from './slots.js';
import * as sql from './sql.js';
import type { ColumnSpec, CreateParentOptions, IndexSpec } from './types.js';
import type { BackfillError } from '../errors.js';

/** Plain SQL type names only: `text`, `timestamp with time zone`, `varchar(64)`, `numeric(10, 2)`, `text[]`. */
const SQL_TYPE = /^[A-Za-z_][A-Za-z0-9_]*( [A-Za-z_][A-Za-z0-9_]*)*( ?\(\d+( ?, ?\d+)?\))?(\[\])?$/;

type Checked<T> = Result<T, BackfillError<never>>;

function identifier(value: string, what: string): Checked<string> {
  return validateIdentifier(value, what)
    .map(quoteIdent)
    .mapErr((e) => e.withoutPartial());
}

function columnDefinition(c: ColumnSpec): Checked<string> {
  if (typeof c?.type !== 'string' || !SQL_TYPE.test(c.type))
    return err(invalid(`column ${String(c?.name)}: type ${JSON.stringify(c?.type)} is not a plain SQL type name.`));
  return identifier(c.name, 'column name').map((name) => `${name} ${c.type}${c.notNull ? ' NOT NULL' : ''}`);
}

/** The quoted, comma-separated list of `list`, each a column of the table. */
function knownColumns(list: readonly string[], names: ReadonlySet<string>, what: string): Checked<string> {
  if (list.length === 0) return err(invalid(`${what} needs at least one column.`));
  const unknown = list.find((n) => !names.has(n));
  if (unknown !== undefined) return err(invalid(`${what} names unknown column ${JSON.stringify(unknown)}.`));
  return ok(list.map((n) => quoteIdent(n)).join(', '));
}

function indexStatement(ctx: ManagerContext, idx: IndexSpec, names: ReadonlySet<string>): Checked<string> {
  return safeTry(function* () {
    const columns = yield* knownColumns(idx.columns ?? [], names, 'index');
    const name = yield* identifier(idx.name ?? `${ctx.parent.name}_${idx.columns.join('_')}_idx`, 'index name');
    return ok(sql.createIndex(name, ctx.parent.sql, columns, idx.unique === true));
  });
}

/**
 * `CREATE SCHEMA`, `CREATE TABLE … PARTITION BY RANGE` with the primary key,
 * the indexes and the default partition, or `INVALID_ARGUMENT` /
 * `INVALID_IDENTIFIER` for a column, type or key that is not safe to send.
 */
export function parentStatements(ctx: ManagerContext, options: CreateParentOptions): Checked<string[]> {
  return safeTry(function* () {
    const columns = options.columns ?? [];
    const definitions = yield* Result.combine(columns.map(columnDefinition));
    const names = new Set(columns.map((c) => c.name));
    if (!names.has(ctx.column)) return err(invalid(`columns must include the partition column ${ctx.column}.`));
    if (options.primaryKey) {
      if (!options.primaryKey.includes(ctx.column))
        return err(invalid(`primaryKey must include the partition column ${ctx.column} (a PostgreSQL rule for partitioned tables).`));
      definitions.push(`PRIMARY KEY (${yield* knownColumns(options.primaryKey, names, 'primaryKey')})`);
    }
    const indexes = yield* Result.combine((options.indexes ?? []).map((idx) => indexStatement(ctx, idx, names)));
    const defaultPartition = options.defaultPartition
      ? [sql.createDefaultPartition(inParentSchema(ctx, `${ctx.parent.name}${DEFAULT_PARTITION_SUFFIX}`), ctx.parent.sql)]
      : [];
    return ok([
      sql.createSchema(ctx.parent.schema),
      sql.createPartitionedTable(ctx.parent.sql, definitions, ctx.columnSql),
      ...indexes,
      ...defaultPartition,
    ]);
  });
}
