/**
 * Defaults of the MongoDB adapters, in one place so the docs and the code
 * agree. Where mongoimport has the same knob, the default is the same or
 * safer.
 *
 * @module
 */
import type { WriteConcernSettings } from 'mongodb';

/** Documents per bulk insert (mongoimport `--batchSize` default: 1000). */
export const DEFAULT_MONGO_BATCH_SIZE = 1000;

/**
 * BSON bytes per bulk insert. Well below the 48 MB wire message limit, so
 * one batch is one `insert` command and memory stays flat.
 */
export const DEFAULT_MONGO_BATCH_BYTES = 8 * 1024 * 1024;

/** How the staging target writes documents: unordered inserts (a repeated id fails the load). */
export const DEFAULT_STAGING_MODE = 'insert';

/** Bulk inserts in flight at once (mongoimport `--numInsertionWorkers`, which defaults to 1). */
export const DEFAULT_INSERTION_WORKERS = 4;

/** Largest accepted `insertionWorkers`. */
export const MAX_INSERTION_WORKERS = 64;

/**
 * The server's BSON document limit (16 MiB), used when the server does not
 * report `maxBsonObjectSize`.
 */
export const DEFAULT_MAX_BSON_OBJECT_SIZE = 16 * 1024 * 1024;

/**
 * How long a write waits for its write concern before the server answers
 * with a write-concern error instead of hanging (`wtimeout`), in
 * milliseconds; also the `maxTimeMS` of reads and `maxCommitTimeMS` of
 * transactions.
 */
export const DEFAULT_MONGO_TIMEOUT_MS = 60_000;

/**
 * Write concern of every write, DDL included (mongoimport/mongorestore
 * default to majority as well), bounded by {@link DEFAULT_MONGO_TIMEOUT_MS}.
 */
export const DEFAULT_WRITE_CONCERN = { w: 'majority', wtimeoutMS: DEFAULT_MONGO_TIMEOUT_MS } as const;

/**
 * Reads whose answer decides what is written (counts before commit,
 * checkpoints, which documents were backfilled): from the primary, majority
 * committed, never from a lagging secondary.
 */
export const DECIDING_READ = {
  readPreference: 'primary',
  readConcern: { level: 'majority' },
  maxTimeMS: DEFAULT_MONGO_TIMEOUT_MS,
} as const;

/** Collection in which the staging target records its locks and commit progress. */
export const DEFAULT_STAGING_STATE_COLLECTION = 'backfill_kit_staging';

/** Attempts of one write when the network fails (the first try included). */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** First back-off between attempts, in milliseconds; doubled after each. */
export const DEFAULT_RETRY_DELAY_MS = 100;

/** Suffix of the collection an import loads into before it is renamed over the live one. */
export const INCOMING_SUFFIX = '__incoming';

/** Suffix of the collection a dry run loads (internal). */
export const DRYRUN_SUFFIX = '__dryrun';

/** Collection the MongoDB source reads raw documents from. */
export const DEFAULT_RAW_DOCUMENTS_COLLECTION = 'raw_documents';

/** Collection the MongoDB sink writes claims to (the runbook's `vex.statements`, with `vex` as the database). */
export const DEFAULT_STATEMENTS_COLLECTION = 'statements';

/** Collection recording which documents were backfilled. */
export const DEFAULT_DOCUMENTS_COLLECTION = 'statement_documents';

/** Collection holding one checkpoint document per run id. */
export const DEFAULT_CHECKPOINTS_COLLECTION = 'statement_backfill_checkpoints';

/** Collection holding the failures recorded per run id. */
export const DEFAULT_FAILURES_COLLECTION = 'statement_backfill_failures';

/**
 * Whether the statements sink uses multi-document transactions: `auto` uses
 * them when the server is a replica set or a sharded cluster.
 */
export const DEFAULT_TRANSACTIONS = 'auto';

/**
 * The caller's write concern with the default `wtimeoutMS` added when it has
 * none, so no write waits forever for replicas that cannot answer, and
 * `w: 'majority'` when it names no `w` (the server's own default is `w: 1`
 * on a replica set with an arbiter).
 *
 * @example
 * ```ts
 * boundedWriteConcern({ w: 2 }); // { w: 2, wtimeoutMS: 60000 }
 * boundedWriteConcern({ j: true }); // { j: true, w: 'majority', wtimeoutMS: 60000 }
 * ```
 */
export function boundedWriteConcern(writeConcern: WriteConcernSettings | undefined): WriteConcernSettings {
  if (writeConcern === undefined) return DEFAULT_WRITE_CONCERN;
  return { wtimeoutMS: DEFAULT_MONGO_TIMEOUT_MS, ...writeConcern, w: writeConcern.w ?? 'majority' };
}

/**
 * Most claims one statements transaction writes. The MongoDB manual advises
 * modifying at most 1,000 documents per transaction; larger batches are
 * split so no transaction nears the 60 s `transactionLifetimeLimitSeconds`
 * or the cache pressure that aborts long transactions.
 */
export const DEFAULT_TRANSACTION_CLAIMS = 1000;

/** Most bytes of claims (UTF-8 JSON) one statements transaction writes. */
export const DEFAULT_TRANSACTION_BYTES = 4 * 1024 * 1024;
