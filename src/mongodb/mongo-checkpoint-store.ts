/**
 * Run checkpoints (and the failures recorded per run) in MongoDB, for
 * StatementBackfiller resume.
 *
 * @module
 */
import type { ClientSession, Db, WriteConcernSettings } from 'mongodb';
import { err, ok, ResultAsync, safeTry, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import type { BackfillCheckpoint, BackfillFailure, CheckpointStore, StoredCheckpoint } from '../statements/ports.js';
import { DECIDING_READ, DEFAULT_CHECKPOINTS_COLLECTION, DEFAULT_FAILURES_COLLECTION } from './defaults.js';
import { CollationCheck, ensureCollection, type KeyedCollection } from './collections.js';
import { collectionOption, databaseOf, distinctCollections, resolveRetry, resolveWriteConcern } from './config.js';
import { mongoErrorToBackfill, withMongoRetry, type MongoRetryOptions } from './errors.js';

/**
 * Where {@link MongoCheckpointStore} keeps its two collections.
 *
 * @example
 * ```ts
 * const config: MongoCheckpointStoreConfig = { db: client.db('vex'), checkpointsCollection: 'statement_backfill_checkpoints' };
 * ```
 */
export interface MongoCheckpointStoreConfig {
  readonly db: Db;
  /** @defaultValue {@link DEFAULT_CHECKPOINTS_COLLECTION} (`statement_backfill_checkpoints`) */
  readonly checkpointsCollection?: string;
  /** @defaultValue {@link DEFAULT_FAILURES_COLLECTION} (`statement_backfill_failures`) */
  readonly failuresCollection?: string;
  /**
   * Write concern of every write; a `wtimeoutMS` is added when it has none,
   * and `w: 'majority'` when it names no `w`. `w: 0` and `w: 1` are
   * `INVALID_ARGUMENT`: a resume reads the checkpoint with majority read
   * concern, which need not see a write one member acknowledged.
   * @defaultValue {@link DEFAULT_WRITE_CONCERN} (`{ w: 'majority', wtimeoutMS: 60000 }`)
   */
  readonly writeConcern?: WriteConcernSettings;
  /** @defaultValue {@link DEFAULT_MAX_ATTEMPTS} (3) */
  readonly maxAttempts?: number;
  /** @defaultValue {@link DEFAULT_RETRY_DELAY_MS} (100) */
  readonly retryDelayMs?: number;
  readonly logger?: Logger;
}

interface CheckpointDoc {
  _id: string;
  cursor: { retrievedAt: string; digest: string } | null;
  counters: { evaluated: number; backfilled: number; claimsWritten: number; skipped: number; failures: number };
  options: { retrievedSince: string | null; force: boolean; maxDocuments: number | null };
  outcomeSha256: string;
  completed: boolean;
  updatedAt: Date;
}

interface FailureDoc {
  _id: { runId: string; seq: number };
  runId: string;
  seq: number;
  digest: string;
  code: string;
  message: string;
}

/** How a write joins the caller's unit of work. */
export interface MongoWriteScope {
  /** The transaction's session; its writes take the transaction's write concern. */
  readonly session?: ClientSession;
}

/**
 * A checkpoint store's resolved options (frozen).
 *
 * @internal
 */
export type CheckpointContext = Readonly<{
  db: Db;
  checkpoints: string;
  failures: string;
  writeConcern: WriteConcernSettings;
  retry: MongoRetryOptions;
}>;

/**
 * Validates a {@link MongoCheckpointStoreConfig} once.
 *
 * @internal
 */
export function resolveCheckpointConfig(config: MongoCheckpointStoreConfig): Result<CheckpointContext, BackfillError> {
  return safeTry(function* () {
    const db = yield* databaseOf(config);
    const checkpoints = yield* collectionOption(config.checkpointsCollection, DEFAULT_CHECKPOINTS_COLLECTION, 'checkpointsCollection');
    const failures = yield* collectionOption(config.failuresCollection, DEFAULT_FAILURES_COLLECTION, 'failuresCollection');
    yield* distinctCollections([
      [checkpoints, 'checkpointsCollection'],
      [failures, 'failuresCollection'],
    ]);
    const retry = yield* resolveRetry(config);
    const writeConcern = yield* resolveWriteConcern(config.writeConcern);
    return ok(Object.freeze({ db, checkpoints, failures, writeConcern, retry }));
  });
}

/**
 * The checkpoint store's collections, as {@link CollationCheck} checks them:
 * both are keyed on the run id.
 *
 * @internal
 */
export function checkpointCollections(c: CheckpointContext): KeyedCollection[] {
  return [
    {
      name: c.checkpoints,
      option: 'checkpointsCollection',
      why: 'Checkpoints are keyed on the run id, so a run would resume from, or overwrite, the checkpoint of another run whose id it finds equal.',
    },
    {
      name: c.failures,
      option: 'failuresCollection',
      why: "Failures are keyed and read on the run id, so a resumed run would report another run's failures as its own.",
    },
  ];
}

/**
 * Writes a batch's new failures and then the run's checkpoint, as upserts
 * (safe to repeat). Throws driver errors: it runs inside the sink's unit
 * of work, which maps them.
 *
 * @internal
 */
export async function saveCheckpoint(
  c: CheckpointContext,
  runId: string,
  failures: readonly BackfillFailure[],
  checkpoint: BackfillCheckpoint,
  scope: MongoWriteScope,
): Promise<void> {
  const opts = scope.session === undefined ? { writeConcern: c.writeConcern } : { session: scope.session };
  if (failures.length > 0) {
    const first = checkpoint.counters.failures - failures.length + 1;
    await c.db.collection<FailureDoc>(c.failures).bulkWrite(
      failures.map((f, i) => {
        const seq = first + i;
        return {
          replaceOne: {
            filter: { _id: { runId, seq } },
            replacement: { runId, seq, digest: f.digest, code: f.code, message: f.message },
            upsert: true,
          },
        };
      }),
      { ordered: false, ...opts },
    );
  }
  const doc: Omit<CheckpointDoc, '_id'> = {
    cursor: checkpoint.cursor === null ? null : { retrievedAt: checkpoint.cursor.retrievedAt, digest: checkpoint.cursor.digest },
    counters: { ...checkpoint.counters },
    options: { ...checkpoint.options },
    outcomeSha256: checkpoint.outcomeSha256,
    completed: checkpoint.completed,
    updatedAt: new Date(),
  };
  await c.db.collection<CheckpointDoc>(c.checkpoints).replaceOne({ _id: runId }, doc, { upsert: true, ...opts });
}

/**
 * Creates both collections and the failures index `{ runId: 1, seq: 1 }` if missing.
 *
 * @internal
 */
export function prepareCheckpoints(c: CheckpointContext): ResultAsync<void, BackfillError> {
  return ResultAsync.fromPromise(
    withMongoRetry(async () => {
      await c.db.collection(c.failures, { writeConcern: c.writeConcern }).createIndex({ runId: 1, seq: 1 }, { name: 'runId_seq' });
      await ensureCollection(c.db, c.checkpoints, c.writeConcern);
    }, c.retry),
    (e) => mongoErrorToBackfill(e, { table: c.failures }),
  );
}

/**
 * The run's checkpoint with the failures recorded up to it, or `null`.
 *
 * @internal
 */
export function loadCheckpointFrom(c: CheckpointContext, runId: string): ResultAsync<StoredCheckpoint | null, BackfillError> {
  return ResultAsync.fromPromise(
    withMongoRetry(async () => {
      // Resume decides from this: the primary's majority-committed state, never a lagging secondary.
      const found = await c.db.collection<CheckpointDoc>(c.checkpoints).findOne({ _id: runId }, DECIDING_READ);
      if (found === null) return null;
      // Thrown, not retried: mongoErrorToBackfill hands a BackfillError on as it is.
      const cp = checkpointShape(found).match(
        (doc) => doc,
        (problem) => {
          throw new BackfillError(
            'INVALID_ARGUMENT',
            `${c.checkpoints}: the checkpoint of run ${JSON.stringify(runId)} has ${problem}, which the statement sink never writes (was it edited by hand?); resuming from it could repeat or skip documents. Restore the value the sink wrote, or delete the checkpoint and its failures to run again from the start, or use a new runId.`,
            { context: { table: c.checkpoints, runId } },
          );
        },
      );
      const failed = await c.db
        .collection<FailureDoc>(c.failures)
        .find({ runId, seq: { $lte: cp.counters.failures } }, { projection: { _id: 0, digest: 1, code: 1, message: 1 }, ...DECIDING_READ })
        .sort({ runId: 1, seq: 1 })
        .toArray();
      return storedCheckpoint(runId, cp, failed);
    }, c.retry),
    (e) => mongoErrorToBackfill(e, { table: c.checkpoints, runId }),
  );
}

const COUNTERS = ['evaluated', 'backfilled', 'claimsWritten', 'skipped', 'failures'] as const;

/**
 * `doc` as a checkpoint the sink writes, or what is wrong with it (a
 * phrase): a cursor of ISO-8601 text (a date, as mongosh's `ISODate` sets
 * it, is taken as the text the source writes) and a string digest, counters
 * that are integers from 0, boolean flags. A digest of another type would
 * sort before or after every digest and repeat or skip a page; `completed`
 * as text would end the run.
 */
function checkpointShape(doc: Readonly<Record<string, unknown>>): Result<CheckpointDoc, string> {
  const has = (o: unknown, k: string): unknown => (typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined);
  const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);
  const { cursor, counters, options, completed } = doc;
  if (cursor === undefined) return err('no cursor field');
  let at: unknown;
  if (cursor !== null) {
    at = has(cursor, 'retrievedAt');
    if (at instanceof Date && !Number.isNaN(at.getTime())) at = at.toISOString();
    if (typeof at !== 'string') return err(`cursor.retrievedAt ${at === undefined ? 'missing' : `as ${kind(at)}`}, not ISO-8601 text`);
    const digest = has(cursor, 'digest');
    if (typeof digest !== 'string') return err(`cursor.digest ${digest === undefined ? 'missing' : `as ${kind(digest)}`}, not a string`);
  }
  if (typeof counters !== 'object' || counters === null) return err('no counters');
  for (const k of COUNTERS) {
    const n = has(counters, k);
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
      return err(`counters.${k} = ${String(n)} (${kind(n)}), not an integer from 0`);
  }
  if (typeof completed !== 'boolean') return err(`completed = ${JSON.stringify(completed)}, not true or false`);
  if (typeof has(options, 'force') !== 'boolean') return err(`options.force = ${JSON.stringify(has(options, 'force'))}, not true or false`);
  const cp = doc as unknown as CheckpointDoc;
  return ok(cursor === null ? cp : { ...cp, cursor: { retrievedAt: at as string, digest: (cursor as { digest: string }).digest } });
}

