/**
 * `@stella/backfill-kit/mongodb`: the MongoDB adapters of the staging and
 * statements ports: statements in `vex.statements`, the Mongo backfill of
 * raw documents, and staging imports into collections. `mongodb` (v6 or v7) is an optional
 * peer dependency; only this entry point needs it.
 *
 * @module mongodb
 */
export {
  MongoStagingTarget,
  type MongoStagingTargetConfig,
  type MongoStagingSession,
  type MongoStagingMode,
  type MongoLeftovers,
} from './mongo-staging-target.js';
export type { StagingRowReject } from '../staging/staging-target.js';
export { MongoRawDocumentSource, type MongoRawDocumentSourceConfig, type NewMongoRawDocument } from './mongo-raw-document-source.js';
export { MongoStatementSink, type MongoStatementSinkConfig, type MongoTransactionMode } from './mongo-statement-sink.js';
export { MongoCheckpointStore, type MongoCheckpointStoreConfig, type MongoWriteScope } from './mongo-checkpoint-store.js';
export type { BulkWritePartial } from './errors.js';
export {
  DEFAULT_CHECKPOINTS_COLLECTION,
  DEFAULT_DOCUMENTS_COLLECTION,
  DEFAULT_FAILURES_COLLECTION,
  DEFAULT_INSERTION_WORKERS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_MAX_BSON_OBJECT_SIZE,
  DEFAULT_MONGO_BATCH_BYTES,
  DEFAULT_MONGO_BATCH_SIZE,
  DEFAULT_RAW_DOCUMENTS_COLLECTION,
  DEFAULT_RETRY_DELAY_MS,
  DEFAULT_STAGING_MODE,
  DEFAULT_STATEMENTS_COLLECTION,
  DEFAULT_TRANSACTIONS,
  DEFAULT_WRITE_CONCERN,
  DEFAULT_MONGO_TIMEOUT_MS,
  DEFAULT_STAGING_STATE_COLLECTION,
  DEFAULT_TRANSACTION_BYTES,
  DEFAULT_TRANSACTION_CLAIMS,
  INCOMING_SUFFIX,
  MAX_INSERTION_WORKERS,
} from './defaults.js';
