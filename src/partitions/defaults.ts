/**
 * Defaults for the PartitionManager. Each option's `@defaultValue` tag points
 * here, so the docs and the code cannot drift apart.
 *
 * @module
 */

/**
 * How many intervals past the current one `ensure` creates.
 *
 * @example
 * ```ts
 * await manager.ensure({ ahead: DEFAULT_PARTITIONS_AHEAD + 1 });
 * ```
 */
export const DEFAULT_PARTITIONS_AHEAD = 1;
/**
 * How many intervals before the current one `ensure` creates.
 *
 * @example
 * ```ts
 * await manager.ensure({ behind: DEFAULT_PARTITIONS_BEHIND });
 * ```
 */
export const DEFAULT_PARTITIONS_BEHIND = 0;
/**
 * How many partitions `ensure` creates per transaction (one round trip each).
 *
 * @example
 * ```ts
 * await manager.ensure({ ahead: 120, batchSize: DEFAULT_PARTITION_CREATE_BATCH });
 * ```
 */
export const DEFAULT_PARTITION_CREATE_BATCH = 12;
/**
 * The most partitions one `ensure` call creates; a plan with more is
 * refused before anything is created. Each new partition beside a default
 * partition scans it, so a window in the wrong unit (`behind: 100000` with
 * daily partitions) would otherwise make that many tables and scans. 500 is
 * over a year of daily partitions and decades of monthly ones; a regular
 * `ensure` makes one or a few.
 *
 * @example
 * ```ts
 * await manager.ensure({ behind: 730, maxCreate: DEFAULT_PARTITION_MAX_CREATE * 2 });
 * ```
 */
export const DEFAULT_PARTITION_MAX_CREATE = 500;
/**
 * How many whole intervals before the current one `retention` keeps.
 *
 * @example
 * ```ts
 * await manager.retention({ keep: DEFAULT_RETENTION_KEEP * 2 });
 * ```
 */
export const DEFAULT_RETENTION_KEEP = 12;
/**
 * `retention` only reports its plan unless told otherwise.
 *
 * @example
 * ```ts
 * await manager.retention({ dryRun: DEFAULT_RETENTION_DRY_RUN });
 * ```
 */
export const DEFAULT_RETENTION_DRY_RUN = true;
/**
 * What `retention` does with an expired partition.
 *
 * @example
 * ```ts
 * await manager.retention({ mode: DEFAULT_RETENTION_MODE });
 * ```
 */
export const DEFAULT_RETENTION_MODE = 'drop' as const;
/**
 * `lock_timeout` for every DDL statement, in milliseconds.
 *
 * @example
 * ```ts
 * new PartitionManager({ pg, table, column, lockTimeoutMs: DEFAULT_PARTITION_LOCK_TIMEOUT_MS * 2 });
 * ```
 */
export const DEFAULT_PARTITION_LOCK_TIMEOUT_MS = 5_000;
/**
 * How long `ensure`/`retention`/`attach` wait for another run's advisory lock, in milliseconds.
 *
 * @example
 * ```ts
 * new PartitionManager({ pg, table, column, advisoryLockTimeoutMs: DEFAULT_PARTITION_ADVISORY_LOCK_TIMEOUT_MS });
 * ```
 */
export const DEFAULT_PARTITION_ADVISORY_LOCK_TIMEOUT_MS = 60_000;
/**
 * How far the host's clock may be from the database's before `ensure` and
 * `retention` refuse to plan from it, in milliseconds (five minutes).
 *
 * @example
 * ```ts
 * new PartitionManager({ pg, table, column, maxClockSkewMs: DEFAULT_PARTITION_MAX_CLOCK_SKEW_MS * 2 });
 * ```
 */
export const DEFAULT_PARTITION_MAX_CLOCK_SKEW_MS = 300_000;
/** Upper limit on `ahead`/`behind`/`keep`, to catch unit mistakes (days vs months). */
export const MAX_INTERVAL_COUNT = 100_000;
/** Name of the temporary CHECK constraint `attach` adds to skip the validation scan. */
export const ATTACH_CHECK_NAME = 'backfill_kit_attach_bounds';
/** Name of the CHECK constraint `ensure` puts on the default partition for one batch, so its ATTACHes skip their scans of it. */
export const ENSURE_DEFAULT_CHECK_NAME = 'backfill_kit_ensure_batch';
/** Suffix of the default partition `createParent` makes when asked to. */
export const DEFAULT_PARTITION_SUFFIX = '_default';
