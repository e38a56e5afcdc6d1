/**
 * The staging target's options, resolved and validated once (internal).
 *
 * @module
 */
import type { Db, WriteConcernSettings } from 'mongodb';
import { ok, safeTry, type Result } from 'neverthrow';
import type { BackfillError } from '../errors.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import { validateBatchLimits, type BatchLimits } from './batching.js';
import { collectionNameProblem, collectionOption, databaseOf, invalid, resolveRetry, resolveWriteConcern, wholeNumber } from './config.js';
import {
  DEFAULT_INSERTION_WORKERS,
  DEFAULT_MONGO_BATCH_BYTES,
  DEFAULT_MONGO_BATCH_SIZE,
  DEFAULT_STAGING_MODE,
  DEFAULT_STAGING_STATE_COLLECTION,
  DRYRUN_SUFFIX,
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
  readonly logger: Logger;
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
    const state = yield* collectionOption(config.stateCollection, DEFAULT_STAGING_STATE_COLLECTION, 'stateCollection');
    yield* distinctNames(config.collections, state);
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
        state,
        retry,
        maxBsonObjectSize: config.maxBsonObjectSize,
        logger: loggerOf(config.logger),
      }),
    );
  });
}

/**
 * Refuses names an import would mix up: a configured collection that is
 * another's staging collection (`x` and `x__incoming`: the live one would
 * be taken for a leftover, and every later import would be `LOCKED`), and
 * a state collection that is a configured or staging collection (an import
 * would write its locks and commit record into a collection it empties or
 * replaces, so a commit cut short could not be finished).
 */
function distinctNames(collections: readonly string[], state: string): Result<void, BackfillError> {
  const stagingOf = new Map<string, string>(
    collections.flatMap((c) => [`${c}${INCOMING_SUFFIX}`, `${c}${DRYRUN_SUFFIX}`].map((s) => [s, c])),
  );
  const taken = collections.find((c) => stagingOf.has(c));
  if (taken !== undefined)
    return invalid(
      `collection name ${JSON.stringify(taken)} is the staging collection of ${JSON.stringify(stagingOf.get(taken))}; an import would take the live collection for a leftover. Rename one of them.`,
      { table: taken },
    );
  if (collections.includes(state) || stagingOf.has(state))
    return invalid(
      `stateCollection ${JSON.stringify(state)} is ${collections.includes(state) ? 'one of `collections`' : `the staging collection of ${JSON.stringify(stagingOf.get(state))}`}: an import would keep its locks and commit record in a collection it replaces, so a commit cut short could not be finished. Name a collection of its own.`,
      { table: state },
    );
  return ok(undefined);
}
