/**
 * The statements store in MongoDB: claims as upserts on a unique
 * `(documentDigest, vulnerabilityId, productKey)` index, one transaction per
 * batch on a replica set, an idempotent write sequence on a standalone
 * server.
 *
 * @module
 */
import type { AnyBulkWriteOperation, ClientSession, Db, MongoClient, WriteConcernSettings } from 'mongodb';
import { err, ok, okAsync, ResultAsync, safeTry, type Result } from 'neverthrow';
import type { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';
import type {
  DocumentClaims,
  StatementBatch,
  StatementBatchResult,
  StatementSink,
  StoredCheckpoint,
  VexClaim,
} from '../statements/ports.js';
import {
  DEFAULT_CHECKPOINTS_COLLECTION,
  DEFAULT_DOCUMENTS_COLLECTION,
  DEFAULT_FAILURES_COLLECTION,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_RETRY_DELAY_MS,
  DEFAULT_STATEMENTS_COLLECTION,
  DEFAULT_TRANSACTION_BYTES,
  DEFAULT_TRANSACTION_CLAIMS,
  DEFAULT_TRANSACTIONS,
  DEFAULT_MONGO_TIMEOUT_MS,
  DECIDING_READ,
} from './defaults.js';
import {
  keptWriters,
  splitForTransactions,
  trustedDigests,
  writerRuns,
  type DocumentRecord,
  type RecordWriter,
  type TransactionLimits,
} from './statement-rules.js';
import { CollationCheck, ensureCollection } from './collections.js';
import { collectionOption, databaseOf, distinctCollections, invalid, resolveRetry, resolveWriteConcern, wholeNumber } from './config.js';
import { mongoErrorToBackfill, withMongoRetry, type MongoRetryOptions } from './errors.js';
import {
  checkpointCollections,
  loadCheckpointFrom,
  prepareCheckpoints,
  resolveCheckpointConfig,
  saveCheckpoint,
  type CheckpointContext,
  type MongoWriteScope,
} from './mongo-checkpoint-store.js';

/** When {@link MongoStatementSink} wraps a batch in a multi-document transaction. */
export type MongoTransactionMode = 'auto' | 'always' | 'never';

/**
 * Where {@link MongoStatementSink} writes.
 *
 * @example
 * ```ts
 * const config: MongoStatementSinkConfig = { db: client.db('vex'), statementsCollection: 'statements' };
 * ```
 */
export interface MongoStatementSinkConfig {
  /** The caller's database (`client.db('vex')`). */
  readonly db: Db;
  /** The client `db` came from; needed for transactions. @defaultValue `db.client` */
  readonly client?: MongoClient;
  /** @defaultValue {@link DEFAULT_STATEMENTS_COLLECTION} (`statements`) */
  readonly statementsCollection?: string;
  /** @defaultValue {@link DEFAULT_DOCUMENTS_COLLECTION} (`statement_documents`) */
  readonly documentsCollection?: string;
  /** @defaultValue {@link DEFAULT_CHECKPOINTS_COLLECTION} (`statement_backfill_checkpoints`) */
  readonly checkpointsCollection?: string;
  /** @defaultValue {@link DEFAULT_FAILURES_COLLECTION} (`statement_backfill_failures`) */
  readonly failuresCollection?: string;
  /**
   * `auto`: a transaction per batch when the server is a replica set or a
   * sharded cluster, the idempotent sequence on a standalone server.
   * `always` fails on a standalone server instead; `never` skips transactions.
   * @defaultValue {@link DEFAULT_TRANSACTIONS} (`auto`)
   */
  readonly transactions?: MongoTransactionMode;
  /**
   * Write concern of every write and of index and collection creation; a
   * `wtimeoutMS` is added when it has none, and `w: 'majority'` when it
   * names no `w`. `w: 0` and `w: 1` are `INVALID_ARGUMENT`: which documents
   * were backfilled, and the checkpoint, are read with majority read
   * concern, which need not see a write one member acknowledged.
   * @defaultValue {@link DEFAULT_WRITE_CONCERN} (`{ w: 'majority', wtimeoutMS: 60000 }`)
   */
  readonly writeConcern?: WriteConcernSettings;
  /**
   * Most claims written by one transaction: a larger batch is split into
   * several transactions (a document's claims never straddle two), the last
   * carrying the checkpoint.
   * @defaultValue {@link DEFAULT_TRANSACTION_CLAIMS} (1000)
   */
  readonly transactionClaims?: number;
  /**
   * Most bytes of claims (as UTF-8 JSON) written by one transaction.
   * @defaultValue {@link DEFAULT_TRANSACTION_BYTES} (4 MiB)
   */
  readonly transactionBytes?: number;
  /**
   * Tries per write on network errors (standalone mode; transactions retry
   * through the driver's `withTransaction`).
   * @defaultValue {@link DEFAULT_MAX_ATTEMPTS} (3)
   */
  readonly maxAttempts?: number;
  /** @defaultValue {@link DEFAULT_RETRY_DELAY_MS} (100) */
  readonly retryDelayMs?: number;
  readonly logger?: Logger;
}

interface ClaimDoc {
  documentDigest: string;
  vulnerabilityId: string;
  productKey: string;
  status: string;
  justification: string | null;
  statement: string | null;
  issuedAt: Date | null;
  format: string;
  runId: string;
  insertedAt: Date;
}

interface DocumentDoc {
  _id: string;
  format: string;
  claims: number;
  runId: string;
  /** The run's `counters.evaluated` after this document's batch: the record counts once the checkpoint reaches it. */
  through: number;
  /** The committed writer the record had when this run overwrote it: it keeps counting until `through` is reached. */
  lastCommitted: RecordWriter | null;
  backfilledAt: Date;
}

function issuedAt(claim: VexClaim): Date | null {
  if (claim.issuedAt === undefined) return null;
  const d = new Date(claim.issuedAt);
  return Number.isNaN(d.getTime()) ? null : d;
}

function claimUpsert(claim: VexClaim, runId: string, now: Date): AnyBulkWriteOperation<ClaimDoc> {
  return {
    updateOne: {
      filter: { documentDigest: claim.documentDigest, vulnerabilityId: claim.vulnerabilityId, productKey: claim.productKey },
      update: {
        $set: {
          status: claim.status,
          justification: claim.justification ?? null,
          statement: claim.statement ?? null,
          issuedAt: issuedAt(claim),
          format: claim.format,
          runId,
        },
        $setOnInsert: { insertedAt: now },
      },
      upsert: true,
    },
  };
}

/** A sink's options, resolved and validated once by its constructor (frozen). */
type SinkContext = Readonly<{
  db: Db;
  client: MongoClient | undefined;
  statements: string;
  documents: string;
  mode: MongoTransactionMode;
  writeConcern: WriteConcernSettings;
  retry: MongoRetryOptions;
  checkpoints: CheckpointContext;
  limits: TransactionLimits;
  /** The four collections' default collations, checked once by the sink's first call. */
  collation: CollationCheck;
}>;

const TRANSACTION_MODES: readonly MongoTransactionMode[] = ['auto', 'always', 'never'];
const LIMITS_PROBLEM = 'transactionClaims must be a whole number of at least 1 and transactionBytes a positive number of bytes.';

function resolveSinkConfig(config: MongoStatementSinkConfig): Result<SinkContext, BackfillError> {
  return safeTry(function* () {
    const db = yield* databaseOf(config);
    const statements = yield* collectionOption(config.statementsCollection, DEFAULT_STATEMENTS_COLLECTION, 'statementsCollection');
    const documents = yield* collectionOption(config.documentsCollection, DEFAULT_DOCUMENTS_COLLECTION, 'documentsCollection');
    const mode = config.transactions ?? DEFAULT_TRANSACTIONS;
    if (!TRANSACTION_MODES.includes(mode)) return invalid(`transactions must be "auto", "always" or "never", not ${JSON.stringify(mode)}.`);
    const maxClaims = yield* wholeNumber(
      config.transactionClaims ?? DEFAULT_TRANSACTION_CLAIMS,
      1,
      Number.MAX_SAFE_INTEGER,
      LIMITS_PROBLEM,
    );
    const maxBytes = config.transactionBytes ?? DEFAULT_TRANSACTION_BYTES;
    if (!(maxBytes >= 1)) return invalid(LIMITS_PROBLEM);
    const writeConcern = yield* resolveWriteConcern(config.writeConcern);
    const retry = yield* resolveRetry(config);
    const checkpoints = yield* resolveCheckpointConfig({ ...config, db, writeConcern });
    yield* distinctCollections([
      [statements, 'statementsCollection'],
      [documents, 'documentsCollection'],
      [checkpoints.checkpoints, 'checkpointsCollection'],
      [checkpoints.failures, 'failuresCollection'],
    ]);
    const collation = new CollationCheck(
      db,
      [
        {
          name: statements,
          option: 'statementsCollection',
          why: 'Claims are upserted on (documentDigest, vulnerabilityId, productKey) and deleted by documentDigest under force, so claims of documents or products found equal would overwrite or delete each other.',
        },
        {
          name: documents,
          option: 'documentsCollection',
          why: "Backfilled documents are recorded and looked up by digest (_id), so a document whose digest differs from a recorded one only in case would be found already backfilled and skipped, and its record would overwrite the other's.",
        },
        ...checkpointCollections(checkpoints),
      ],
      retry,
    );
    return ok(
      Object.freeze({
        db,
        client: config.client ?? (db as { client?: MongoClient }).client,
        statements,
        documents,
        mode,
        writeConcern,
        retry,
        checkpoints,
        limits: { maxClaims, maxBytes },
        collation,
      }),
    );
  });
}

/**
 * A {@link StatementSink} (and checkpoint store) over MongoDB (the runbook's
 * `vex.statements` collection).
 *
 * - Claims live in a collection with a unique index on
 *   `(documentDigest, vulnerabilityId, productKey)`, and are written as
 *   upserts on that key, so writing a claim twice never duplicates it.
 * - On a replica set (or sharded cluster), each batch is one transaction
 *   with write concern `majority` (the collections are created by `prepare`,
 *   outside any transaction): the claims, the backfilled-document
 *   records, the failures and the checkpoint commit together or not at all.
 *   Under `force`, a document's old claims are deleted and its new ones
 *   upserted inside it, so readers see the old set or the new one.
 * - On a standalone server there are no transactions. The batch is written
 *   as a sequence in which every step can be repeated: (`force`: delete the
 *   documents' claims), upsert the claims, upsert the document records,
 *   upsert the failures, and last the checkpoint. A run cut short resumes
 *   from the previous checkpoint and repeats the batch to the same final
 *   state; meanwhile readers can see a forced document with no claims or
 *   only some of them.
 *
 * `claimsWritten` counts claims upserted or matched, so a retried batch
 * reports the same figure as one that went through first time. A
 * collection whose default collation is not the simple (binary) one is
 * refused before anything is read or written (see
 * {@link MongoStatementSink.prepare}).
 *
 * @example
 * ```ts
 * import { MongoClient } from 'mongodb';
 * import { StatementBackfiller, defaultVexNormalizers } from '@stella/backfill-kit/statements';
 * import { MongoRawDocumentSource, MongoStatementSink } from '@stella/backfill-kit/mongodb';
 *
 * const client = await MongoClient.connect(process.env.MONGO_URL!);
 * const db = client.db('vex');
 * const backfiller = new StatementBackfiller({ source: new MongoRawDocumentSource({ db }), sink: new MongoStatementSink({ db }), normalizers: defaultVexNormalizers });
 * const summary = await backfiller.run({ force: true, maxDocuments: 2000 });
 * ```
 */
export class MongoStatementSink implements StatementSink {
  /** The resolved options, or why they are invalid (then every method returns that error). */
  readonly #context: Result<SinkContext, BackfillError>;
  /** Whether the server takes transactions, asked once (`hello`) in `auto` mode. */
  #transactional: ResultAsync<boolean, BackfillError> | undefined;

  /** Never throws: an invalid config (`INVALID_ARGUMENT`) is returned by every method. */
  constructor(config: MongoStatementSinkConfig) {
    this.#context = resolveSinkConfig(config);
  }

  /**
   * Creates the collections (before any transaction needs them, and without
   * a collation), the unique claim index, the `(vulnerabilityId,
   * productKey)` lookup index and the failures index, when missing. Refuses,
   * with `INVALID_ARGUMENT` naming it and its collation, a collection
   * created beforehand (statements, documents, checkpoints or failures)
   * whose default collation is not the simple (binary) one, as the sink's
   * first `existingDigests`, `commitBatch` or `loadCheckpoint` does on a sink
   * never prepared: under, say, `{ locale: 'en', strength: 2 }` a digest
   * differing from a recorded one only in case is found already backfilled,
   * and claims or run ids differing only in case overwrite each other.
   */
  prepare(): ResultAsync<void, BackfillError> {
    return this.#context.asyncAndThen((c) =>
      c.collation.check().andThen(() =>
        ResultAsync.fromPromise(
          withMongoRetry(async () => {
            // Index builds take the collection's write concern (the driver sends no per-call one).
            await c.db.collection(c.statements, { writeConcern: c.writeConcern }).createIndexes([
              { key: { documentDigest: 1, vulnerabilityId: 1, productKey: 1 }, name: 'claim_key', unique: true },
              { key: { vulnerabilityId: 1, productKey: 1 }, name: 'vulnerability_product' },
            ]);
            await ensureCollection(c.db, c.documents, c.writeConcern);
          }, c.retry),
          mapTo(c.statements),
        ).andThen(() => prepareCheckpoints(c.checkpoints)),
      ),
    );
  }

  /** Whether batches run in transactions: asks the server once (`hello`) in `auto` mode. */
  usesTransactions(): ResultAsync<boolean, BackfillError> {
    return this.#context.asyncAndThen((c) => {
      if (c.mode === 'never') return okAsync(false);
      this.#transactional ??= askTransactions(c).orElse((e) => {
        this.#transactional = undefined; // asked again next time
        return err(e);
      });
      return this.#transactional;
    });
  }

  /**
   * Of `digests`, those recorded as backfilled by a batch that reached its
   * run's checkpoint (a record written by a batch cut short before its
   * checkpoint does not count, so a resumed run backfills that document
   * again); read on the primary with majority read concern.
   */
  existingDigests(digests: readonly string[]): ResultAsync<ReadonlySet<string>, BackfillError> {
    return this.#context.asyncAndThen((c) =>
      digests.length === 0
        ? okAsync(new Set<string>())
        : c.collation.check().andThen(() => ResultAsync.fromPromise(trustedRecords(c, digests), mapTo(c.documents))),
    );
  }

  /** Writes the batch (claims, document records, failures, checkpoint): in one transaction when available. */
  commitBatch(batch: StatementBatch): ResultAsync<StatementBatchResult, BackfillError> {
    return this.#context.asyncAndThen((c) =>
      c.collation
        .check()
        .andThen(() => this.usesTransactions())
        .andThen((tx) => ResultAsync.fromPromise(tx ? inTransactions(c, batch) : inSequence(c, batch), mapTo(c.statements))),
    );
  }

  /** The run's checkpoint with all of its recorded failures, or `null`. */
  loadCheckpoint(runId: string): ResultAsync<StoredCheckpoint | null, BackfillError> {
    return this.#context.asyncAndThen((c) => c.collation.check().andThen(() => loadCheckpointFrom(c.checkpoints, runId)));
  }

  /** Nothing to release: the caller owns the client. */
  async close(): Promise<void> {}
}

