/**
 * MongoDB implementation of the staging port: unordered bulk inserts into
 * `<collection>__incoming` (created with the live collection's options),
 * counted with `countDocuments` on the primary, then put in place on
 * commit: renamed over the live collection (`swap`), or copied into it
 * (`truncate`). Locks and commit progress are documents in a state
 * collection, so a crash is recovered deterministically.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Db, WriteConcernSettings } from 'mongodb';
import { err, ok, ResultAsync, safeTry, type Result } from 'neverthrow';
import type { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import type { RollbackOptions, StagingRow, StagingSessionOptions, StagingTarget } from '../staging/staging-target.js';
import { loadBson, loadUpdateStatement } from './bson.js';
import {
  DECIDING_READ,
  DEFAULT_INSERTION_WORKERS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_MAX_BSON_OBJECT_SIZE,
  DEFAULT_MONGO_BATCH_BYTES,
  DEFAULT_MONGO_BATCH_SIZE,
  DEFAULT_RETRY_DELAY_MS,
  DEFAULT_STAGING_MODE,
  DEFAULT_STAGING_STATE_COLLECTION,
} from './defaults.js';
import { withMongoRetry } from './errors.js';
import { mongoIdKey, recordToDocument } from './extended-json-id.js';
import { IncomingCollectionSession, type MongoStagingSession } from './mongo-staging-session.js';
import { resolveStagingConfig, type StagingContext } from './staging-context.js';
import { attempt, claim, incomingName, maxBsonObjectSize, recoverLeftovers, stagingNames, stagingOptions } from './staging-protocol.js';

export type { MongoStagingSession } from './mongo-staging-session.js';

/** Configuration of a {@link MongoStagingTarget}. */
export interface MongoStagingTargetConfig {
  /** The caller's database (`client.db('lnm_raw')`). */
  readonly db: Db;
  /** Collection names; they are the "tables" the importer's `tables` map names. */
  readonly collections: readonly string[];
  /**
   * Documents per unordered bulk insert (mongoimport `--batchSize`).
   * @defaultValue {@link DEFAULT_MONGO_BATCH_SIZE} (1000)
   */
  readonly batchSize?: number;
  /**
   * BSON bytes per bulk insert; a batch closes at whichever limit comes first.
   * @defaultValue {@link DEFAULT_MONGO_BATCH_BYTES} (8 MiB)
   */
  readonly batchBytes?: number;
  /**
   * Bulk inserts in flight at once (mongoimport `--numInsertionWorkers`).
   * @defaultValue {@link DEFAULT_INSERTION_WORKERS} (4)
   */
  readonly insertionWorkers?: number;
  /**
   * How documents are written into the incoming collection.
   * - `insert`: unordered `insertMany`; a repeated id is `DUPLICATE_ID`.
   * - `upsert`: unordered `replaceOne … upsert` (mongoimport `--mode upsert`):
   *   a repeated id replaces the earlier document, deterministically (the
   *   last line wins), with every insertion worker still busy.
   * @defaultValue {@link DEFAULT_STAGING_MODE} (`insert`)
   */
  readonly mode?: MongoStagingMode;
  /**
   * Write concern of every insert, create, index build, rename and drop; a
   * `wtimeoutMS` of {@link DEFAULT_MONGO_TIMEOUT_MS} is added when it has none,
   * and `w: 'majority'` when it names no `w`. `w: 0` and `w: 1` are
   * `INVALID_ARGUMENT`: the count an import commits on is a majority read,
   * which need not see inserts one member acknowledged.
   * @defaultValue {@link DEFAULT_WRITE_CONCERN} (`{ w: 'majority', wtimeoutMS: 60000 }`)
   */
  readonly writeConcern?: WriteConcernSettings;
  /**
   * Collection holding the target's locks and commit progress (one small
   * document per staging collection and per commit). It must be a
   * collection of its own: one of `collections` or a staging name
   * (`<collection>__incoming`, `<collection>__dryrun`) is `INVALID_ARGUMENT`.
   * @defaultValue {@link DEFAULT_STAGING_STATE_COLLECTION} (`backfill_kit_staging`)
   */
  readonly stateCollection?: string;
  /**
   * Tries per write when the network fails or the primary steps down.
   * @defaultValue {@link DEFAULT_MAX_ATTEMPTS} (3)
   */
  readonly maxAttempts?: number;
  /**
   * Back-off before the first retry, doubled after each.
   * @defaultValue {@link DEFAULT_RETRY_DELAY_MS} (100)
   */
  readonly retryDelayMs?: number;
  /**
   * Largest document accepted, in BSON bytes.
   * @defaultValue the server's `maxBsonObjectSize`, or {@link DEFAULT_MAX_BSON_OBJECT_SIZE} (16 MiB)
   */
  readonly maxBsonObjectSize?: number;
  readonly logger?: Logger;
}

