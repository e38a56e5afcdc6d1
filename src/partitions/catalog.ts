/**
 * The one catalog query behind `list()`, and the naming rule that decides
 * which partitions the manager owns.
 *
 * @internal
 * @module
 */
import { BackfillError } from '../errors.js';
import type { PgClientLike, PgQueryResult } from '../_internals/pg.js';
import { quoteIdent, quoteLiteral, type QualifiedName } from '../_internals/sql-identifier.js';
import { addIntervals, parsePartitionSuffix, type PartitionColumnType, type PartitionInterval } from './interval.js';
import type { PartitionInfo } from './types.js';

/** What the manager needs to know about the parent, read in the same query as its partitions. */
export interface Snapshot {
  readonly keyType: PartitionColumnType;
  readonly partitions: readonly PartitionInfo[];
  readonly defaultPartition: PartitionInfo | undefined;
}

interface Row {
  parent_kind: string;
  strategy: string | null;
  key_count: number | null;
  key_column: string | null;
  key_type: string | null;
  schema: string | null;
  name: string | null;
  bound: string | null;
  from_epoch: number | null;
  to_epoch: number | null;
  estimated_rows: number | null;
  size_bytes: string | null;
  detach_pending: boolean | null;
}

// Bounds are converted to epochs server-side by casting the printed bound
// back to the key's own type, so neither TimeZone nor DateStyle can skew them.
const epochOf = (i: 1 | 2): string => `CASE p.key_type
      WHEN 'date' THEN extract(epoch FROM b.m[${i}]::date)
      WHEN 'timestamp' THEN extract(epoch FROM b.m[${i}]::timestamp)
      WHEN 'timestamptz' THEN extract(epoch FROM b.m[${i}]::timestamptz) END::float8`;

// Pinned for this statement only (SET LOCAL in the same implicit transaction),
// so the printed bounds are ISO with numeric offsets: under DateStyle SQL a
// zone prints as an abbreviation ("IST") that reads back as another zone.
// lock_timeout too: sizing a partition needs a lock that a running DDL may hold.
const pins = (lockTimeoutMs: number): string =>
  `SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, MDY'; SET LOCAL lock_timeout = '${lockTimeoutMs}ms'`;

const listSql = (parent: QualifiedName, lockTimeoutMs: number): string => `${pins(lockTimeoutMs)};
WITH p AS (
  SELECT c.oid, c.relkind::text AS parent_kind, pt.partstrat::text AS strategy, pt.partnatts::int AS key_count,
         a.attname::text AS key_column, t.typname::text AS key_type
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = c.oid
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]
  LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  WHERE n.nspname = ${quoteLiteral(parent.schema)} AND c.relname = ${quoteLiteral(parent.name)}
)
SELECT p.parent_kind, p.strategy, p.key_count, p.key_column, p.key_type,
       k.schema, k.name, k.bound, k.from_epoch, k.to_epoch, k.estimated_rows, k.size_bytes, k.detach_pending
FROM p
LEFT JOIN LATERAL (
  SELECT cn.nspname::text AS schema, cc.relname::text AS name, b.bound,
    ${epochOf(1)} AS from_epoch,
    ${epochOf(2)} AS to_epoch,
    cc.reltuples::float8 AS estimated_rows,
    pg_catalog.pg_total_relation_size(cc.oid)::text AS size_bytes,
    i.inhdetachpending AS detach_pending
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class cc ON cc.oid = i.inhrelid
  JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace
  CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_expr(cc.relpartbound, cc.oid) AS bound) b0
  CROSS JOIN LATERAL (
    SELECT b0.bound, regexp_match(b0.bound, '^FOR VALUES FROM \\(''([^'']*)''\\) TO \\(''([^'']*)''\\)$') AS m
  ) b
  WHERE i.inhparent = p.oid
) k ON true
ORDER BY k.from_epoch NULLS LAST, k.name`;

const KEY_TYPES: readonly string[] = ['date', 'timestamp', 'timestamptz'];

/** Decides whether one partition follows the naming rule, and why not. */
function judge(
  parent: QualifiedName,
  interval: PartitionInterval,
  schema: string,
  name: string,
  from: Date | null,
  to: Date | null,
): string | undefined {
  if (schema !== parent.schema) return `it lives in schema ${schema}, not ${parent.schema}`;
  const start = name.startsWith(parent.name) ? parsePartitionSuffix(name.slice(parent.name.length), interval) : undefined;
  if (start === undefined)
    return `its name does not follow ${parent.name}${interval === 'week' ? '_YYYY_Www' : interval === 'day' ? '_YYYY_MM_DD' : interval === 'year' ? '_YYYY' : '_YYYY_MM'}`;
  const end = addIntervals(start, interval, 1);
  if (from?.getTime() !== start.getTime() || to?.getTime() !== end.getTime()) {
    return `its bounds are not [${start.toISOString()}, ${end.toISOString()}) as its name says`;
  }
  return undefined;
}

const toDate = (epoch: number | null): Date | null => (epoch === null || !Number.isFinite(epoch) ? null : new Date(epoch * 1000));

/**
 * Reads the parent and all its partitions in one round trip, and checks that
 * the parent is range-partitioned on `column` of a supported type.
 */
export async function readSnapshot(
  client: PgClientLike,
  parent: QualifiedName,
  column: string,
  interval: PartitionInterval,
  lockTimeoutMs: number,
): Promise<Snapshot> {
  // One round trip: the pins and the query go as one simple-protocol string.
  const results = (await client.query(listSql(parent, lockTimeoutMs))) as PgQueryResult<Row>[];
  const rows = results[results.length - 1]?.rows ?? [];
  const head = rows[0];
  const context = { table: `${parent.schema}.${parent.name}` };
  if (head === undefined)
    throw new BackfillError('TABLE_NOT_FOUND', `${context.table} does not exist. Create it (createParent) or check the name.`, { context });
  if (head.parent_kind !== 'p' || head.strategy !== 'r' || head.key_count !== 1 || head.key_column !== column) {
    const what = head.parent_kind !== 'p' ? 'is not a partitioned table' : `is not range-partitioned on the single column ${column}`;
    throw new BackfillError('TABLE_NOT_PARTITIONED', `${context.table} ${what}.`, { context });
  }
  if (!KEY_TYPES.includes(head.key_type ?? '')) {
    throw new BackfillError(
      'TABLE_NOT_PARTITIONED',
      `${context.table}: partition key ${column} has type ${head.key_type}; use date, timestamp or timestamptz.`,
      { context },
    );
  }
  const partitions: PartitionInfo[] = [];
  for (const r of rows) {
    if (r.name === null || r.schema === null) continue;
    const from = toDate(r.from_epoch);
    const to = toDate(r.to_epoch);
    const isDefault = r.bound === 'DEFAULT';
    const reason = isDefault ? 'it is the default partition' : judge(parent, interval, r.schema, r.name, from, to);
    partitions.push({
      schema: r.schema,
      name: r.name,
      sql: `${quoteIdent(r.schema)}.${quoteIdent(r.name)}`,
      from,
      to,
      bound: r.bound ?? '',
      isDefault,
      managed: reason === undefined,
      ...(reason === undefined ? {} : { reason }),
      estimatedRows: r.estimated_rows === null || r.estimated_rows < 0 ? null : r.estimated_rows,
      sizeBytes: Number(r.size_bytes ?? 0),
      detachPending: r.detach_pending === true,
    });
  }
  return { keyType: head.key_type as PartitionColumnType, partitions, defaultPartition: partitions.find((p) => p.isDefault) };
}
