/**
 * MongoDB implementation of the staging port: unordered bulk inserts into
 * `<collection>__incoming`, counted with `countDocuments`, then renamed over
 * the live collection with `dropTarget`.
 *
 * @module
 */
import type { AnyBulkWriteOperation, Collection, Db, Document, WriteConcernSettings } from 'mongodb';
import { err, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { throwIfAborted, type Logger } from '../_internals/logger.js';
import type { StagingCommitInfo, StagingRow, StagingRowReject, StagingSession, StagingSessionOptions, StagingTarget } from '../staging/staging-target.js';
import { checkDocumentSize, sendInLanes, validateBatchLimits, type BatchLimits } from './batching.js';
import { loadBson, type Bson } from './bson.js';
import { dropIfExists } from './collections.js';
import {
  DEFAULT_INSERTION_WORKERS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_MAX_BSON_OBJECT_SIZE,
  DEFAULT_MONGO_BATCH_BYTES,
  DEFAULT_MONGO_BATCH_SIZE,
  DEFAULT_RETRY_DELAY_MS,
  DEFAULT_STAGING_MODE,
  DEFAULT_WRITE_CONCERN,
  INCOMING_SUFFIX,
  MAX_INSERTION_WORKERS,
} from './defaults.js';
import { mongoErrorCode, mongoErrorToBackfill, withMongoRetry, type MongoRetryOptions } from './errors.js';
import { mongoIdText, recordToDocument, type MongoDocument } from './extended-json-id.js';

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
   * Write concern of every insert, rename and drop.
   * @defaultValue {@link DEFAULT_WRITE_CONCERN} (`{ w: 'majority' }`)
   */
  readonly writeConcern?: WriteConcernSettings;
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

interface Resolved {
  readonly db: Db;
  readonly mode: MongoStagingMode;
  readonly collections: readonly string[];
  readonly limits: BatchLimits;
  readonly workers: number;
  readonly writeConcern: WriteConcernSettings;
  readonly retry: MongoRetryOptions;
  readonly maxBsonObjectSize: number | undefined;
  readonly logger: Logger | undefined;
}

/**
 * A staging session over `<collection>__incoming` collections. Its `load`
 * also takes an optional {@link StagingRowReject}.
 *
 * @example
 * ```ts
 * const session = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['linksets_raw'] }))._unsafeUnwrap();
 * await session.load('linksets_raw', batches, (row, error) => console.warn(row.line, error.message));
 * ```
 */
export interface MongoStagingSession extends StagingSession {
  load(table: string, batches: AsyncIterable<readonly StagingRow[]>, reject?: StagingRowReject): ResultAsync<number, BackfillError>;
}

interface Sized {
  readonly doc: MongoDocument;
  readonly bytes: number;
}

/** A collection name MongoDB accepts, with room for the staging suffix. */
function collectionNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'must be a non-empty string';
  if (name.includes('\0') || name.includes('$')) return 'must not contain `$` or NUL';
  if (name.startsWith('system.')) return 'must not start with `system.`';
  if (name.startsWith('.') || name.endsWith('.')) return 'must not start or end with `.`';
  if (Buffer.byteLength(name) + INCOMING_SUFFIX.length > 200) return 'is too long';
  return undefined;
}

/** Runs `fn` and maps what it throws. */
function attempt<T>(fn: () => Promise<T>, table?: string): ResultAsync<T, BackfillError> {
  return ResultAsync.fromPromise(fn(), (e) => mongoErrorToBackfill(e, table === undefined ? {} : { table }));
}

/** The live collection's secondary indexes, recreated on the incoming one before the rename. */
async function copyIndexes(db: Db, from: string, to: string, writeConcern: WriteConcernSettings): Promise<number> {
  let specs: Document[];
  try {
    specs = await db.collection(from).listIndexes().toArray();
  } catch (error) {
    if (mongoErrorCode(error) === 26) return 0;
    throw error;
  }
  const copies = specs
    .filter((s) => s.name !== '_id_')
    .map((s) => {
      const { v: _v, ns: _ns, ...spec } = s;
      return spec;
    });
  if (copies.length === 0) return 0;
  await db.command({ createIndexes: to, indexes: copies, writeConcern });
  return copies.length;
}

