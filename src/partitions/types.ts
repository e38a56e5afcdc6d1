/**
 * Public types of the PartitionManager: its config, each call's options and
 * each call's report.
 *
 * @module
 */
import type { Logger } from '../_internals/logger.js';
import type { PgSource } from '../_internals/pg.js';
import type { PartitionInterval } from './interval.js';

/**
 * How a {@link PartitionManager} finds and manages one partitioned table.
 *
 * @example
 * ```ts
 * const config: PartitionManagerConfig = { pg: pool, table: 'scanner.artifact_boms', column: 'inserted_at', interval: 'month' };
 * ```
 */
export interface PartitionManagerConfig {
  /** The caller's `pg.Pool` / `pg.Client`, or a connection string (the manager then owns a small pool; call `close()`). */
  readonly pg: PgSource;
  /** The partitioned parent, `schema.table` or `table` (schema `public`). */
  readonly table: string;
  /** The range partition key: a `date`, `timestamp` or `timestamptz` column. */
  readonly column: string;
  /**
   * Width of one partition.
   * @defaultValue `'month'`
   */
  readonly interval?: PartitionInterval;
  /**
   * The clock, injectable for tests and back-dated runs. An Invalid Date
   * (`new Date(process.env.NOW)` with `NOW` unset), given or returned, is
   * `INVALID_ARGUMENT`, before anything changes.
   * @defaultValue `() => new Date()`
   */
  readonly now?: Date | (() => Date);
  /**
   * Without `now`, `ensure` and `retention` plan from the host's clock:
   * before they plan (a dry run too), they compare that clock with the
   * database's and refuse with `CLOCK_SKEW`, changing nothing, when they
   * are further apart than this. A host clock a year fast would otherwise
   * drop a year of partitions still in the window, and make next year's
   * months instead of the coming one. A `now` you pass is taken as meant
   * (tests, back-dated runs) and not compared.
   * @defaultValue {@link DEFAULT_PARTITION_MAX_CLOCK_SKEW_MS} (5 minutes)
   */
  readonly maxClockSkewMs?: number;
  /**
   * `lock_timeout` for every DDL statement; a timeout returns `LOCK_TIMEOUT`.
   * @defaultValue {@link DEFAULT_PARTITION_LOCK_TIMEOUT_MS} (5 s)
   */
  readonly lockTimeoutMs?: number;
  /**
   * How long `ensure`/`retention`/`attach` wait for another run of the same table; a timeout returns `LOCKED`.
   * A shorter `statement_timeout` of the role or database does not cut this wait short.
   * @defaultValue {@link DEFAULT_PARTITION_ADVISORY_LOCK_TIMEOUT_MS} (60 s)
   */
  readonly advisoryLockTimeoutMs?: number;
  /** Where the manager logs what it changes. Silent when absent. */
  readonly logger?: Logger;
}

/**
 * One step of a long call, for `onProgress`.
 *
 * @example
 * ```ts
 * const onProgress = (p: PartitionProgress) => console.log(`${p.phase} ${p.partition} (${p.done}/${p.total})`);
 * ```
 */
export interface PartitionProgress {
  readonly phase: 'create' | 'attach' | 'drop' | 'detach' | 'vacuum' | 'analyze' | 'reindex';
  readonly partition: string;
  readonly done: number;
  readonly total: number;
}

/**
 * What every long call accepts.
 *
 * @example
 * ```ts
 * const opts: PartitionCallOptions = { signal: AbortSignal.timeout(60_000), logger: console };
 * ```
 */
export interface PartitionCallOptions {
  /**
   * Stops between steps; finished steps stay done and are listed in
   * `error.partial`. A step whose lock waited for another session when the
   * signal fired is rolled back once the lock is granted, not committed.
   */
  readonly signal?: AbortSignal;
  /** Called after each partition (or batch of partitions) is done. A callback that throws is ignored (logged once at warn). */
  readonly onProgress?: (progress: PartitionProgress) => void;
  /** Overrides the manager's logger for this call. */
  readonly logger?: Logger;
}