/** Maps a driver error of the named collection. */
function mapTo(table: string): (e: unknown) => BackfillError {
  return (e) => mongoErrorToBackfill(e, { table });
}

/** Asks the server (`hello`) whether it takes transactions, and checks that against the mode and the client. */
function askTransactions(c: SinkContext): ResultAsync<boolean, BackfillError> {
  return ResultAsync.fromPromise(
    withMongoRetry(() => c.db.command({ hello: 1 }), c.retry),
    mapTo(c.statements),
  ).andThen((hello) => {
    const supported = typeof hello.setName === 'string' || hello.msg === 'isdbgrid';
    if (!supported && c.mode === 'always')
      return invalid('transactions: "always" needs a replica set or a sharded cluster; this server is standalone. Use "auto".');
    if (supported && c.client === undefined) return invalid('transactions need the MongoClient: pass `client` along with `db`.');
    return ok(supported);
  });
}

/** See {@link MongoStatementSink.existingDigests}. */
async function trustedRecords(c: SinkContext, digests: readonly string[]): Promise<ReadonlySet<string>> {
  return withMongoRetry(async () => {
    const { records, evaluatedByRun } = await recordsOf(c, digests, DECIDING_READ);
    return trustedDigests(records, evaluatedByRun);
  }, c.retry);
}

