/**
 * `@stella/backfill-kit/statements`: replay raw VEX documents into a
 * statements store, resumably.
 *
 * @module
 */
export { StatementBackfiller } from './statement-backfiller.js';
export type { StatementBackfillerConfig, StatementBackfillOptions, StatementBackfillProgress } from './statement-backfiller.js';
export type { BackfillReport, BackfillSummary, SummaryState } from './summary.js';
export { detectVexFormat } from './detect.js';
export { openVexNormalizer } from './normalizers/openvex.js';
export { csafVexNormalizer } from './normalizers/csaf.js';
export { cycloneDxVexNormalizer } from './normalizers/cyclonedx.js';
export { PgRawDocumentSource } from './pg-raw-document-source.js';
export type { NewRawDocument, PgRawDocumentSourceConfig } from './pg-raw-document-source.js';
export { PgStatementSink } from './pg-statement-sink.js';
export { planBackfill, DEFAULT_RANGE_SIZE, MAX_RANGE_SIZE } from './distributed-plan.js';
export type { PlanBackfillOptions } from './distributed-plan.js';
export { runBackfillWorker, DEFAULT_RECONNECT_SECONDS } from './distributed-worker.js';
export type { BackfillWorkerOptions, BackfillWorkerSummary } from './distributed-worker.js';
export { backfillReport } from './distributed-report.js';
export type { DistributedBackfillReport, DistributedRunState, FailedRange, RetryingRange } from './distributed-report.js';
export { backfillProgress } from './distributed-progress.js';
export type { DistributedBackfillProgress } from './distributed-progress.js';
export type { DistributedBackfillConfig } from './distributed-session.js';
export { PgBackfillPlanStore } from './pg-run-plan.js';
export { MAX_NORMALIZER_THREADS, NormalizerThreads } from './normalizer-threads.js';
export type { NormalizerThreadsOptions } from './normalizer-threads.js';
export type { NormalizableDocument, NormalizedDocument } from './normalize.js';
export type { BackfillPlan, PgBackfillPlanTables, PlannedOptions, PlannedRange, PlannedStoreTables, RangeStop } from './pg-run-plan.js';
export type { RangeFirstPage, RangeRun } from './statement-backfiller.js';
export type { PgStatementSinkConfig } from './pg-statement-sink.js';
export {
  DEFAULT_BATCH_SIZE,
  defaultVexNormalizers,
  DEFAULT_CHECKPOINTS_TABLE,
  DEFAULT_DOCUMENTS_TABLE,
  DEFAULT_FAILURES_TABLE,
  DEFAULT_MAX_BATCH_BYTES,
  DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT,
  DEFAULT_RAW_DOCUMENTS_TABLE,
  DEFAULT_STATEMENTS_TABLE,
  MAX_BATCH_SIZE,
  MAX_CLAIM_KEY_BYTES,
  MAX_SUBCOMPONENT_CLAIMS,
} from './defaults.js';
export type {
  BackfillCheckpoint,
  BackfillCounters,
  BackfillFailure,
  CheckpointOptions,
  CheckpointStore,
  ClaimStatus,
  DocumentClaims,
  DocumentCursor,
  KeyRange,
  KeyRangesQuery,
  NormalizeContext,
  RawDocument,
  RawDocumentCountQuery,
  RawDocumentPageQuery,
  RawDocumentSource,
  RunLock,
  StatementBatch,
  StatementBatchResult,
  StatementSink,
  StoredCheckpoint,
  VexClaim,
  VexFormat,
  VexNormalizer,
} from './ports.js';
