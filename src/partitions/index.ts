/**
 * `@stella/backfill-kit/partitions`: range partitions kept ahead of time,
 * safe retention, re-attach and per-partition upkeep (seed 002).
 *
 * @module
 */
export { PartitionManager } from './partition-manager.js';
export { addIntervals, boundLiteral, floorToInterval, parsePartitionSuffix, partitionSuffix, PARTITION_INTERVALS } from './interval.js';
export type { PartitionColumnType, PartitionInterval } from './interval.js';
export {
  DEFAULT_ADVISORY_LOCK_TIMEOUT_MS,
  DEFAULT_AHEAD,
  DEFAULT_BEHIND,
  DEFAULT_CREATE_BATCH,
  DEFAULT_DRY_RUN,
  DEFAULT_KEEP,
  DEFAULT_LOCK_TIMEOUT_MS,
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
  LongCallOptions,
  MaintainOptions,
  MaintainReport,
  PartitionInfo,
  PartitionManagerConfig,
  PartitionProgress,
  PartitionSlot,
  RetentionCandidate,
  RetentionOptions,
  RetentionReport,
} from './types.js';
