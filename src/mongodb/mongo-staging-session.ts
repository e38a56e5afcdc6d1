/**
 * One import into MongoDB staging collections: loads, counts, commit and
 * abort (internal; {@link MongoStagingTarget.begin} opens it).
 *
 * @module
 */
import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb';
import { err, errAsync, ok, okAsync, safeTry, type Result, type ResultAsync } from 'neverthrow';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import { loggerOf, throwIfAborted } from '../_internals/logger.js';
import type { StagingCommitInfo, StagingRow, StagingRowReject, StagingSession, StagingSessionOptions } from '../staging/staging-target.js';
import { checkDocumentSize, sendInLanes } from './batching.js';
import type { Bson, UpdateStatementMaker } from './bson.js';
import { invalid } from './config.js';
import { DECIDING_READ } from './defaults.js';
import { isRetryableMongoError, mongoErrorToBackfill, withMongoRetry, type MongoRetryOptions } from './errors.js';
import { mongoIdKey, mongoIdText, recordToDocument, type MongoDocument } from './extended-json-id.js';
import type { StagingContext } from './staging-context.js';
import {
  attempt,
  copyIndexes,
  forgetSession,
  observe,
  releaseSession,
  rollForward,
  stateCollection,
  writeOnce,
} from './staging-protocol.js';
import { retriedInsertDuplicates } from './staging-rules.js';
import type { CommitEntry, CommitRecord } from './staging-state.js';

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

/** Read options that return values as the server stores them, not promoted to JavaScript values. */
const AS_STORED = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true } as const;

interface Sized {
  readonly doc: MongoDocument;
  readonly bytes: number;
}

export class IncomingCollectionSession implements MongoStagingSession {
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
    this.#options = { ...options, logger: loggerOf(options.logger, r.logger) };
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
        const sized = recordToDocument(row.raw, row.id, this.#bson, where)
          .andThen((doc) => (this.#r.mode === 'upsert' ? replaceable(doc, where) : ok(doc)))
          .andThen((doc) =>
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
      keyOf: (s) => mongoIdKey(s.doc._id),
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
      // Equal as the _id index compares them: 1 and 1.0 are one id, 1 and "1" two.
      const seen = new Set<string>();
      for (const doc of docs) {
        const key = mongoIdKey(doc._id);
        if (seen.has(key)) {
          const id = mongoIdText(doc._id) ?? String(doc._id);
          throw new BackfillError(
            'DUPLICATE_ID',
            `MongoDB (${table}): duplicate id ${JSON.stringify(id)}; remove one of the records that share it.`,
            { context: { table, id, idKey: key } },
          );
        }
        seen.add(key);
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
              this.#options.logger?.warn('retried insert found documents of the lost attempt already in place', {
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
      const keyAt = (index: number): string | undefined => (docs[index] === undefined ? undefined : mongoIdKey(docs[index]._id));
      throw mongoErrorToBackfill(error, { table, batch: docs.length }, ids, keyAt);
    }
  }

  /** True when every failed write of a retried insert is a duplicate of a document this very batch sent (the lost attempt's). */
  async #lostAttemptOnly(collection: Collection, docs: MongoDocument[], error: unknown): Promise<boolean> {
    const failed = retriedInsertDuplicates(error, docs.length);
    if (failed === undefined) return false;
    const sent = failed.map((i) => docs[i]!);
    // Read as stored: promoted values (a double 7.0 read as 7, an int64 as a number) would serialize to other bytes.
    const stored = await collection
      .find({ _id: { $in: sent.map((d) => d._id) } } as Document, { ...DECIDING_READ, ...AS_STORED })
      .toArray();
    // The server stores `_id` first wherever the document had it, so both sides are compared with `_id` first.
    const bytes = (d: Document): string => Buffer.from(this.#bson.serialize({ _id: d._id, ...d })).toString('base64');
    const storedById = new Map(stored.map((d) => [mongoIdKey(d._id), bytes(d)]));
    return sent.every((d) => storedById.get(mongoIdKey(d._id)) === bytes(d));
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
    if (this.#options.signal?.aborted === true) return errAsync(new BackfillError('ABORTED', 'The operation was aborted.'));
    const session = this;
    return safeTry(async function* () {
      // A second commit() after COMMIT_INCOMPLETE only rolls the recorded commit forward, from what the record says was copied.
      const again = session.#committed !== undefined;
      session.#committed ??= yield* session.#recordCommit();
      const entries = session.#committed;
      const copied = again ? yield* session.#copied() : [];
      const since = process.hrtime.bigint();
      const replaced: string[] = [];
      for (const entry of entries) {
        yield* rollForward(session.#r, session.#record, entry, copied, session.#retry(`put ${entry.incoming} in place`)).mapErr((e) =>
          commitIncomplete(
            e,
            replaced,
            entries.map((x) => x.live).filter((t) => !replaced.includes(t)),
          ),
        );
        replaced.push(entry.live);
      }
      const lockHeldMs = Number(process.hrtime.bigint() - since) / 1e6;
      session.#done = true;
      await forgetSession(session.#r, session.#token).catch((e: unknown) => {
        session.#options.logger?.warn('the commit is complete, but its state record could not be removed; dropLeftovers() removes it', {
          error: String(e),
        });
      });
      const copies = entries.some((e) => e.method === 'copy');
      return ok({ lockMode: copies ? 'none: deleteMany + $merge (per collection)' : 'renameCollection (per collection)', lockHeldMs });
    });
  }

  get #record(): string {
    return `commit:${this.#token}`;
  }

