/**
 * MongoDB implementation of the staging port: unordered bulk inserts into
 * `<collection>__incoming` (created with the live collection's options),
 * counted with `countDocuments` on the primary, then renamed over the live
 * collection with `dropTarget`. Locks and commit progress are documents in
 * a state collection, so a crash is recovered deterministically.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { AnyBulkWriteOperation, Collection, Db, Document, WriteConcernSettings } from 'mongodb';
import { err, errAsync, ok, okAsync, Result, ResultAsync, safeTry } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { throwIfAborted, type Logger } from '../_internals/logger.js';
import type {
  StagingCommitInfo,
  StagingRow,
  StagingRowReject,
  StagingSession,
  StagingSessionOptions,
  StagingTarget,
} from '../staging/staging-target.js';
import { checkDocumentSize, sendInLanes, validateBatchLimits, type BatchLimits } from './batching.js';
import { loadBson, loadUpdateStatement, type Bson, type UpdateStatementMaker } from './bson.js';
import { dropIfExists } from './collections.js';
import { collectionNameProblem, databaseOf, invalid, resolveRetry, wholeNumber } from './config.js';
import {
  beginProblem,
  type BeginProblem,
  commitEntryState,
  planRecovery,
  type CommitEntry,
  type CommitRecord,
  type ObservedCollections,
  type StagingMarker,
} from './staging-state.js';
import { incomingOptions, retriedInsertDuplicates } from './staging-rules.js';
import {
  DEFAULT_INSERTION_WORKERS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_MAX_BSON_OBJECT_SIZE,
  DEFAULT_MONGO_BATCH_BYTES,
  DEFAULT_MONGO_BATCH_SIZE,
  DEFAULT_RETRY_DELAY_MS,
  DEFAULT_STAGING_MODE,
  DEFAULT_STAGING_STATE_COLLECTION,
  DECIDING_READ,
  boundedWriteConcern,
  INCOMING_SUFFIX,
  MAX_INSERTION_WORKERS,
} from './defaults.js';
import { isRetryableMongoError, mongoErrorCode, mongoErrorToBackfill, withMongoRetry, type MongoRetryOptions } from './errors.js';
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
   * Write concern of every insert, create, index build, rename and drop; a
   * `wtimeoutMS` of {@link DEFAULT_MONGO_TIMEOUT_MS} is added when it has none.
   * @defaultValue {@link DEFAULT_WRITE_CONCERN} (`{ w: 'majority', wtimeoutMS: 60000 }`)
   */
  readonly writeConcern?: WriteConcernSettings;
  /**
   * Collection holding the target's locks and commit progress (one small
   * document per staging collection and per commit).
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

/** The target's options, resolved and validated once by the constructor (frozen). */
type StagingContext = Readonly<{
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
 * A staging session over `<collection>__incoming` collections. Its `load`
 * also takes an optional {@link StagingRowReject}.
 *
 * @example
 * ```ts
 * const result = await target.begin({ strategy: 'swap', dryRun: false, tables: ['linksets_raw'] });
 * if (result.isErr()) throw result.error;
 * const session = result.value;
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

/** Runs `fn` and maps what it throws. */
function attempt<T>(fn: () => Promise<T>, table?: string): ResultAsync<T, BackfillError> {
  return ResultAsync.fromPromise(fn(), (e) => mongoErrorToBackfill(e, table === undefined ? {} : { table }));
}

/** Collection name → UUID (hex) of those of `names` that exist. */
async function observe(db: Db, names: readonly string[]): Promise<Map<string, string>> {
  const infos = await db.listCollections({ name: { $in: [...names] } }).toArray();
  return new Map(infos.map((c) => [c.name, uuidHex((c as { info?: { uuid?: unknown } }).info?.uuid)]));
}

function uuidHex(uuid: unknown): string {
  const u = uuid as { toString?: (encoding: string) => string } | undefined;
  return typeof u?.toString === 'function' ? u.toString('hex') : '';
}

/** The live collection's secondary indexes, recreated on the incoming one before the commit point. */
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
  readonly #r: StagingContext;
  readonly #bson: Bson;
  readonly #statement: UpdateStatementMaker;
  readonly #maxBson: number;
  readonly #options: StagingSessionOptions;
  /** Live collection → the collection this session loads. */
  readonly #dest: ReadonlyMap<string, string>;
  /** Staging collection → the UUID of the collection this session created. */
  readonly #uuids: ReadonlyMap<string, string>;
  readonly #token: string;
  #done = false;
  /** The recorded commit's entries, once its record is written (a second `commit()` only rolls it forward). */
  #committed: readonly CommitEntry[] | undefined;

  constructor(
    r: StagingContext,
    parts: { bson: Bson; statement: UpdateStatementMaker; maxBson: number; token: string },
    options: StagingSessionOptions,
    dest: ReadonlyMap<string, string>,
    uuids: ReadonlyMap<string, string>,
  ) {
    this.#r = r;
    this.#bson = parts.bson;
    this.#statement = parts.statement;
    this.#maxBson = parts.maxBson;
    this.#token = parts.token;
    this.#options = options;
    this.#dest = dest;
    this.#uuids = uuids;
  }

  #destOf(table: string): Result<string, BackfillError> {
    const dest = this.#dest.get(table);
    return dest === undefined ? invalid(`collection ${JSON.stringify(table)} is not part of this session.`, { table }) : ok(dest);
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
    return this.#destOf(table).asyncAndThen((dest) => attempt(() => this.#load(table, dest, batches, reject), table));
  }

  /** Rows → sized documents; a record that cannot become a document stops the load (or goes to `reject`). */
  async *#documents(
    table: string,
    batches: AsyncIterable<readonly StagingRow[]>,
    reject: StagingRowReject | undefined,
  ): AsyncGenerator<Sized[]> {
    for await (const batch of batches) {
      throwIfAborted(this.#options.signal);
      const out: Sized[] = [];
      for (const row of batch as readonly StagingRow[]) {
        const where = { table, id: row.id, ...(typeof row.line === 'number' ? { line: row.line } : {}) };
        const sized = recordToDocument(row.raw, row.id, this.#bson, where).andThen((doc) =>
          checkDocumentSize(
            doc,
            this.#bson,
            this.#maxBson,
            where,
            this.#r.mode === 'upsert' ? (d) => this.#statement({ _id: d._id }, d, { upsert: true, multi: false }) : undefined,
          ).map((bytes) => ({
            doc,
            bytes,
          })),
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
  async #load(
    table: string,
    dest: string,
    batches: AsyncIterable<readonly StagingRow[]>,
    reject: StagingRowReject | undefined,
  ): Promise<number> {
    const collection = this.#r.db.collection(dest);
    return sendInLanes(this.#documents(table, batches, reject), {
      lanes: this.#r.workers,
      keyOf: (s) => mongoIdText(s.doc._id) ?? String(s.doc._id),
      sizeOf: (s) => s.bytes,
      limits: this.#r.limits,
      uniqueKeysPerBatch: this.#r.mode === 'upsert',
      send: (batch) =>
        this.#write(
          collection,
          batch.map((s) => s.doc),
          table,
        ),
    });
  }

  /**
   * One unordered bulk write, retried on retryable errors. Upserts are safe
   * to repeat as they are. An id repeated within an insert batch is
   * `DUPLICATE_ID` before anything is sent. A repeated insert may find some
   * of the batch already written by the lost attempt: a duplicate-key error
   * is accepted only when the stored document is byte for byte the one this
   * batch sent; any other is a real duplicate (`DUPLICATE_ID`).
   */
  async #write(collection: Collection, docs: MongoDocument[], table: string): Promise<void> {
    const ids = (index: number): string | undefined => mongoIdText(docs[index]?._id);
    const writeConcern = this.#r.writeConcern;
    if (this.#r.mode === 'insert') {
      const seen = new Set<string>();
      for (const doc of docs) {
        const id = mongoIdText(doc._id) ?? String(doc._id);
        if (seen.has(id))
          throw new BackfillError(
            'DUPLICATE_ID',
            `MongoDB (${table}): duplicate id ${JSON.stringify(id)}; remove one of the records that share it.`,
            { context: { table, id } },
          );
        seen.add(id);
      }
    }
    try {
      await withMongoRetry(
        async (n) => {
          if (this.#r.mode === 'upsert') {
            await collection.bulkWrite(
              docs.map(
                (doc): AnyBulkWriteOperation => ({
                  replaceOne: { filter: { _id: doc._id as Document['_id'] }, replacement: doc, upsert: true },
                }),
              ),
              { ordered: false, writeConcern },
            );
            return;
          }
          try {
            await collection.insertMany(docs, { ordered: false, writeConcern });
          } catch (error) {
            if (n > 1 && (await this.#lostAttemptOnly(collection, docs, error))) {
              (this.#options.logger ?? this.#r.logger)?.warn('retried insert found documents of the lost attempt already in place', {
                table,
                batch: docs.length,
              });
              return;
            }
            throw error;
          }
        },
        this.#retry(`write into ${table}`),
      );
    } catch (error) {
      throw mongoErrorToBackfill(error, { table, batch: docs.length }, ids);
    }
  }

  /** True when every failed write of a retried insert is a duplicate of a document this very batch sent (the lost attempt's). */
  async #lostAttemptOnly(collection: Collection, docs: MongoDocument[], error: unknown): Promise<boolean> {
    const failed = retriedInsertDuplicates(error, docs.length);
    if (failed === undefined) return false;
    const sent = failed.map((i) => docs[i]!);
    const stored = await collection.find({ _id: { $in: sent.map((d) => d._id) } } as Document, DECIDING_READ).toArray();
    const bytes = (d: Document): string => Buffer.from(this.#bson.serialize(d)).toString('base64');
    const storedById = new Map(stored.map((d) => [mongoIdText(d._id) ?? String(d._id), bytes(d)]));
    return sent.every((d) => storedById.get(mongoIdText(d._id) ?? String(d._id)) === bytes(d));
  }

  /** Counted on the primary, majority committed: the count decides whether the import commits. */
  count(table: string): ResultAsync<number, BackfillError> {
    return this.#destOf(table).asyncAndThen((dest) =>
      attempt(
        () => withMongoRetry(() => this.#r.db.collection(dest).countDocuments({}, DECIDING_READ), this.#retry(`count ${table}`)),
        table,
      ),
    );
  }

  commit(): ResultAsync<StagingCommitInfo, BackfillError> {
    if (this.#done) return errAsync(new BackfillError('INVALID_ARGUMENT', 'This staging session has already ended.'));
    if (this.#options.dryRun) return errAsync(new BackfillError('INVALID_ARGUMENT', 'A dry-run session cannot commit; call abort().'));
    return attempt(() => this.#commit());
  }

  /**
   * Writes the commit record (the commit point), then puts each incoming
   * collection in place: `swap` renames it over the live one (after building
   * the live indexes on it); `truncate` empties the live collection in
   * place and `$merge`s the loaded documents into it (renamed instead when
   * the live collection does not exist yet). A step whose reply is lost is
   * checked by UUID and by the record, never repeated blindly. A failure
   * before the commit point replaces nothing; after it
   * (`COMMIT_INCOMPLETE`), calling `commit()` again or `dropLeftovers()`
   * finishes the commit.
   */
  async #commit(): Promise<StagingCommitInfo> {
    throwIfAborted(this.#options.signal);
    this.#committed ??= await this.#recordCommit();
    const entries = this.#committed;
    const since = process.hrtime.bigint();
    const replaced: string[] = [];
    for (const entry of entries) {
      try {
        await rollForward(this.#r, this.#record, entry, [], this.#retry(`put ${entry.incoming} in place`));
        replaced.push(entry.live);
      } catch (error) {
        const pending = entries.map((e) => e.live).filter((t) => !replaced.includes(t));
        const mapped = mongoErrorToBackfill(error, { table: entry.live });
        throw new BackfillError(
          'COMMIT_INCOMPLETE',
          `${mapped.message} The commit is recorded; replaced: ${replaced.join(', ') || 'none'}; not yet replaced: ${pending.join(', ')}. Call commit() again, or dropLeftovers() once no import runs, to finish it.`,
          {
            cause: error,
            context: { ...mapped.context, renamed: replaced, pending },
            ...(mapped.dbCode === undefined ? {} : { dbCode: mapped.dbCode }),
          },
        );
      }
    }
    const lockHeldMs = Number(process.hrtime.bigint() - since) / 1e6;
    this.#done = true;
    await forgetSession(this.#r, this.#token).catch((e: unknown) => {
      (this.#options.logger ?? this.#r.logger)?.warn(
        'the commit is complete, but its state record could not be removed; dropLeftovers() removes it',
        { error: String(e) },
      );
    });
    const copies = entries.some((e) => e.method === 'copy');
    return { lockMode: copies ? 'none: deleteMany + $merge (per collection)' : 'renameCollection (per collection)', lockHeldMs };
  }

  get #record(): string {
    return `commit:${this.#token}`;
  }

  /**
   * How each collection goes in place: `truncate` copies into a live
   * collection that exists (keeping its identity), anything else renames.
   */
  async #plan(): Promise<CommitEntry[]> {
    const live =
      this.#options.strategy === 'truncate'
        ? await withMongoRetry(() => observe(this.#r.db, [...this.#dest.keys()]), this.#r.retry)
        : new Map();
    return [...this.#dest].map(([table, incoming]) => ({
      live: table,
      incoming,
      uuid: this.#uuids.get(incoming)!,
      method: live.has(table) ? 'copy' : 'rename',
    }));
  }

  /** Builds the live indexes on the incoming collections, then writes the commit record: the commit point. */
  async #recordCommit(): Promise<readonly CommitEntry[]> {
    const { db, writeConcern } = this.#r;
    const entries = await this.#plan().catch((e: unknown) => {
      throw mongoErrorToBackfill(e);
    });
    // Also before a copy: a unique index the new documents break fails here, before anything live changes.
    for (const { live, incoming } of entries) {
      await withMongoRetry(() => copyIndexes(db, live, incoming, writeConcern), this.#retry(`indexes of ${live}`)).catch((e: unknown) => {
        throw mongoErrorToBackfill(e, { table: live });
      });
    }
    const record: CommitRecord = {
      _id: this.#record,
      kind: 'commit',
      session: this.#token,
      tables: entries,
      copied: [],
      startedAt: new Date(),
    };
    await writeOnce(
      () => stateCollection(this.#r).insertOne(record as unknown as Document, { writeConcern }),
      this.#retry('record the commit'),
    ).catch((e: unknown) => {
      const mapped = mongoErrorToBackfill(e);
      throw new BackfillError(
        mapped.code,
        `${mapped.message} The commit was not recorded, so no collection was replaced${isRetryableMongoError(e) ? ' (unless the record reached the server: dropLeftovers() decides from it)' : ''}.`,
        {
          cause: e,
          context: mapped.context,
          ...(mapped.dbCode === undefined ? {} : { dbCode: mapped.dbCode }),
        },
      );
    });
    return entries;
  }

  /**
   * Drops the collections this session created (matched by UUID, so a
   * collection someone else put under the same name is never dropped) and
   * releases its markers. After a recorded commit it changes nothing: the
   * commit must roll forward, through `dropLeftovers()`.
   */
  abort(): ResultAsync<void, BackfillError> {
    if (this.#done) return okAsync(undefined);
    this.#done = true;
    if (this.#committed !== undefined) {
      (this.#options.logger ?? this.#r.logger)?.warn(
        'abort after the commit was recorded changes nothing; call dropLeftovers() to finish the commit',
      );
      return okAsync(undefined);
    }
    return attempt(async () => {
      // A commit record whose write reply was lost still commits: roll forward, never back.
      const recorded = await withMongoRetry(
        () => stateCollection(this.#r).findOne({ _id: `commit:${this.#token}` } as Document, DECIDING_READ),
        this.#r.retry,
      );
      if (recorded !== null) {
        (this.#options.logger ?? this.#r.logger)?.warn(
          'the commit was recorded; abort changes nothing; call dropLeftovers() to finish the commit',
        );
        return;
      }
      await releaseSession(this.#r, this.#token, this.#uuids);
    });
  }
}

/** The staging collection of `collection` on a real import. */
function incomingName(collection: string): string {
  return `${collection}${INCOMING_SUFFIX}`;
}

/** Live collection → the collection a session with `options` loads; a table not configured is `INVALID_ARGUMENT`. */
function stagingNames(r: StagingContext, options: StagingSessionOptions): Result<Map<string, string>, BackfillError> {
  const unknown = options.tables.find((table) => !r.collections.includes(table));
  if (unknown !== undefined)
    return invalid(`collection ${JSON.stringify(unknown)} is not one of this target's collections.`, { table: unknown });
  return ok(new Map(options.tables.map((table) => [table, options.dryRun ? `${table}__dryrun` : incomingName(table)])));
}

/** The configured limit, else the server's `maxBsonObjectSize`, else 16 MiB. */
async function maxBsonObjectSize(r: StagingContext): Promise<number> {
  if (r.maxBsonObjectSize !== undefined) return r.maxBsonObjectSize;
  const hello = await withMongoRetry(() => r.db.command({ hello: 1 }), r.retry);
  const reported = (hello as { maxBsonObjectSize?: unknown }).maxBsonObjectSize;
  return typeof reported === 'number' && reported > 0 ? reported : DEFAULT_MAX_BSON_OBJECT_SIZE;
}

/** Takes the markers, checks and creates the staging collections; on failure releases what it took. */
async function claim(
  r: StagingContext,
  dest: ReadonlyMap<string, string>,
  options: ReadonlyMap<string, Document>,
  token: string,
): Promise<Map<string, string>> {
  const uuids = new Map<string, string>();
  try {
    for (const [table, name] of dest) {
      const marker: StagingMarker = { _id: name, kind: 'marker', live: table, session: token, uuid: null, startedAt: new Date() };
      let held = false;
      try {
        await writeOnce(() => stateCollection(r).insertOne(marker as unknown as Document, { writeConcern: r.writeConcern }), r.retry);
      } catch (error) {
        if (mongoErrorCode(error) !== 11000) throw error;
        held = true;
      }
      const problem = beginProblem(name, held, await withMongoRetry(() => observe(r.db, [name]), r.retry));
      if (problem !== undefined) throw lockedError(problem, table, name);
      await withMongoRetry(() => r.db.createCollection(name, { ...options.get(table), writeConcern: r.writeConcern }), r.retry);
      const uuid = (await withMongoRetry(() => observe(r.db, [name]), r.retry)).get(name);
      if (uuid === undefined)
        throw new BackfillError('MONGO_ERROR', `collection ${name} was created but is not listed; import again.`, {
          context: { table, collection: name },
        });
      uuids.set(name, uuid);
      await withMongoRetry(
        () => stateCollection(r).updateOne({ _id: name, session: token } as Document, { $set: { uuid } }, { writeConcern: r.writeConcern }),
        r.retry,
      );
    }
    return uuids;
  } catch (error) {
    await releaseSession(r, token, uuids).catch(() => undefined);
    throw error;
  }
}

function lockedError(problem: BeginProblem, table: string, name: string): BackfillError {
  const message =
    problem === 'held'
      ? `collection ${name} is held by another import into ${table}, or by a crashed one. If none is running, call dropLeftovers() and import again.`
      : `collection ${name} exists but was not created by this library for an import; it is left alone. Rename or drop it yourself, then import again.`;
  return new BackfillError('LOCKED', message, { context: { table, collection: name } });
}

/**
 * The `create` options of each staging collection, from its live
 * collection (see {@link incomingOptions}); decided before anything is
 * locked or created, so a refused collection changes nothing.
 */
function stagingOptions(r: StagingContext, tables: readonly string[]): ResultAsync<Map<string, Document>, BackfillError> {
  return safeTry(async function* () {
    const live = yield* attempt(() => withMongoRetry(() => r.db.listCollections({ name: { $in: [...tables] } }).toArray(), r.retry));
    const liveInfo = new Map(live.map((c) => [c.name, c as Document]));
    const shardedTables = yield* attempt(() => sharded(r, tables));
    const options = yield* Result.combine(tables.map((t) => incomingOptions(t, liveInfo.get(t), shardedTables.has(t))));
    return ok(new Map(tables.map((t, i) => [t, options[i]!])));
  });
}

/** Which of `tables` are sharded (asked of `config.collections` on a mongos only). */
async function sharded(r: StagingContext, tables: readonly string[]): Promise<Set<string>> {
  const hello = await withMongoRetry(() => r.db.command({ hello: 1 }), r.retry);
  if (hello.msg !== 'isdbgrid') return new Set();
  const prefix = `${r.db.databaseName}.`;
  const rows = await r.db.client
    .db('config')
    .collection('collections')
    .find({ _id: { $in: tables.map((t) => `${prefix}${t}`) } } as Document, { projection: { _id: 1 } })
    .toArray();
  return new Set(rows.map((row) => String(row._id).slice(prefix.length)));
}

/** See {@link MongoStagingTarget.dropLeftovers}. */
async function recoverLeftovers(r: StagingContext): Promise<MongoLeftovers> {
  const docs = await withMongoRetry(() => stateCollection(r).find({}, DECIDING_READ).toArray(), r.retry);
  const markers = docs.filter((d) => d.kind === 'marker') as unknown as StagingMarker[];
  const commits = docs.filter((d) => d.kind === 'commit') as unknown as CommitRecord[];
  const staging = r.collections.flatMap((c) => [incomingName(c), `${c}__dryrun`]);
  const names = [
    ...new Set([
      ...staging,
      ...r.collections,
      ...markers.map((m) => m._id),
      ...commits.flatMap((c) => c.tables.flatMap((t) => [t.live, t.incoming])),
    ]),
  ];
  const observed: ObservedCollections = await withMongoRetry(() => observe(r.db, names), r.retry);
  const dropped: string[] = [];
  const completed: string[] = [];
  const notOurs: string[] = [];
  const lost: string[] = [];
  for (const step of planRecovery(markers, commits, observed, staging)) {
    if (step.kind === 'drop') {
      await withMongoRetry(() => dropIfExists(r.db, step.collection, r.writeConcern), r.retry);
      dropped.push(step.collection);
    } else if (step.kind === 'finish') {
      await rollForward(r, step.record, step.entry, step.copied, r.retry);
      completed.push(step.entry.live);
    } else if (step.kind === 'foreign') notOurs.push(step.collection);
    else if (step.kind === 'lost') lost.push(step.live);
    else if (step.kind === 'forget') await forgetSession(r, step.session);
  }
  if (lost.length > 0) {
    throw new BackfillError(
      'COMMIT_INCOMPLETE',
      `a recorded commit cannot be finished: the new ${lost.join(', ')} ${lost.length === 1 ? 'is' : 'are'} gone; restore from a backup or import again, then delete the commit record from ${r.state}.`,
      { context: { lost, dropped, completed } },
    );
  }
  return { dropped, completed, notOurs };
}

function stateCollection(r: StagingContext): Collection {
  return r.db.collection(r.state);
}

/**
 * Runs an insert that may be retried: a duplicate key on a retry means the
 * lost attempt was applied.
 */
async function writeOnce(fn: () => Promise<unknown>, retry: MongoRetryOptions): Promise<void> {
  await withMongoRetry(async (n) => {
    try {
      await fn();
    } catch (error) {
      if (n > 1 && mongoErrorCode(error) === 11000) return;
      throw error;
    }
  }, retry);
}

/**
 * Puts `entry` in place unless that already happened, retried, deciding
 * from UUIDs and the record's `copied` list each time: a `rename` entry is
 * renamed over its live collection; a `copy` entry empties the live
 * collection, `$merge`s the incoming one into it, notes that in the commit
 * record, then drops the incoming one. Every step can be repeated.
 */
async function rollForward(
  r: StagingContext,
  record: string,
  entry: CommitEntry,
  copied: readonly string[],
  retry: MongoRetryOptions,
): Promise<void> {
  let done = copied;
  await withMongoRetry(async () => {
    const state = commitEntryState(entry, await observe(r.db, [entry.live, entry.incoming]), done);
    if (state === 'done') return;
    if (state === 'lost') {
      throw new BackfillError(
        'COMMIT_INCOMPLETE',
        `collection ${entry.incoming} of a recorded commit is gone and ${entry.live} does not hold its documents; restore ${entry.live} from a backup or import again.`,
        { context: { table: entry.live, collection: entry.incoming } },
      );
    }
    if (entry.method !== 'copy') {
      await r.db.renameCollection(entry.incoming, entry.live, { dropTarget: true, writeConcern: r.writeConcern });
      return;
    }
    if (!done.includes(entry.live)) {
      await copyOver(r, record, entry);
      done = [...done, entry.live];
    }
    await dropIfExists(r.db, entry.incoming, r.writeConcern);
  }, retry);
}

/** The `truncate` commit of one collection: empty it in place, `$merge` the loaded documents in, record that. */
async function copyOver(r: StagingContext, record: string, entry: CommitEntry): Promise<void> {
  const { db, writeConcern } = r;
  await db.collection(entry.live).deleteMany({}, { writeConcern });
  await db
    .collection(entry.incoming)
    .aggregate([{ $merge: { into: entry.live, on: '_id', whenMatched: 'replace', whenNotMatched: 'insert' } }], {
      writeConcern,
      readPreference: 'primary',
    })
    .toArray();
  await stateCollection(r).updateOne({ _id: record } as Document, { $addToSet: { copied: entry.live } }, { writeConcern });
}

/** Removes a session's markers and commit record. */
async function forgetSession(r: StagingContext, session: string): Promise<void> {
  await withMongoRetry(() => stateCollection(r).deleteMany({ session }, { writeConcern: r.writeConcern }), r.retry);
}

/** Drops the collections the session created (by UUID), then forgets it. */
async function releaseSession(r: StagingContext, session: string, uuids: ReadonlyMap<string, string>): Promise<void> {
  const observed = await withMongoRetry(() => observe(r.db, [...uuids.keys()]), r.retry);
  for (const [name, uuid] of uuids) {
    if (observed.get(name) === uuid)
      await withMongoRetry(() => dropIfExists(r.db, name, r.writeConcern), { ...r.retry, what: `drop ${name}` });
  }
  await forgetSession(r, session);
}

/** Validates a {@link MongoStagingTargetConfig} once; a bad collection name or limit is `INVALID_ARGUMENT`. */
function resolveStagingConfig(config: MongoStagingTargetConfig): Result<StagingContext, BackfillError> {
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
    if (config.maxBsonObjectSize !== undefined && !(config.maxBsonObjectSize > 0))
      return invalid('maxBsonObjectSize must be a positive number of bytes.');
    return ok(
      Object.freeze({
        db,
        mode,
        collections: Object.freeze([...config.collections]),
        limits,
        workers,
        writeConcern: boundedWriteConcern(config.writeConcern),
        state: config.stateCollection ?? DEFAULT_STAGING_STATE_COLLECTION,
        retry,
        maxBsonObjectSize: config.maxBsonObjectSize,
        logger: config.logger,
      }),
    );
  });
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
        const uuids = yield* attempt(() => claim(r, dest, createOptions, token));
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
    return this.#context.asyncAndThen((r) => attempt(() => recoverLeftovers(r)));
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
   * step, never half-deleted.
   */
  truncate(): ResultAsync<void, BackfillError> {
    return this.#context.asyncAndThen((r) =>
      this.begin({ strategy: 'swap', dryRun: false, tables: r.collections }).andThen((session) =>
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
