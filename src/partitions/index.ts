/**
 * `@stella/backfill-kit/partitions`: range partitions kept ahead of time,
 * safe retention, re-attach and per-partition upkeep, as the partition runbook does by hand.
 *
 * @module
 */
export { PartitionManager } from './partition-manager.js';
export { PARTITION_INTERVALS } from './interval.js';
export type { PartitionColumnType, PartitionInterval } from './interval.js';
export {
  DEFAULT_PARTITION_ADVISORY_LOCK_TIMEOUT_MS,
  DEFAULT_PARTITIONS_AHEAD,
  DEFAULT_PARTITIONS_BEHIND,
  DEFAULT_PARTITION_CREATE_BATCH,
  DEFAULT_PARTITION_MAX_CREATE,
  DEFAULT_RETENTION_DRY_RUN,
  DEFAULT_RETENTION_KEEP,
  DEFAULT_PARTITION_LOCK_TIMEOUT_MS,
  DEFAULT_PARTITION_MAX_CLOCK_SKEW_MS,
  DEFAULT_RETENTION_MODE,
} from './defaults.js';
export type {
  AttachReport,
  ColumnSpec,
  CreateParentOptions,
  CreatedPartition,
  EnsureOptions,
  EnsureReport,
  IndexSpec,
  PartitionCallOptions,
  MaintainOptions,
  MaintainPartial,
  MaintainReport,
  PartitionInfo,
  PartitionManagerConfig,
  PartitionProgress,
  PartitionSlot,
  RetentionCandidate,
  RetentionOptions,
  RetentionReport,
} from './types.js';