/** How {@link MongoStagingTarget} writes documents: see {@link MongoStagingTargetConfig.mode}. */
export type MongoStagingMode = 'insert' | 'upsert';

/** What {@link MongoStagingTarget.dropLeftovers} found and did. */
export interface MongoLeftovers {
  /** Staging collections of crashed loads, dropped (their imports rolled back). */
  readonly dropped: readonly string[];
  /** Live collections a crashed commit had not yet replaced, replaced now (rolled forward). */
  readonly completed: readonly string[];
  /** Collections under staging names that this library did not create: left alone. */
  readonly notOurs: readonly string[];
}

/**
 * Staging collections in MongoDB, for `StagingImporter` (pass it as
 * `target`). Each import loads `<collection>__incoming` with unordered bulk
 * inserts (`insertionWorkers` in flight, batches bounded by count and by
 * BSON bytes, write concern `majority`), and the importer verifies the
 * loaded count with `countDocuments` (never the driver's `insertedCount`).
 * Until commit the live collection is untouched; a failure or an abort
 * drops the incoming collection. Commit writes a commit record, then:
 * - `swap`: renames the incoming collection over the live one with
 *   `dropTarget`, after recreating the live collection's indexes on it;
 * - `truncate`: keeps the live collection (UUID, indexes, options), empties
 *   it and `$merge`s the incoming documents into it; readers can see it
 *   empty or partly refilled meanwhile.
 *
 * Record ids become `_id`; `{"$oid": …}` ids are ObjectIds again, and the
 * rest of each record is read as MongoDB extended JSON, as mongoimport does.
 *
 * @example
 * ```ts
 * import { MongoClient } from 'mongodb';
 * import { StagingImporter } from '@stella/backfill-kit/staging';
 * import { MongoStagingTarget } from '@stella/backfill-kit/mongodb';
 *
 * const client = await MongoClient.connect(process.env.MONGO_URL!);
 * const target = new MongoStagingTarget({ db: client.db('lnm_raw'), collections: ['linksets_raw', 'advisory_chunks_raw'] });
 * const importer = new StagingImporter({ target, tables: { 'linksets.ndjson': 'linksets_raw', 'advisory_chunks.ndjson': 'advisory_chunks_raw' } });
 * const report = await importer.import('linksets-stage-backfill.tar.zst');
 * ```
 */
export class MongoStagingTarget implements StagingTarget {
  /** The resolved options, or why they are invalid (then every method returns that error). */
  readonly #context: Result<StagingContext, BackfillError>;

  /** Never throws: an invalid config (`INVALID_ARGUMENT`) is returned by every method. */
  constructor(config: MongoStagingTargetConfig) {
    this.#context = resolveStagingConfig(config);
    Object.freeze(this);
  }

  /** The configured collection names ([] when the config is invalid). */
  get collections(): readonly string[] {
    return this.#context.map((r) => r.collections).unwrapOr([]);
  }

  /** The name an import loads `collection` into before the commit. */
  static incomingName(collection: string): string {
    return incomingName(collection);
  }