function storedCheckpoint(
  runId: string,
  cp: CheckpointDoc,
  failed: readonly Omit<FailureDoc, '_id' | 'runId' | 'seq'>[],
): StoredCheckpoint {
  return {
    runId,
    cursor: cp.cursor === null ? null : { retrievedAt: cp.cursor.retrievedAt, digest: cp.cursor.digest },
    counters: {
      evaluated: Number(cp.counters.evaluated),
      backfilled: Number(cp.counters.backfilled),
      claimsWritten: Number(cp.counters.claimsWritten),
      skipped: Number(cp.counters.skipped),
      failures: Number(cp.counters.failures),
    },
    options: {
      retrievedSince: cp.options.retrievedSince,
      force: cp.options.force,
      maxDocuments: cp.options.maxDocuments === null ? null : Number(cp.options.maxDocuments),
    },
    outcomeSha256: cp.outcomeSha256,
    completed: cp.completed,
    failed: failed.map((f) => ({ digest: f.digest, code: f.code as BackfillFailure['code'], message: f.message })),
  };
}

/**
 * A {@link CheckpointStore} over two MongoDB collections: one document per
 * run id (cursor, counters, options, outcome hash) and one per recorded
 * failure, keyed `{ runId, seq }`.
 *
 * The checkpoint is written last in every batch and failures are numbered,
 * so a reader trusts only failures numbered up to the checkpoint's
 * `counters.failures`: on a standalone server (no transaction) a batch cut
 * short leaves at most failures that the resumed run overwrites.
 *
 * @example
 * ```ts
 * const store = new MongoCheckpointStore({ db: client.db('vex') });
 * const saved = await store.loadCheckpoint('nightly-2025-10-19');
 * if (saved.isOk() && saved.value) console.log(saved.value.cursor);
 * ```
 */