/**
 * One partition as {@link PartitionManager.list} reports it.
 *
 * @example
 * ```ts
 * const result = await manager.list();
 * if (result.isErr()) throw result.error;
 * const stale = result.value.filter((p) => !p.managed);
 * ```
 */
export interface PartitionInfo {
  readonly schema: string;
  readonly name: string;
  /** `"schema"."name"`, quoted for SQL. */
  readonly sql: string;
  /**
   * Lower bound (inclusive), or `null` when it is no finite instant: the
   * default partition, `MINVALUE`/`MAXVALUE`, `'-infinity'`/`'infinity'`.
   */
  readonly from: Date | null;
  /** Upper bound (exclusive), or `null` like `from`. */
  readonly to: Date | null;
  /** The bound as PostgreSQL prints it (`FOR VALUES FROM (…) TO (…)` or `DEFAULT`). */
  readonly bound: string;
  readonly isDefault: boolean;
  /** True when name and bounds follow the naming rule exactly and it is no foreign table: the only partitions `retention` will touch. */
  readonly managed: boolean;
  /** Why a partition is not managed, when it is not. */
  readonly reason?: string;
  /** `pg_class.reltuples`, or `null` if never analysed; for a sub-partitioned partition, its leaves' added up. */
  readonly estimatedRows: number | null;
  /** `pg_total_relation_size`: heap, indexes and TOAST; for a sub-partitioned partition, its leaves' added up. */
  readonly sizeBytes: number;
  /**
   * A `DETACH … CONCURRENTLY` was interrupted: the partition takes no rows.
   * `retention` finalizes it once expired; `ensure` does not count it as covering its slot.
   */
  readonly detachPending: boolean;
}

/**
 * One interval slot, named and bounded by the naming rule.
 *
 * @example
 * ```ts
 * const slot: PartitionSlot = { name: 'artifact_boms_2026_11', from: new Date('2026-11-01Z'), to: new Date('2026-12-01Z') };
 * ```
 */
export interface PartitionSlot {
  readonly name: string;
  readonly from: Date;
  readonly to: Date;
}

/**
 * Options of {@link PartitionManager.ensure}.
 *
 * @example
 * ```ts
 * await manager.ensure({ ahead: 2, behind: 1 });
 * ```
 */
export interface EnsureOptions extends PartitionCallOptions {
  /**
   * Future intervals to create after the current one.
   * @defaultValue {@link DEFAULT_PARTITIONS_AHEAD} (1)
   */
  readonly ahead?: number;
  /**
   * Past intervals to create before the current one.
   * @defaultValue {@link DEFAULT_PARTITIONS_BEHIND} (0)
   */
  readonly behind?: number;
  /**
   * Partitions created per transaction. Each batch holds the parent's SHARE
   * UPDATE EXCLUSIVE lock (and a default partition's ACCESS EXCLUSIVE) only
   * for its own few ATTACHes; 1 means one per transaction.
   * @defaultValue {@link DEFAULT_PARTITION_CREATE_BATCH} (12)
   */
  readonly batchSize?: number;
  /**
   * The most partitions this call may create (1 or more). A plan with more
   * (a window in the wrong unit, or `fillGaps` over years of dropped
   * partitions) is `INVALID_ARGUMENT` naming the count, and nothing is
   * created; raise it to create them on purpose.
   * @defaultValue {@link DEFAULT_PARTITION_MAX_CREATE} (500)
   */
  readonly maxCreate?: number;
  /**
   * Also create every missing slot between the oldest managed partition and
   * the window. Off by default: re-attaching one old month must not bring
   * back the empty months retention dropped since.
   * @defaultValue `false`
   */
  readonly fillGaps?: boolean;
}

/**
 * A partition `ensure` created, with the rows it moved out of the default partition.
 *
 * @example
 * ```ts
 * for (const c of report.created) console.log(c.name, c.rowsMovedFromDefault);
 * ```
 */