  /** The live collections the commit record lists as copied, read on the primary. */
  #copied(): ResultAsync<readonly string[], BackfillError> {
    const read = () => stateCollection(this.#r).findOne({ _id: this.#record } as Document, DECIDING_READ);
    return attempt(() => withMongoRetry(read, this.#r.retry)).map((doc) => (doc as CommitRecord | null)?.copied ?? []);
  }

  /**
   * How each collection goes in place: `truncate` copies into a live
   * collection that exists (keeping its identity), anything else renames.
   */
  #plan(): ResultAsync<CommitEntry[], BackfillError> {
    const live: ResultAsync<ReadonlyMap<string, string>, BackfillError> = this.#options.strategy === 'truncate'
      ? attempt(() => withMongoRetry(() => observe(this.#r.db, [...this.#dest.keys()]), this.#r.retry))
      : okAsync(new Map());
    return live.map((observed) =>
      [...this.#dest].map(([table, incoming]) => ({
        live: table,
        incoming,
        uuid: this.#uuids.get(incoming)!,
        method: observed.has(table) ? 'copy' : 'rename',
      })),
    );
  }

  /**
   * Builds the live indexes on the incoming collections (before a copy too:
   * new documents that break a unique index fail here, before anything
   * live changes), then writes the commit record: the commit point.
   */
  #recordCommit(): ResultAsync<readonly CommitEntry[], BackfillError> {
    const session = this;
    const { db, writeConcern } = this.#r;
    return safeTry(async function* () {
      const entries = yield* session.#plan();
      for (const { live, incoming } of entries) {
        yield* attempt(
          () => withMongoRetry(() => copyIndexes(db, live, incoming, writeConcern), session.#retry(`indexes of ${live}`)),
          live,
        );
      }
      const record: CommitRecord = {
        _id: session.#record,
        kind: 'commit',
        session: session.#token,
        tables: entries,
        copied: [],
        startedAt: new Date(),
      };
      yield* attempt(() =>
        writeOnce(
          () => stateCollection(session.#r).insertOne(record as unknown as Document, { writeConcern }),
          session.#retry('record the commit'),
        ),
      ).mapErr(notRecorded);
      return ok(entries);
    });
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
      this.#options.logger?.warn('abort after the commit was recorded changes nothing; call dropLeftovers() to finish the commit');
      return okAsync(undefined);
    }
    return attempt(async () => {
      // A commit record whose write reply was lost still commits: roll forward, never back.
      const recorded = await withMongoRetry(
        () => stateCollection(this.#r).findOne({ _id: `commit:${this.#token}` } as Document, DECIDING_READ),
        this.#r.retry,
      );
      if (recorded !== null) {
        this.#options.logger?.warn('the commit was recorded; abort changes nothing; call dropLeftovers() to finish the commit');
        return;
      }
      await releaseSession(this.#r, this.#token, this.#uuids);
    });
  }
}

/**
 * `doc` when it can be a replacement document: one with a top-level
 * `$`-prefixed field cannot (the driver refuses the whole batch when it is
 * the first key, the server refuses the write otherwise), so it is
 * `RECORD_INVALID` naming the field and the line before anything is sent.
 */
function replaceable(doc: MongoDocument, where: BackfillErrorContext): Result<MongoDocument, BackfillError> {
  const field = Object.keys(doc).find((k) => k.startsWith('$'));
  if (field === undefined) return ok(doc);
  const at = typeof where.line === 'number' ? `, line ${where.line}` : '';
  return err(
    new BackfillError(
      'RECORD_INVALID',
      `${String(where.table)}${at}: record ${JSON.stringify(where.id)} has the top-level field ${JSON.stringify(field)}; mode 'upsert' writes each record as a replacement document, which MongoDB does not allow to hold a \`$\`-prefixed field at the top. Rename the field or nest it.`,
      { context: { ...where, field } },
    ),
  );
}

/** A failure before the commit record was written: nothing was replaced (unless a lost reply hid that the record was written). */
function notRecorded(e: BackfillError): BackfillError {
  const maybeWritten = isRetryableMongoError(e.cause) ? ' (unless the record reached the server: dropLeftovers() decides from it)' : '';
  return new BackfillError(e.code, `${e.message} The commit was not recorded, so no collection was replaced${maybeWritten}.`, {
    cause: e.cause ?? e,
    context: e.context,
    ...(e.dbCode === undefined ? {} : { dbCode: e.dbCode }),
  });
}

/** A failure after the commit point: the commit must be finished, and the error says how far it got. */
function commitIncomplete(e: BackfillError, replaced: readonly string[], pending: readonly string[]): BackfillError {
  return new BackfillError(
    'COMMIT_INCOMPLETE',
    `${e.message} The commit is recorded; replaced: ${replaced.join(', ') || 'none'}; not yet replaced: ${pending.join(', ')}. Call commit() again, or dropLeftovers() once no import runs, to finish it.`,
    {
      cause: e.cause ?? e,
      context: { ...e.context, renamed: [...replaced], pending: [...pending] },
      ...(e.dbCode === undefined ? {} : { dbCode: e.dbCode }),
    },
  );
}