export class MongoCheckpointStore implements CheckpointStore {
  /** The resolved options and the collation check, or why the options are invalid (then every method returns that error). */
  readonly #context: Result<Readonly<{ store: CheckpointContext; collation: CollationCheck }>, BackfillError>;

  /** Never throws: an invalid config (`INVALID_ARGUMENT`) is returned by every method. */
  constructor(config: MongoCheckpointStoreConfig) {
    this.#context = resolveCheckpointConfig(config).map((store) =>
      Object.freeze({ store, collation: new CollationCheck(store.db, checkpointCollections(store), store.retry) }),
    );
    Object.freeze(this);
  }

  /**
   * Creates both collections (without a collation) and the failures index
   * `{ runId: 1, seq: 1 }` if missing (checkpoints are keyed by `_id`).
   * Refuses, with `INVALID_ARGUMENT` naming it and its collation, a
   * collection created beforehand whose default collation is not the simple
   * (binary) one, as the store's first `loadCheckpoint` does: under a
   * case-insensitive one, run ids differing only in case would share a
   * checkpoint and failures.
   */
  prepare(): ResultAsync<void, BackfillError> {
    return this.#context.asyncAndThen((c) => c.collation.check().andThen(() => prepareCheckpoints(c.store)));
  }

  /**
   * The run's checkpoint with the failures recorded up to it, or `null`. A
   * checkpoint document not of the shape the sink writes (edited by hand: a
   * cursor digest that is no string, a counter that is no integer from 0,
   * `completed` as text, …) is `INVALID_ARGUMENT` naming the run and the
   * field; a cursor time set as a date is read as its ISO text.
   */
  loadCheckpoint(runId: string): ResultAsync<StoredCheckpoint | null, BackfillError> {
    return this.#context.asyncAndThen((c) => c.collation.check().andThen(() => loadCheckpointFrom(c.store, runId)));
  }
}