export interface CreatedPartition extends PartitionSlot {
  readonly rowsMovedFromDefault: number;
}

/**
 * What {@link PartitionManager.ensure} did.
 *
 * @example
 * ```ts
 * const result = await manager.ensure();
 * if (result.isErr()) throw result.error;
 * const { created, existing } = result.value;
 * ```
 */
export interface EnsureReport {
  /** Slots created by this call, oldest first (the window, plus the gaps with `fillGaps`). */
  readonly created: readonly CreatedPartition[];
  /** Slots of the window that were already covered, with the partition that covers each. */
  readonly existing: readonly (PartitionSlot & { readonly coveredBy: string })[];
}

/**
 * Options of {@link PartitionManager.retention}.
 *
 * @example
 * ```ts
 * await manager.retention({ keep: 12, dryRun: false, mode: 'detach', concurrently: true });
 * ```
 */
export interface RetentionOptions extends PartitionCallOptions {
  /**
   * Whole intervals before the current one to keep. A partition goes only
   * when its upper bound is at or before the start of the oldest kept interval.
   * @defaultValue {@link DEFAULT_RETENTION_KEEP} (12)
   */
  readonly keep?: number;
  /**
   * Report the plan and change nothing.
   * @defaultValue {@link DEFAULT_RETENTION_DRY_RUN} (true)
   */
  readonly dryRun?: boolean;
  /**
   * `drop` removes the partition; `detach` keeps it as a plain table. A drop
   * run also drops the expired tables an earlier drop run detached but was
   * stopped before dropping (it marks them with a table comment first).
   * @defaultValue {@link DEFAULT_RETENTION_MODE} (`'drop'`)
   */
  readonly mode?: 'drop' | 'detach';
  /**
   * Detach with `DETACH PARTITION … CONCURRENTLY` where PostgreSQL allows it
   * (not when the table has a default partition, nor while a partition this
   * run does not remove is left detach pending).
   * @defaultValue `false`
   */
  readonly concurrently?: boolean;
}

/**
 * A partition `retention` removes (or would remove).
 *
 * @example
 * ```ts
 * for (const c of plan.candidates) console.log(c.name, c.to.toISOString(), c.sizeBytes);
 * ```
 */
export interface RetentionCandidate extends PartitionSlot {
  readonly estimatedRows: number | null;
  readonly sizeBytes: number;
  readonly action: 'drop' | 'detach';
  /** Whether the detach runs (or would run) `CONCURRENTLY`. */
  readonly concurrently: boolean;
  /** True once the action has been carried out (always false in a dry run). */
  readonly done: boolean;
}

/**
 * The plan (and outcome) of {@link PartitionManager.retention}.
 *
 * @example
 * ```ts
 * const result = await manager.retention({ keep: 12 });
 * if (result.isErr()) throw result.error;
 * const plan = result.value;
 * console.log(plan.dryRun, plan.candidates.length, plan.ignored);
 * ```
 */
export interface RetentionReport {
  readonly dryRun: boolean;
  readonly mode: 'drop' | 'detach';
  /** Partitions whose upper bound is at or before this instant are expired. */
  readonly cutoff: Date;
  readonly candidates: readonly RetentionCandidate[];
  /** Partitions left alone because they do not follow the naming rule, with the reason. */
  readonly ignored: readonly { readonly name: string; readonly reason: string }[];
}

/**
 * What {@link PartitionManager.attach} did.
 *
 * @example
 * ```ts
 * const result = await manager.attach('scanner.artifact_boms_2025_03');
 * if (result.isErr()) throw result.error;
 * const r = result.value;
 * console.log(r.indexesCreated);
 * ```
 */
export interface AttachReport extends PartitionSlot {
  /** The table already was this partition; nothing changed. */
  readonly alreadyAttached: boolean;
  readonly rowsMovedFromDefault: number;
  /** Indexes PostgreSQL built on the table to match the parent's. */
  readonly indexesCreated: readonly string[];
}

