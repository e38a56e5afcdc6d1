/**
 * The one catalog query behind `list()`, and the naming rule that decides
 * which partitions the manager owns.
 *
 * @internal
 * @module
 */
import { BackfillError } from '../errors.js';
import type { PgClientLike, PgQueryResult } from '../_internals/pg.js';
import type { QualifiedName } from '../_internals/sql-identifier.js';
import { addIntervals, parsePartitionSuffix, type PartitionColumnType, type PartitionInterval } from './interval.js';
import * as sql from './sql.js';
import type { PartitionInfo, PartitionSlot } from './types.js';

/** What the manager needs to know about the parent, read in the same query as its partitions. */
export interface Snapshot {
  readonly keyType: PartitionColumnType;
  readonly partitions: readonly PartitionInfo[];
  readonly defaultPartition: PartitionInfo | undefined;
  /** The range of every partition but the default one. */
  readonly spans: readonly PartitionSpan[];
}

/**
 * A partition's range in epoch milliseconds, `from` inclusive, `to`
 * exclusive: -Infinity for MINVALUE or '-infinity', Infinity for MAXVALUE or
 * 'infinity', which `PartitionInfo` (a `Date`) can only show as `null`.
 */
export interface PartitionSpan {
  readonly partition: PartitionInfo;
  readonly from: number;
  readonly to: number;
}

/** True when the span holds all of the slot. */
export const covers = (span: PartitionSpan, slot: PartitionSlot): boolean =>
  span.from <= slot.from.getTime() && span.to >= slot.to.getTime();

/** True when the span holds some of the slot. */
export const overlaps = (span: PartitionSpan, slot: PartitionSlot): boolean =>
  span.from < slot.to.getTime() && span.to > slot.from.getTime();

interface Row {
  parent_kind: string;
  strategy: string | null;
  key_count: number | null;
  key_column: string | null;
  key_type: string | null;
  partition_of: string | null;
  schema: string | null;
  name: string | null;
  /** The partition's `relkind`: `r` a table, `p` a partitioned table, `f` a foreign table. */
  kind: string | null;
  bound: string | null;
  from_epoch: number | null;
  to_epoch: number | null;
  estimated_rows: number | null;
  size_bytes: string | null;
  detach_pending: boolean | null;
}

const KEY_TYPES: readonly string[] = ['date', 'timestamp', 'timestamptz'];

/** How each interval's name suffix is written, for messages. */
const SUFFIX_PATTERN: Readonly<Record<PartitionInterval, string>> = {
  day: '_YYYY_MM_DD',
  week: '_YYYY_Www',
  month: '_YYYY_MM',
  year: '_YYYY',
};

/**
 * Decides whether one partition follows the naming rule, and why not. A
 * foreign table never does, whatever its name: ensure makes none, and
 * DROP TABLE refuses one, so retention would fail on it every run.
 */
function judge(
  parent: QualifiedName,
  interval: PartitionInterval,
  row: Pick<Row, 'kind'> & {
    readonly schema: string;
    readonly name: string;
    readonly from_epoch: number | null;
    readonly to_epoch: number | null;
  },
): string | undefined {
  const { schema, name, from_epoch: fromEpoch, to_epoch: toEpoch } = row;
  if (row.kind === 'f') return 'it is a foreign table, which ensure never makes (retention leaves it to you)';
  if (schema !== parent.schema) return `it lives in schema ${schema}, not ${parent.schema}`;
  const start = name.startsWith(parent.name) ? parsePartitionSuffix(name.slice(parent.name.length), interval) : undefined;
  if (start === undefined) return `its name does not follow ${parent.name}${SUFFIX_PATTERN[interval]}`;
  const end = addIntervals(start, interval, 1);
  // Compared in the epoch's own precision: a Date keeps whole milliseconds, a bound may be off by a microsecond.
  if (fromEpoch === null || toEpoch === null || fromEpoch * 1000 !== start.getTime() || toEpoch * 1000 !== end.getTime()) {
    return `its bounds are not [${start.toISOString()}, ${end.toISOString()}) as its name says`;
  }
  return undefined;
}

/** Why a table name that differs from an existing one only by case is not taken for it. */
export const CASE_SENSITIVE = 'Names are case-sensitive here (they are quoted), while PostgreSQL folds unquoted names to lower case.';

/** The existing table PostgreSQL would mean by `parent` unquoted (`Scanner.Artifact_Boms` → `scanner.artifact_boms`), if it differs. */
export async function caseTwin(client: PgClientLike, parent: QualifiedName): Promise<string | undefined> {
  const { rows } = (await client.query(sql.caseFoldedTable, [parent.schema, parent.name])) as PgQueryResult<{ folded: string }>;
  return rows[0]?.folded;
}

/**
 * `TABLE_NOT_FOUND`, naming the table that was likely meant: the one
 * PostgreSQL would mean unquoted, or a partitioned table of that name in
 * another schema (a name given without its schema is in `public`).
 */