/** The records of `digests`, and how far each run that decides whether they count has got (its checkpoint's `evaluated`). */
async function recordsOf(
  c: SinkContext,
  digests: readonly string[],
  read: typeof DECIDING_READ | { session: ClientSession },
): Promise<{ records: DocumentRecord[]; evaluatedByRun: Map<string, number> }> {
  const records = (await c.db
    .collection<DocumentDoc>(c.documents)
    .find({ _id: { $in: [...digests] } }, { projection: { _id: 1, runId: 1, through: 1, lastCommitted: 1 }, ...read })
    .toArray()) as DocumentRecord[];
  const runs = writerRuns(records);
  const checkpoints =
    runs.length === 0
      ? []
      : await c.db
          .collection<{ _id: string; counters: { evaluated: number } }>(c.checkpoints.checkpoints)
          .find({ _id: { $in: runs } }, { projection: { _id: 1, 'counters.evaluated': 1 }, ...read })
          .toArray();
  return { records, evaluatedByRun: new Map(checkpoints.map((cp) => [cp._id, Number(cp.counters.evaluated)])) };
}

/**
 * One transaction per part of the batch (see {@link splitForTransactions});
 * the last part also writes the failures and the checkpoint. A part that
 * commits before a later one fails is harmless: its document records are
 * not trusted until the checkpoint covers them, and replaying it is
 * idempotent.
 */
