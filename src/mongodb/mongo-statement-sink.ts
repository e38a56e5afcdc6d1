/**
 * The statements store in MongoDB: claims as upserts on a unique
 * `(documentDigest, vulnerabilityId, productKey)` index, one transaction per
 * batch on a replica set, an idempotent write sequence on a standalone
 * server.
 *
 * @module
 */
import type { AnyBulkWriteOperation, ClientSession, Db, MongoClient, WriteConcernSettings } from 'mongodb';
import { err, errAsync, ok, ResultAsync, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
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
  boundedWriteConcern,
} from './defaults.js';
import { splitForTransactions, trustedDigests, type DocumentRecord, type TransactionLimits } from './statement-rules.js';
import { ensureCollection } from './collections.js';
import { mongoErrorToBackfill, retryOptionsFrom, withMongoRetry, type MongoRetryOptions } from './errors.js';
import { MongoCheckpointStore, type MongoWriteScope } from './mongo-checkpoint-store.js';

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
   * `wtimeoutMS` is added when it has none.
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
 * reports the same figure as one that went through first time.
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
  readonly #db: Db;
  readonly #client: MongoClient | undefined;
  readonly #statements: string;
  readonly #documents: string;
  readonly #mode: MongoTransactionMode;
  readonly #writeConcern: WriteConcernSettings;
  readonly #retry: MongoRetryOptions;
  readonly #checkpoints: MongoCheckpointStore;
  readonly #checkpointsCollection: string;
  readonly #limits: TransactionLimits;
  readonly #config: Result<void, BackfillError>;
  #transactional: Promise<boolean> | undefined;

  constructor(config: MongoStatementSinkConfig) {
    this.#db = config.db;
    this.#client = config.client ?? (config.db as { client?: MongoClient } | undefined)?.client;
    this.#statements = config.statementsCollection ?? DEFAULT_STATEMENTS_COLLECTION;
    this.#documents = config.documentsCollection ?? DEFAULT_DOCUMENTS_COLLECTION;
    this.#mode = config.transactions ?? DEFAULT_TRANSACTIONS;
    this.#writeConcern = boundedWriteConcern(config.writeConcern);
    this.#retry = retryOptionsFrom(config);
    this.#checkpointsCollection = config.checkpointsCollection ?? DEFAULT_CHECKPOINTS_COLLECTION;
    this.#limits = {
      maxClaims: config.transactionClaims ?? DEFAULT_TRANSACTION_CLAIMS,
      maxBytes: config.transactionBytes ?? DEFAULT_TRANSACTION_BYTES,
    };
    this.#checkpoints = new MongoCheckpointStore({
      db: config.db,
      ...(config.checkpointsCollection === undefined ? {} : { checkpointsCollection: config.checkpointsCollection }),
      ...(config.failuresCollection === undefined ? {} : { failuresCollection: config.failuresCollection }),
      writeConcern: this.#writeConcern,
      maxAttempts: this.#retry.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      retryDelayMs: this.#retry.delayMs ?? DEFAULT_RETRY_DELAY_MS,
      ...(config.logger === undefined ? {} : { logger: config.logger }),
    });
    this.#config =
      this.#mode !== 'auto' && this.#mode !== 'always' && this.#mode !== 'never'
        ? err(new BackfillError('INVALID_ARGUMENT', `transactions must be "auto", "always" or "never", not ${JSON.stringify(this.#mode)}.`))
        : !Number.isSafeInteger(this.#limits.maxClaims) || this.#limits.maxClaims < 1 || !(this.#limits.maxBytes >= 1)
          ? err(
              new BackfillError(
                'INVALID_ARGUMENT',
                'transactionClaims must be a whole number of at least 1 and transactionBytes a positive number of bytes.',
              ),
            )
          : ok(undefined);
  }

  #map(table: string) {
    return (e: unknown): BackfillError => mongoErrorToBackfill(e, { table });
  }

  /**
   * Creates the collections (before any transaction needs them), the unique
   * claim index, the `(vulnerabilityId, productKey)` lookup index and the
   * failures index, when missing.
   */
  prepare(): ResultAsync<void, BackfillError> {
    if (this.#config.isErr()) return errAsync(this.#config.error);
    return ResultAsync.fromPromise(
      withMongoRetry(async () => {
        // Index builds take the collection's write concern (the driver sends no per-call one).
        await this.#db.collection(this.#statements, { writeConcern: this.#writeConcern }).createIndexes([
          { key: { documentDigest: 1, vulnerabilityId: 1, productKey: 1 }, name: 'claim_key', unique: true },
          { key: { vulnerabilityId: 1, productKey: 1 }, name: 'vulnerability_product' },
        ]);
        await ensureCollection(this.#db, this.#documents, this.#writeConcern);
      }, this.#retry),
      this.#map(this.#statements),
    ).andThen(() => this.#checkpoints.prepare());
  }

  /** Whether batches run in transactions: asks the server once (`hello`) in `auto` mode. */
  usesTransactions(): ResultAsync<boolean, BackfillError> {
    if (this.#config.isErr()) return errAsync(this.#config.error);
    if (this.#mode === 'never') return ResultAsync.fromSafePromise(Promise.resolve(false));
    this.#transactional ??= withMongoRetry(() => this.#db.command({ hello: 1 }), this.#retry).then((hello) => {
      const supported = typeof hello.setName === 'string' || hello.msg === 'isdbgrid';
      if (!supported && this.#mode === 'always') {
        throw new BackfillError(
          'INVALID_ARGUMENT',
          'transactions: "always" needs a replica set or a sharded cluster; this server is standalone. Use "auto".',
        );
      }
      if (supported && this.#client === undefined) {
        throw new BackfillError('INVALID_ARGUMENT', 'transactions need the MongoClient: pass `client` along with `db`.');
      }
      return supported;
    });
    return ResultAsync.fromPromise(this.#transactional, (e) => {
      this.#transactional = undefined;
      return mongoErrorToBackfill(e, { table: this.#statements });
    });
  }

  /**
   * Of `digests`, those recorded as backfilled by a batch that reached its
   * run's checkpoint (a record written by a batch cut short before its
   * checkpoint does not count, so a resumed run backfills that document
   * again); read on the primary with majority read concern.
   */
  existingDigests(digests: readonly string[]): ResultAsync<ReadonlySet<string>, BackfillError> {
    if (digests.length === 0) return ResultAsync.fromSafePromise(Promise.resolve(new Set<string>()));
    return ResultAsync.fromPromise(
      withMongoRetry(async () => {
        const records = await this.#db
          .collection<DocumentDoc>(this.#documents)
          .find({ _id: { $in: [...digests] } }, { projection: { _id: 1, runId: 1, through: 1 }, ...DECIDING_READ })
          .toArray();
        const runs = [...new Set(records.map((r) => r.runId).filter((r): r is string => typeof r === 'string'))];
        const checkpoints =
          runs.length === 0
            ? []
            : await this.#db
                .collection<{ _id: string; counters: { evaluated: number } }>(this.#checkpointsCollection)
                .find({ _id: { $in: runs } }, { projection: { _id: 1, 'counters.evaluated': 1 }, ...DECIDING_READ })
                .toArray();
        return trustedDigests(records as DocumentRecord[], new Map(checkpoints.map((c) => [c._id, Number(c.counters.evaluated)])));
      }, this.#retry),
      this.#map(this.#documents),
    );
  }

  /** Writes the batch (claims, document records, failures, checkpoint): in one transaction when available. */
  commitBatch(batch: StatementBatch): ResultAsync<StatementBatchResult, BackfillError> {
    return this.usesTransactions().andThen((tx) =>
      ResultAsync.fromPromise(tx ? this.#inTransaction(batch) : this.#sequence(batch), this.#map(this.#statements)),
    );
  }

  /**
   * One transaction per part of the batch (see {@link splitForTransactions});
   * the last part also writes the failures and the checkpoint. A part that
   * commits before a later one fails is harmless: its document records are
   * not trusted until the checkpoint covers them, and replaying it is
   * idempotent.
   */
  async #inTransaction(batch: StatementBatch): Promise<StatementBatchResult> {
    const parts = splitForTransactions(batch.documents, this.#limits, (c) => Buffer.byteLength(JSON.stringify(c)));
    let claimsWritten = 0;
    const session = this.#client!.startSession();
    try {
      for (const [i, documents] of parts.entries()) {
        const last = i === parts.length - 1;
        let written = 0;
        // withTransaction retries TransientTransactionError and unknown commit results itself.
        await session.withTransaction(
          async () => {
            written = await this.#writeClaims(batch, documents, { session }, (fn) => fn());
            if (last) await this.#checkpoints.save(batch.runId, batch.failures, batch.checkpoint, { session });
          },
          {
            writeConcern: this.#writeConcern,
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
  async #sequence(batch: StatementBatch): Promise<StatementBatchResult> {
    const step = <T>(fn: () => Promise<T>, what: string): Promise<T> => withMongoRetry(fn, { ...this.#retry, what });
    const claimsWritten = await this.#writeClaims(batch, batch.documents, {}, step);
    await step(() => this.#checkpoints.save(batch.runId, batch.failures, batch.checkpoint, {}), 'save checkpoint');
    return { claimsWritten };
  }

  /**
   * `documents`' writes: (`force`: delete their claims), upsert the claims,
   * upsert the document records (tagged with the run and the checkpoint
   * position that makes them count).
   */
  async #writeClaims(
    batch: StatementBatch,
    documents: readonly DocumentClaims[],
    scope: MongoWriteScope,
    step: <T>(fn: () => Promise<T>, what: string) => Promise<T>,
  ): Promise<number> {
    if (documents.length === 0) return 0;
    const opts = scope.session === undefined ? { writeConcern: this.#writeConcern } : { session: scope.session as ClientSession };
    const digests = documents.map((d) => d.digest);
    const now = new Date();
    let claimsWritten = 0;
    const statements = this.#db.collection<ClaimDoc>(this.#statements);
    if (batch.force) await step(() => statements.deleteMany({ documentDigest: { $in: digests } }, opts), 'delete replaced claims');
    const claims = documents.flatMap((d) => d.claims);
    if (claims.length > 0) {
      const r = await step(
        () =>
          statements.bulkWrite(
            claims.map((c) => claimUpsert(c, batch.runId, now)),
            { ordered: false, ...opts },
          ),
        'upsert claims',
      );
      claimsWritten = r.upsertedCount + r.matchedCount;
    }
    const through = batch.checkpoint.counters.evaluated;
    await step(
      () =>
        this.#db.collection<DocumentDoc>(this.#documents).bulkWrite(
          documents.map((d) => ({
            updateOne: {
              filter: { _id: d.digest },
              update: { $set: { format: d.format, claims: d.claims.length, runId: batch.runId, through, backfilledAt: now } },
              upsert: true,
            },
          })),
          { ordered: false, ...opts },
        ),
      'record backfilled documents',
    );
    return claimsWritten;
  }

  /** The run's checkpoint with all of its recorded failures, or `null`. */
  loadCheckpoint(runId: string): ResultAsync<StoredCheckpoint | null, BackfillError> {
    return this.#checkpoints.loadCheckpoint(runId);
  }

  /** Nothing to release: the caller owns the client. */
  async close(): Promise<void> {}
}