/**
 * Options of {@link PartitionManager.maintain}. At least one step must be on.
 *
 * @example
 * ```ts
 * await manager.maintain('artifact_boms_2026_11', { vacuum: true, analyze: true, reindex: true });
 * ```
 */
export interface MaintainOptions extends PartitionCallOptions {
  /** @defaultValue `true` */
  readonly vacuum?: boolean;
  /** @defaultValue `true` */
  readonly analyze?: boolean;
  /** @defaultValue `false` */
  readonly reindex?: boolean;
  /**
   * Run `REINDEX … CONCURRENTLY`, so writes continue while indexes rebuild.
   * `REINDEX TABLE CONCURRENTLY` skips INVALID indexes (a failed `CREATE
   * INDEX CONCURRENTLY`), so each of those is then rebuilt with its own
   * `REINDEX INDEX CONCURRENTLY`, an extra entry of `steps`.
   * @defaultValue `true`
   */
  readonly concurrently?: boolean;
}

/**
 * What {@link PartitionManager.maintain} ran.
 *
 * @example
 * ```ts
 * const result = await manager.maintain('artifact_boms_2026_11');
 * if (result.isErr()) throw result.error;
 * const r = result.value;
 * console.log(r.sizeBytesBefore, r.sizeBytesAfter);
 * ```
 */
export interface MaintainReport {
  readonly partition: string;
  readonly steps: readonly { readonly step: 'vacuum' | 'analyze' | 'reindex'; readonly sql: string; readonly seconds: number }[];
  /** INVALID `<index>_ccnew` / `_ccold` indexes an earlier failed `REINDEX … CONCURRENTLY` had left on the partition, dropped first. */
  readonly invalidIndexesDropped: readonly string[];
  readonly sizeBytesBefore: number;
  readonly sizeBytesAfter: number;
}

/**
 * What a failed {@link PartitionManager.maintain} had finished: `error.partial`.
 *
 * @example
 * ```ts
 * const r = await manager.maintain('artifact_boms_2026_11', { reindex: true });
 * if (r.isErr()) console.log(r.error.partial?.steps.map((s) => s.step), r.error.partial?.invalidIndexesDropped);
 * ```
 */
export type MaintainPartial = Pick<MaintainReport, 'steps' | 'invalidIndexesDropped'>;

/**
 * A column of a table made by {@link PartitionManager.createParent}.
 *
 * @example
 * ```ts
 * const col: ColumnSpec = { name: 'inserted_at', type: 'timestamptz', notNull: true };
 * ```
 */
export interface ColumnSpec {
  readonly name: string;
  /** A plain SQL type name such as `text`, `timestamptz`, `varchar(64)` or `jsonb`. */
  readonly type: string;
  readonly notNull?: boolean;
}

/**
 * An index of a table made by {@link PartitionManager.createParent}.
 *
 * @example
 * ```ts
 * const idx: IndexSpec = { columns: ['canonical_bom_sha256'] };
 * ```
 */
export interface IndexSpec {
  readonly columns: readonly string[];
  /** Unique indexes on a partitioned table must include the partition key. */
  readonly unique?: boolean;
  /** @defaultValue `<table>_<columns>_idx` */
  readonly name?: string;
}

/**
 * Options of {@link PartitionManager.createParent}.
 *
 * @example
 * ```ts
 * await manager.createParent({ columns: [{ name: 'id', type: 'text', notNull: true }, { name: 'inserted_at', type: 'timestamptz', notNull: true }], primaryKey: ['id', 'inserted_at'] });
 * ```
 */
export interface CreateParentOptions {
  readonly columns: readonly ColumnSpec[];
  /** Must include the partition column (a PostgreSQL rule for partitioned tables). */
  readonly primaryKey?: readonly string[];
  readonly indexes?: readonly IndexSpec[];
  /**
   * Also create `<table>_default`, which catches rows no partition covers.
   * @defaultValue `false`
   */
  readonly defaultPartition?: boolean;
}