  /**
   * Starts an import: takes a lock marker for each staging collection
   * (`<collection>__incoming`, or `<collection>__dryrun` on a dry run), checks
   * with `listCollections` that no collection of that name exists, and
   * creates it with the live collection's options (validator, collation, …).
   * A marker already there (another import, or a crashed one) or a
   * collection the library did not create is `LOCKED`, and nothing is
   * touched. A view, a time-series or a sharded live collection is refused
   * (`INVALID_ARGUMENT`). `options.strategy` decides how commit puts the
   * loaded collections in place (see {@link MongoStagingTarget}).
   */
  begin(options: StagingSessionOptions): ResultAsync<MongoStagingSession, BackfillError> {
    return this.#context.asyncAndThen((r) =>
      safeTry(async function* () {
        const bson = yield* loadBson();
        const statement = yield* loadUpdateStatement();
        const dest = yield* stagingNames(r, options);
        const maxBson = yield* attempt(() => maxBsonObjectSize(r));
        const createOptions = yield* stagingOptions(r, [...dest.keys()]);
        const token = randomUUID();
        const uuids = yield* claim(r, dest, createOptions, token);
        return ok<MongoStagingSession>(new IncomingCollectionSession(r, { bson, statement, maxBson, token }, options, dest, uuids));
      }),
    );
  }

  /**
   * Recovers what crashed imports left, deterministically from the state
   * collection: a crashed *load* (no commit record) is rolled back (its
   * staging collection dropped, identified by UUID); a crashed *commit*
   * (commit record written) is rolled forward (the remaining renames or
   * copies done). Collections under staging names that the library did not
   * create are reported in `notOurs` and never dropped. Call it only when no
   * import is running. A recorded commit whose collection is gone is
   * `COMMIT_INCOMPLETE` (its record is kept).
   */
  dropLeftovers(): ResultAsync<MongoLeftovers, BackfillError> {
    return this.#context.asyncAndThen(recoverLeftovers);
  }

  /**
   * The row's `_id` as MongoDB's unique `_id` index compares it: the
   * document a load makes of the row, its `_id` keyed by value (`1`, `1.0`
   * and an int64 `1` share a key; the number `1`, the string `"1"` and an
   * ObjectId and its hex text do not). The importer uses it to name the
   * lines behind a `DUPLICATE_ID`, whose `context.idKey` is this key. A row
   * that cannot become a document (which no load stores) gets a key no
   * stored document has.
   */
  async idKey(row: StagingRow): Promise<string> {
    const doc = await loadBson().andThen((bson) => recordToDocument(row.raw, row.id, bson));
    return doc.isOk() ? mongoIdKey(doc.value._id) : `unstored:${row.id}`;
  }

  /** `countDocuments` of each configured collection (0 when it does not exist), on the primary, majority committed. */
  counts(): ResultAsync<Readonly<Record<string, number>>, BackfillError> {
    return this.#context.asyncAndThen((r) =>
      ResultAsync.combine(
        r.collections.map((name) =>
          attempt(() => withMongoRetry(() => r.db.collection(name).countDocuments({}, DECIDING_READ), r.retry), name).map(
            (n) => [name, n] as const,
          ),
        ),
      ).map((entries) => Object.fromEntries(entries)),
    );
  }

  /**
   * Empties every configured collection by renaming an empty one (with the
   * same indexes) over it: each collection goes from full to empty in one
   * step, never half-deleted. A `signal` that fired before the commit is
   * `ABORTED` with nothing emptied.
   */
  truncate(options: RollbackOptions = {}): ResultAsync<void, BackfillError> {
    return this.#context.asyncAndThen((r) =>
      this.begin({
        strategy: 'swap',
        dryRun: false,
        tables: r.collections,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      }).andThen((session) =>
        session
          .commit()
          .map(() => undefined)
          .orElse((error) => session.abort().andThen(() => err(error))),
      ),
    );
  }

  /** Nothing to release: the caller owns the client. */
  async close(): Promise<void> {}
}