async function inTransactions(c: SinkContext, batch: StatementBatch): Promise<StatementBatchResult> {
  const parts = splitForTransactions(batch.documents, c.limits, (claim) => Buffer.byteLength(JSON.stringify(claim)));
  let claimsWritten = 0;
  // usesTransactions() answers true only with a client.
  const session = c.client!.startSession();
  try {
    for (const [i, documents] of parts.entries()) {
      const last = i === parts.length - 1;
      let written = 0;
      // withTransaction retries TransientTransactionError and unknown commit results itself.
      await session.withTransaction(
        async () => {
          written = await writeClaims(c, batch, documents, { session }, (fn) => fn());
          if (last) await saveCheckpoint(c.checkpoints, batch.runId, batch.failures, batch.checkpoint, { session });
        },
        {
          writeConcern: c.writeConcern,
          readConcern: { level: 'snapshot' },
          readPreference: 'primary',
          maxCommitTimeMS: DEFAULT_MONGO_TIMEOUT_MS,
        },
      );
      claimsWritten += written;
    }
    return { claimsWritten };
  } finally {
    await session.endSession();
  }
}

/** Without transactions: every step is an upsert or a delete by key, repeated safely; the checkpoint last. */
async function inSequence(c: SinkContext, batch: StatementBatch): Promise<StatementBatchResult> {
  const step = <T>(fn: () => Promise<T>, what: string): Promise<T> => withMongoRetry(fn, { ...c.retry, what });
  const claimsWritten = await writeClaims(c, batch, batch.documents, {}, step);
  await step(() => saveCheckpoint(c.checkpoints, batch.runId, batch.failures, batch.checkpoint, {}), 'save checkpoint');
  return { claimsWritten };
}

