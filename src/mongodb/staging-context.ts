/**
 * The staging target's options, resolved and validated once (internal).
 *
 * @module
 */
import type { Db, WriteConcernSettings } from 'mongodb';
import { ok, safeTry, type Result } from 'neverthrow';
import type { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import { validateBatchLimits, type BatchLimits } from './batching.js';
import { collectionNameProblem, databaseOf, invalid, resolveRetry, resolveWriteConcern, wholeNumber } from './config.js';
import {
  DEFAULT_INSERTION_WORKERS,
  DEFAULT_MONGO_BATCH_BYTES,
  DEFAULT_MONGO_BATCH_SIZE,
  DEFAULT_STAGING_MODE,
  DEFAULT_STAGING_STATE_COLLECTION,
  INCOMING_SUFFIX,
  MAX_INSERTION_WORKERS,
} from './defaults.js';
import type { MongoRetryOptions } from './errors.js';
import type { MongoStagingMode, MongoStagingTargetConfig } from './mongo-staging-target.js';

/** The target's options, resolved and validated once by the constructor (frozen). */
export type StagingContext = Readonly<{
  readonly db: Db;
  readonly mode: MongoStagingMode;
  readonly collections: readonly string[];
  readonly limits: BatchLimits;
  readonly workers: number;
  readonly writeConcern: WriteConcernSettings;
  readonly retry: MongoRetryOptions;
  readonly maxBsonObjectSize: number | undefined;
  readonly logger: Logger | undefined;
  readonly state: string;
}>;

/** Validates a {@link MongoStagingTargetConfig} once; a bad collection name or limit is `INVALID_ARGUMENT`. */
export function resolveStagingConfig(config: MongoStagingTargetConfig): Result<StagingContext, BackfillError> {
  return safeTry(function* () {
    const db = yield* databaseOf(config);
    if (!Array.isArray(config.collections) || config.collections.length === 0)
      return invalid('`collections` must name at least one collection.');
    for (const name of config.collections) {
      const problem = collectionNameProblem(name, INCOMING_SUFFIX.length);
      if (problem !== undefined) return invalid(`collection name ${JSON.stringify(name)} ${problem}.`, { table: String(name) });
    }
    if (new Set(config.collections).size !== config.collections.length) return invalid('`collections` names a collection twice.');
    const limits = yield* validateBatchLimits({
      maxCount: config.batchSize ?? DEFAULT_MONGO_BATCH_SIZE,
      maxBytes: config.batchBytes ?? DEFAULT_MONGO_BATCH_BYTES,
    });
    const workers = yield* wholeNumber(
      config.insertionWorkers ?? DEFAULT_INSERTION_WORKERS,
      1,
      MAX_INSERTION_WORKERS,
      `insertionWorkers must be a whole number from 1 to ${MAX_INSERTION_WORKERS}.`,
    );
    const mode = config.mode ?? DEFAULT_STAGING_MODE;
    if (mode !== 'insert' && mode !== 'upsert') return invalid(`mode must be "insert" or "upsert", not ${JSON.stringify(mode)}.`);
    const retry = yield* resolveRetry(config);
    const writeConcern = yield* resolveWriteConcern(config.writeConcern);
    if (config.maxBsonObjectSize !== undefined && !(config.maxBsonObjectSize > 0))
      return invalid('maxBsonObjectSize must be a positive number of bytes.');
    return ok(
      Object.freeze({
        db,
        mode,
        collections: Object.freeze([...config.collections]),
        limits,
        workers,
        writeConcern,
        state: config.stateCollection ?? DEFAULT_STAGING_STATE_COLLECTION,
        retry,
        maxBsonObjectSize: config.maxBsonObjectSize,
        logger: config.logger,
      }),
    );
  });
}