async function notFound(client: PgClientLike, parent: QualifiedName): Promise<BackfillError> {
  const table = `${parent.schema}.${parent.name}`;
  const twin = await caseTwin(client, parent);
  let hint = twin === undefined ? undefined : `${twin} does: did you mean it? ${CASE_SENSITIVE}`;
  if (hint === undefined) {
    const { rows } = (await client.query(sql.partitionedNamedElsewhere, [parent.schema, parent.name])) as PgQueryResult<{
      qualified: string;
    }>;
    const others = rows.map((r) => r.qualified);
    if (others.length > 0)
      hint = `${others.join(', ')} ${others.length === 1 ? 'does' : 'do'}: name its schema${parent.schema === 'public' ? ' (a table named without one is in public)' : ''}.`;
  }
  return new BackfillError('TABLE_NOT_FOUND', `${table} does not exist. ${hint ?? 'Create it (createParent) or check the name.'}`, {
    context: { table },
  });
}

const STRATEGIES: Readonly<Record<string, string>> = { l: 'list', h: 'hash' };

/** Why the manager cannot manage this table, saying what it is instead. */
function notManaged(head: Row, column: string): string {
  if (head.partition_of !== null)
    return `is a partition of ${head.partition_of}, not a partitioned table: name its parent, ${head.partition_of}.`;
  if (head.parent_kind !== 'p') return 'is not a partitioned table.';
  if (head.strategy !== 'r')
    return `is partitioned by ${STRATEGIES[head.strategy ?? ''] ?? head.strategy}, not by range: only range partitions on one date or time column are managed.`;
  if (head.key_count !== 1) return `is range-partitioned on ${head.key_count} columns; only a key of one column is managed.`;
  if (head.key_column === null) return `is range-partitioned on an expression, not on the column ${column}.`;
  return `is range-partitioned on ${head.key_column}, not on ${column}: name ${head.key_column} as its column.`;
}

const toDate = (epoch: number | null): Date | null => (epoch === null || !Number.isFinite(epoch) ? null : new Date(epoch * 1000));

/**
 * Reads the parent and all its partitions in one round trip, and checks that
 * the parent is range-partitioned on `column` of a supported type. Sizing a
 * partition waits for any lock DDL holds on it (a REINDEX, VACUUM FULL or
 * CLUSTER of an old month), so only `list` asks for sizes (`sizes: true`):
 * the others leave `sizeBytes` 0 and are not held up by a partition they do
 * not touch.
 */
export async function readSnapshot(
  client: PgClientLike,
  parent: QualifiedName,
  column: string,
  interval: PartitionInterval,
  lockTimeoutMs: number,
  sizes = false,
): Promise<Snapshot> {
  // One round trip: the pins and the query go as one simple-protocol string.
  const results = (await client.query(sql.listPartitions(parent, lockTimeoutMs, sizes))) as PgQueryResult<Row>[];
  const rows = results[results.length - 1]?.rows ?? [];
  const head = rows[0];
  const context = { table: `${parent.schema}.${parent.name}` };
  if (head === undefined) throw await notFound(client, parent);
  if (head.parent_kind !== 'p' || head.strategy !== 'r' || head.key_count !== 1 || head.key_column !== column) {
    throw new BackfillError('TABLE_NOT_PARTITIONED', `${context.table} ${notManaged(head, column)}`, { context });
  }
  if (!KEY_TYPES.includes(head.key_type ?? '')) {
    throw new BackfillError(
      'TABLE_NOT_PARTITIONED',
      `${context.table}: partition key ${column} has type ${head.key_type}; use date, timestamp or timestamptz.`,
      { context },
    );
  }
  const partitions: PartitionInfo[] = [];
  const spans: PartitionSpan[] = [];
  for (const r of rows) {
    if (r.name === null || r.schema === null) continue;
    const from = toDate(r.from_epoch);
    const to = toDate(r.to_epoch);
    const isDefault = r.bound === 'DEFAULT';
    const reason = isDefault ? 'it is the default partition' : judge(parent, interval, { ...r, schema: r.schema, name: r.name });
    const partition: PartitionInfo = {
      schema: r.schema,
      name: r.name,
      sql: sql.qualified(r.schema, r.name),
      from,
      to,
      bound: r.bound ?? '',
      isDefault,
      managed: reason === undefined,
      ...(reason === undefined ? {} : { reason }),
      estimatedRows: r.estimated_rows === null || r.estimated_rows < 0 ? null : r.estimated_rows,
      sizeBytes: Number(r.size_bytes ?? 0),
      detachPending: r.detach_pending === true,
    };
    partitions.push(partition);
    if (r.from_epoch !== null && r.to_epoch !== null) spans.push({ partition, from: r.from_epoch * 1000, to: r.to_epoch * 1000 });
  }
  return { keyType: head.key_type as PartitionColumnType, partitions, defaultPartition: partitions.find((p) => p.isDefault), spans };
}