/**
 * `documents`' writes: (`force`: delete their claims), upsert the claims,
 * upsert the document records (tagged with the run and the checkpoint
 * position that makes them count, keeping the committed writer of a record
 * they overwrite: see {@link keptWriters}).
 */
async function writeClaims(
  c: SinkContext,
  batch: StatementBatch,
  documents: readonly DocumentClaims[],
  scope: MongoWriteScope,
  step: <T>(fn: () => Promise<T>, what: string) => Promise<T>,
): Promise<number> {
  if (documents.length === 0) return 0;
  const opts = scope.session === undefined ? { writeConcern: c.writeConcern } : { session: scope.session as ClientSession };
  const digests = documents.map((d) => d.digest);
  const now = new Date();
  let claimsWritten = 0;
  const statements = c.db.collection<ClaimDoc>(c.statements);
  if (batch.force) await step(() => statements.deleteMany({ documentDigest: { $in: digests } }, opts), 'delete replaced claims');
  const claims = documents.flatMap((d) => d.claims);
  if (claims.length > 0) {
    const r = await step(
      () =>
        statements.bulkWrite(
          claims.map((claim) => claimUpsert(claim, batch.runId, now)),
          { ordered: false, ...opts },
        ),
      'upsert claims',
    );
    claimsWritten = r.upsertedCount + r.matchedCount;
  }
  const through = batch.checkpoint.counters.evaluated;
  // Read in the same step (or transaction) as the write, so a repeated step keeps the same writer.
  const read = scope.session === undefined ? DECIDING_READ : { session: scope.session as ClientSession };
  await step(async () => {
    const { records, evaluatedByRun } = await recordsOf(c, digests, read);
    const kept = keptWriters(records, evaluatedByRun);
    return c.db.collection<DocumentDoc>(c.documents).bulkWrite(
      documents.map((d) => ({
        updateOne: {
          filter: { _id: d.digest },
          update: {
            $set: {
              format: d.format,
              claims: d.claims.length,
              runId: batch.runId,
              through,
              lastCommitted: kept.get(d.digest) ?? null,
              backfilledAt: now,
            },
          },
          upsert: true,
        },
      })),
      { ordered: false, ...opts },
    );
  }, 'record backfilled documents');
  return claimsWritten;
}
