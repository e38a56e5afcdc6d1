/**
 * StagingImporter: atomic COPY of a dataset tarball into PostgreSQL staging
 * tables, rollback, counts, and export back to a deterministic tarball.
 *
 * @module staging
 */
export {
  StagingImporter,
  type StagingImporterConfig,
  type ImportOptions,
  type ImportProgress,
  type ImportReport,
  type TableImportReport,
  type OnInvalid,
} from './staging-importer.js';
export {
  exportDataset,
  type ExportDatasetConfig,
  type ExportDatasetOptions,
  type ExportProgress,
  type ExportReport,
} from './export-dataset.js';
export type {
  RollbackOptions,
  StagingTarget,
  StagingSession,
  StagingSessionOptions,
  StagingCommitInfo,
  StagingRow,
  StagingRowReject,
  StagingStrategy,
} from './staging-target.js';
export { PgStagingTarget, type PgStagingTargetConfig } from './pg-staging-target.js';
export {
  DEFAULT_STAGING_SCHEMA,
  DEFAULT_ID_FIELD,
  DEFAULT_STAGING_STRATEGY,
  DEFAULT_ON_INVALID,
  DEFAULT_COPY_BATCH_BYTES,
  DEFAULT_STAGING_LOCK_TIMEOUT_MS,
  DEFAULT_STAGING_PROGRESS_EVERY_ROWS,
  DEFAULT_MAX_DUPLICATE_RETRIES,
  DEFAULT_REJECT_SUFFIX,
} from './defaults.js';