class IncomingCollectionSession implements MongoStagingSession {
  readonly #r: Resolved;
  readonly #bson: Bson;
  readonly #maxBson: number;
  readonly #options: StagingSessionOptions;
  /** Live collection → the collection this session loads. */
  readonly #dest: ReadonlyMap<string, string>;
  #done = false;

  constructor(r: Resolved, bson: Bson, maxBson: number, options: StagingSessionOptions, dest: ReadonlyMap<string, string>) {
    this.#r = r;
    this.#bson = bson;
    this.#maxBson = maxBson;
    this.#options = options;
    this.#dest = dest;
  }

  #destOf(table: string): string {
    const dest = this.#dest.get(table);
    if (dest === undefined) throw new BackfillError('INVALID_ARGUMENT', `collection ${JSON.stringify(table)} is not part of this session.`, { context: { table } });
    return dest;
  }

  #retry(what: string): MongoRetryOptions {
    return {
      ...this.#r.retry,
      what,
      ...(this.#options.signal === undefined ? {} : { signal: this.#options.signal }),
      ...(this.#options.logger === undefined ? {} : { logger: this.#options.logger }),
    };
  }

  /**
   * Loads `table`'s incoming collection. With `reject`, a document over the
   * BSON limit is handed to it (with its line, when the row carries one) and
   * the load goes on; without, it fails the load with `DOCUMENT_TOO_LARGE`.
   */
  load(table: string, batches: AsyncIterable<readonly StagingRow[]>, reject?: StagingRowReject): ResultAsync<number, BackfillError> {
    return attempt(() => this.#load(table, batches, reject), table);
  }

  /** Rows → sized documents; a record that cannot become a document stops the load (or goes to `reject`). */
  async *#documents(table: string, batches: AsyncIterable<readonly StagingRow[]>, reject: StagingRowReject | undefined): AsyncGenerator<Sized[]> {
    for await (const batch of batches) {
      throwIfAborted(this.#options.signal);
      const out: Sized[] = [];
      for (const row of batch as readonly StagingRow[]) {
        const where = { table, id: row.id, ...(typeof row.line === 'number' ? { line: row.line } : {}) };
        const sized = recordToDocument(row.raw, row.id, this.#bson, where).andThen((doc) =>
          checkDocumentSize(doc, this.#bson, this.#maxBson, where).map((bytes) => ({ doc, bytes })),
        );
        if (sized.isOk()) out.push(sized.value);
        else if (reject !== undefined && sized.error.code === 'DOCUMENT_TOO_LARGE') await reject(row, sized.error);
        else throw sized.error;
      }
      yield out;
    }
  }

  /**
   * Spreads documents over `insertionWorkers` lanes by `_id`: every lane has
   * one bulk write in flight, and documents sharing an `_id` stay in one
   * lane, in line order, so `upsert` keeps all workers without giving up
   * "the last line wins".
   */
  async #load(table: string, batches: AsyncIterable<readonly StagingRow[]>, reject: StagingRowReject | undefined): Promise<number> {
    const collection = this.#r.db.collection(this.#destOf(table));
    return sendInLanes(this.#documents(table, batches, reject), {
      lanes: this.#r.workers,
      keyOf: (s) => mongoIdText(s.doc._id) ?? String(s.doc._id),
      sizeOf: (s) => s.bytes,
      limits: this.#r.limits,
      uniqueKeysPerBatch: this.#r.mode === 'upsert',
      send: (batch) => this.#write(collection, batch.map((s) => s.doc), table),
    });
  }

  /**
   * One unordered bulk write, retried on retryable errors. Upserts are safe
   * to repeat as they are. A repeated insert may find some of the batch
   * already written by the lost attempt: those duplicate-key errors are
   * expected and ignored, and the `countDocuments` check before commit
   * catches a genuine duplicate hidden among them.
   */
  async #write(collection: Collection, docs: MongoDocument[], table: string): Promise<void> {
    const ids = (index: number): string | undefined => mongoIdText(docs[index]?._id);
    const writeConcern = this.#r.writeConcern;
    try {
      await withMongoRetry(async (n) => {
        if (this.#r.mode === 'upsert') {
          await collection.bulkWrite(
            docs.map((doc): AnyBulkWriteOperation => ({ replaceOne: { filter: { _id: doc._id as Document['_id'] }, replacement: doc, upsert: true } })),
            { ordered: false, writeConcern },
          );
          return;
        }
        try {
          await collection.insertMany(docs, { ordered: false, writeConcern });
        } catch (error) {
          if (n > 1 && onlyDuplicates(error)) {
            (this.#options.logger ?? this.#r.logger)?.warn('retried insert found documents of the lost attempt already in place', { table, batch: docs.length });
            return;
          }
          throw error;
        }
      }, this.#retry(`write into ${table}`));
    } catch (error) {
      throw mongoErrorToBackfill(error, { table, batch: docs.length }, ids);
    }
  }

  count(table: string): ResultAsync<number, BackfillError> {
    return attempt(() => withMongoRetry(() => this.#r.db.collection(this.#destOf(table)).countDocuments({}), this.#retry(`count ${table}`)), table);
  }

  commit(): ResultAsync<StagingCommitInfo, BackfillError> {
    return attempt(() => this.#commit());
  }

  async #commit(): Promise<StagingCommitInfo> {
    if (this.#done) throw new BackfillError('INVALID_ARGUMENT', 'This staging session has already ended.');
    if (this.#options.dryRun) throw new BackfillError('INVALID_ARGUMENT', 'A dry-run session cannot commit; call abort().');
    throwIfAborted(this.#options.signal);
    const { db, writeConcern } = this.#r;
    for (const [live, incoming] of this.#dest) {
      await withMongoRetry(() => copyIndexes(db, live, incoming, writeConcern), this.#retry(`indexes of ${live}`)).catch((e: unknown) => {
        throw mongoErrorToBackfill(e, { table: live });
      });
    }
    const since = process.hrtime.bigint();
    const renamed: string[] = [];
    for (const [live, incoming] of this.#dest) {
      try {
        // One atomic rename per collection: readers see the old or the new one.
        await db.renameCollection(incoming, live, { dropTarget: true, writeConcern });
        renamed.push(live);
      } catch (error) {
        const pending = [...this.#dest.keys()].filter((t) => !renamed.includes(t));
        const mapped = mongoErrorToBackfill(error, { table: live, renamed, pending });
        throw new BackfillError(
          mapped.code,
          `${mapped.message}${renamed.length > 0 ? ` Already replaced: ${renamed.join(', ')}; not replaced: ${pending.join(', ')}.` : ' No collection was replaced.'}`,
          { cause: error, context: mapped.context, ...(mapped.dbCode === undefined ? {} : { dbCode: mapped.dbCode }) },
        );
      }
    }
    this.#done = true;
    return { lockMode: 'renameCollection (per collection)', lockHeldMs: Number(process.hrtime.bigint() - since) / 1e6 };
  }

  abort(): ResultAsync<void, BackfillError> {
    if (this.#done) return okAsync(undefined);
    this.#done = true;
    return attempt(async () => {
      for (const incoming of this.#dest.values()) {
        await withMongoRetry(() => dropIfExists(this.#r.db, incoming, this.#r.writeConcern), { ...this.#r.retry, what: `drop ${incoming}` });
      }
    });
  }
}

/** True when every write error of a bulk failure is a duplicate key. */
function onlyDuplicates(error: unknown): boolean {
  const writeErrors = (error as { writeErrors?: unknown } | null)?.writeErrors;
  const list = Array.isArray(writeErrors) ? writeErrors : writeErrors === undefined ? [] : [writeErrors];
  return list.length > 0 && list.every((w) => mongoErrorCode({ writeErrors: [w] }) === 11000);
}

/**
 * Staging collections in MongoDB, for `StagingImporter` (pass it as
 * `target`). Each import loads `<collection>__incoming` with unordered bulk
 * inserts (`insertionWorkers` in flight, batches bounded by count and by
 * BSON bytes, write concern `majority`), the importer verifies the loaded
 * count with `countDocuments` (never the driver's `insertedCount`), and
 * commit renames the incoming collection over the live one with
 * `dropTarget`, after recreating the live collection's indexes on it.
 * Until that rename the live collection is untouched; a failure or an abort
 * drops the incoming collection.
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
 * const target = MongoStagingTarget.create({ db: client.db('lnm_raw'), collections: ['linksets_raw', 'advisory_chunks_raw'] })._unsafeUnwrap();
 * const importer = new StagingImporter({ target, tables: { 'linksets.ndjson': 'linksets_raw', 'advisory_chunks.ndjson': 'advisory_chunks_raw' } });
 * const report = await importer.import('linksets-stage-backfill.tar.zst');
 * ```
 */
export class MongoStagingTarget implements StagingTarget {
  readonly #r: Resolved;

  private constructor(resolved: Resolved) {
    this.#r = resolved;
    Object.freeze(this);
  }

  /** Validates the config once; a bad collection name or limit is `INVALID_ARGUMENT`. */
  static create(config: MongoStagingTargetConfig): Result<MongoStagingTarget, BackfillError> {
    if (config === null || typeof config !== 'object' || typeof config.db?.collection !== 'function') {
      return err(new BackfillError('INVALID_ARGUMENT', '`db` must be a mongodb Db (client.db(name)).'));
    }
    if (!Array.isArray(config.collections) || config.collections.length === 0) {
      return err(new BackfillError('INVALID_ARGUMENT', '`collections` must name at least one collection.'));
    }
    for (const name of config.collections) {
      const problem = collectionNameProblem(name);
      if (problem !== undefined) return err(new BackfillError('INVALID_ARGUMENT', `collection name ${JSON.stringify(name)} ${problem}.`, { context: { table: String(name) } }));
    }
    if (new Set(config.collections).size !== config.collections.length) return err(new BackfillError('INVALID_ARGUMENT', '`collections` names a collection twice.'));
    const limits = validateBatchLimits({ maxCount: config.batchSize ?? DEFAULT_MONGO_BATCH_SIZE, maxBytes: config.batchBytes ?? DEFAULT_MONGO_BATCH_BYTES });
    if (limits.isErr()) return err(limits.error);
    const workers = config.insertionWorkers ?? DEFAULT_INSERTION_WORKERS;
    if (!Number.isSafeInteger(workers) || workers < 1 || workers > MAX_INSERTION_WORKERS) {
      return err(new BackfillError('INVALID_ARGUMENT', `insertionWorkers must be a whole number from 1 to ${MAX_INSERTION_WORKERS}.`));
    }
    const mode = config.mode ?? DEFAULT_STAGING_MODE;
    if (mode !== 'insert' && mode !== 'upsert') return err(new BackfillError('INVALID_ARGUMENT', `mode must be "insert" or "upsert", not ${JSON.stringify(mode)}.`));
    const maxAttempts = config.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) return err(new BackfillError('INVALID_ARGUMENT', 'maxAttempts must be a whole number of at least 1.'));
    if (config.maxBsonObjectSize !== undefined && !(config.maxBsonObjectSize > 0)) {
      return err(new BackfillError('INVALID_ARGUMENT', 'maxBsonObjectSize must be a positive number of bytes.'));
    }
    return ok(
      new MongoStagingTarget({
        db: config.db,
        mode,
        collections: [...config.collections],
        limits: limits.value,
        workers,
        writeConcern: config.writeConcern ?? DEFAULT_WRITE_CONCERN,
        retry: {
          maxAttempts,
          delayMs: config.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS,
          ...(config.logger === undefined ? {} : { logger: config.logger }),
        },
        maxBsonObjectSize: config.maxBsonObjectSize,
        logger: config.logger,
      }),
    );
  }

  /** The configured collection names. */
  get collections(): readonly string[] {
    return this.#r.collections;
  }

  /** The name an import loads `collection` into before the rename. */
  static incomingName(collection: string): string {
    return `${collection}${INCOMING_SUFFIX}`;
  }

  async #maxBson(): Promise<number> {
    if (this.#r.maxBsonObjectSize !== undefined) return this.#r.maxBsonObjectSize;
    const hello = await withMongoRetry(() => this.#r.db.command({ hello: 1 }), this.#r.retry);
    const reported = (hello as { maxBsonObjectSize?: unknown }).maxBsonObjectSize;
    return typeof reported === 'number' && reported > 0 ? reported : DEFAULT_MAX_BSON_OBJECT_SIZE;
  }

  /**
   * Starts an import: creates an empty `<collection>__incoming` for each
   * table (`<collection>__dryrun` on a dry run). If one exists, another
   * import is running or a crashed one left it behind, and this fails with
   * `LOCKED` rather than touch it.
   */
  begin(options: StagingSessionOptions): ResultAsync<MongoStagingSession, BackfillError> {
    return loadBson().andThen((bson) =>
      attempt(async () => {
        const { db, writeConcern } = this.#r;
        const dest = new Map<string, string>();
        for (const table of options.tables) {
          if (!this.#r.collections.includes(table)) throw new BackfillError('INVALID_ARGUMENT', `collection ${JSON.stringify(table)} is not one of this target's collections.`, { context: { table } });
          dest.set(table, options.dryRun ? `${table}__dryrun` : MongoStagingTarget.incomingName(table));
        }
        const maxBson = await this.#maxBson();
        const created: string[] = [];
        try {
          for (const [table, name] of dest) {
            try {
              await db.createCollection(name, { writeConcern });
            } catch (error) {
              if (mongoErrorCode(error) !== 48) throw error; // 48: NamespaceExists
              throw new BackfillError(
                'LOCKED',
                `collection ${name} already exists: another import into ${table} is running, or a crashed one left it. If none is running, call dropLeftovers() (or drop ${name}) and import again.`,
                { cause: error, context: { table, collection: name } },
              );
            }
            created.push(name);
          }
        } catch (error) {
          for (const name of created) await dropIfExists(db, name, writeConcern).catch(() => undefined);
          throw error;
        }
        return new IncomingCollectionSession(this.#r, bson, maxBson, options, dest) as MongoStagingSession;
      }),
    );
  }

  /**
   * Drops the `<collection>__incoming` and `<collection>__dryrun`
   * collections a killed import left behind (the cause of `LOCKED`), and
   * returns their names. Call it only when no import is running.
   */
  dropLeftovers(): ResultAsync<string[], BackfillError> {
    return attempt(async () => {
      const { db, writeConcern } = this.#r;
      const names = this.#r.collections.flatMap((c) => [MongoStagingTarget.incomingName(c), `${c}__dryrun`]);
      const present = new Set((await db.listCollections({ name: { $in: names } }, { nameOnly: true }).toArray()).map((c) => c.name));
      const dropped: string[] = [];
      for (const name of names) {
        if (!present.has(name)) continue;
        await withMongoRetry(() => dropIfExists(db, name, writeConcern), this.#r.retry);
        dropped.push(name);
      }
      return dropped;
    });
  }

  /** `countDocuments` of each configured collection (0 when it does not exist). */
  counts(): ResultAsync<Readonly<Record<string, number>>, BackfillError> {
    return attempt(async () => {
      const out: Record<string, number> = {};
      for (const name of this.#r.collections) {
        out[name] = await withMongoRetry(() => this.#r.db.collection(name).countDocuments({}), this.#r.retry);
      }
      return out;
    });
  }

  /**
   * Empties every configured collection by renaming an empty one (with the
   * same indexes) over it: each collection goes from full to empty in one
   * step, never half-deleted.
   */
  truncate(): ResultAsync<void, BackfillError> {
    return this.begin({ strategy: 'swap', dryRun: false, tables: this.#r.collections }).andThen((session) =>
      session.commit().map(() => undefined).orElse((error) => session.abort().andThen(() => err(error))),
    );
  }

  /** Nothing to release: the caller owns the client. */
  async close(): Promise<void> {}
}
