/**
 * Raw VEX documents from a MongoDB collection, keyset-paginated on
 * `(retrievedAt, digest)`.
 *
 * @module
 */
import type { AnyBulkWriteOperation, Db, Document, Filter, ObjectId, WriteConcernSettings } from 'mongodb';
import { err, ok, Result, ResultAsync, safeTry } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { readInstant } from '../_internals/instant.js';
import { throwIfAborted, type Logger } from '../_internals/logger.js';
import type { RawDocument, RawDocumentCountQuery, RawDocumentPageQuery, RawDocumentSource } from '../statements/ports.js';
import { DECIDING_READ, DEFAULT_MAX_ATTEMPTS, DEFAULT_RAW_DOCUMENTS_COLLECTION, DEFAULT_RETRY_DELAY_MS } from './defaults.js';
import { collectionOption, databaseOf, invalid, resolveRetry, resolveWriteConcern } from './config.js';
import { mongoErrorToBackfill, withMongoRetry, type MongoRetryOptions } from './errors.js';
import { loadBson } from './bson.js';
import { CollationCheck } from './collections.js';

/**
 * Where {@link MongoRawDocumentSource} reads from. Documents need
 * `digest` (string), `retrievedAt` (Date) and `content` (a JSON string,
 * binary UTF-8 JSON, or an embedded document); `format` and `providerId` are
 * passed on when present.
 *
 * @example
 * ```ts
 * const config: MongoRawDocumentSourceConfig = { db: client.db('vex'), collection: 'raw_documents' };
 * ```
 */
export interface MongoRawDocumentSourceConfig {
  /** The caller's database (`client.db('vex')`). */
  readonly db: Db;
  /** @defaultValue {@link DEFAULT_RAW_DOCUMENTS_COLLECTION} (`raw_documents`) */
  readonly collection?: string;
  /**
   * Write concern of {@link MongoRawDocumentSource.append}; `w: 'majority'`
   * when it names no `w`. `w: 0` and `w: 1` are `INVALID_ARGUMENT`: pages
   * are read with majority read concern, which need not see a write one
   * member acknowledged.
   * @defaultValue {@link DEFAULT_WRITE_CONCERN} (`{ w: 'majority', wtimeoutMS: 60000 }`); a `wtimeoutMS` is added when it has none
   */
  readonly writeConcern?: WriteConcernSettings;
  /**
   * Tries per read when the network fails.
   * @defaultValue {@link DEFAULT_MAX_ATTEMPTS} (3)
   */
  readonly maxAttempts?: number;
  /** @defaultValue {@link DEFAULT_RETRY_DELAY_MS} (100) */
  readonly retryDelayMs?: number;
  readonly logger?: Logger;
}

/** A raw document to store with {@link MongoRawDocumentSource.append}. */
export interface NewMongoRawDocument {
  readonly digest: string;
  /** A Date, or ISO-8601 text (UTC when it has no offset, whatever the host's time zone). */
  readonly retrievedAt: Date | string;
  /** JSON text (stored as a string, so malformed documents can be stored too). */
  readonly content: string;
  readonly format?: string;
  readonly providerId?: string;
}

interface RawShape {
  digest?: unknown;
  retrievedAt?: unknown;
  content?: unknown;
  format?: unknown;
  providerId?: unknown;
}

function toContent(value: unknown): RawDocument['content'] | undefined {
  if (typeof value === 'string' || value instanceof Uint8Array) return value;
  if (typeof value !== 'object' || value === null) return undefined;
  const binary = value as { _bsontype?: unknown; buffer?: unknown; position?: unknown };
  if (binary._bsontype === 'Binary' && binary.buffer instanceof Uint8Array) {
    return binary.buffer.subarray(0, typeof binary.position === 'number' ? binary.position : binary.buffer.length);
  }
  return Array.isArray(value) ? undefined : (value as Readonly<Record<string, unknown>>);
}

/**
 * The rows of `cursor` up to `maxBytes` of content (`sizeOf`), but at least
 * the first: it stops before the row that would take the page over, and
 * closes the cursor, so the driver holds at most one reply batch (at most
 * 16 MiB) beyond the page.
 */
async function withinBytes(
  cursor: AsyncIterable<Document> & { close(): Promise<void> },
  maxBytes: number,
  sizeOf: (row: Document) => number,
): Promise<Document[]> {
  const rows: Document[] = [];
  let bytes = 0;
  try {
    for await (const row of cursor) {
      bytes += sizeOf(row);
      if (rows.length > 0 && bytes > maxBytes) break;
      rows.push(row);
    }
  } finally {
    await cursor.close();
  }
  return rows;
}

/** A stored document's content size in bytes: a string's UTF-8, a binary's length, an embedded document's BSON size. */
function contentBytes(row: Document, bson: { calculateObjectSize(o: Document): number }): number {
  const content = toContent((row as RawShape).content);
  if (content === undefined) return 0;
  if (typeof content === 'string') return Buffer.byteLength(content, 'utf8');
  if (content instanceof Uint8Array) return content.byteLength;
  return bson.calculateObjectSize(content as Document);
}

/**
 * Turns a stored document into a {@link RawDocument}, or `DOCUMENT_INVALID`
 * when it has no position (`digest`, `retrievedAt`). A missing or unusable
 * `content` is passed on as empty text, so that document fails on its own
 * (with its digest) and the run goes on.
 */
function toRawDocument(row: RawShape, collection: string): Result<RawDocument, BackfillError> {
  const digest = row.digest;
  const at = row.retrievedAt;
  const content = toContent(row.content) ?? '';
  if (typeof digest !== 'string' || !(at instanceof Date) || Number.isNaN(at.getTime())) {
    return err(
      new BackfillError(
        'DOCUMENT_INVALID',
        `${collection}: a raw document ${typeof digest === 'string' ? `(${digest}) ` : ''}lacks a string \`digest\` or a Date \`retrievedAt\`; fix it in the collection.`,
        {
          context: { table: collection, ...(typeof digest === 'string' ? { digest } : {}) },
        },
      ),
    );
  }
  return ok({
    digest,
    retrievedAt: at,
    cursor: { retrievedAt: at.toISOString(), digest },
    content,
    ...(typeof row.format === 'string' ? { formatHint: row.format } : {}),
    ...(typeof row.providerId === 'string' ? { providerId: row.providerId } : {}),
  });
}

/**
 * What is wrong with a stored document's position (`retrievedAt` must be a
 * Date, `digest` a string), or `undefined` when it is usable. Values of any
 * other type sort before or after every Date, so a keyset page would
 * either stop on them or silently step over them.
 *
 * @example
 * ```ts
 * positionProblem({ digest: 'sha256:a', retrievedAt: '2025-10-19' }); // 'retrievedAt is a string, not a Date'
 * ```
 */
export function positionProblem(row: { readonly digest?: unknown; readonly retrievedAt?: unknown }): string | undefined {
  const kind = (v: unknown): string => {
    if (v === undefined) return 'missing';
    if (v === null) return 'null';
    if (v instanceof Date) return 'an invalid Date';
    const bsonType = (v as { _bsontype?: string })._bsontype;
    if (bsonType !== undefined) return `a ${bsonType}`;
    return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
  };
  if (!(row.retrievedAt instanceof Date) || Number.isNaN(row.retrievedAt.getTime()))
    return `retrievedAt is ${kind(row.retrievedAt)}, not a Date`;
  if (typeof row.digest !== 'string') return `digest is ${kind(row.digest)}, not a string`;
  return undefined;
}

/**
 * A {@link RawDocumentSource} over a MongoDB collection. Each page is
 * `find({ retrievedAt: { $gte: t }, $or: [{ retrievedAt: { $gt: t } }, { digest: { $gt: d } }] })
 * .sort({ retrievedAt: 1, digest: 1 }).limit(n)`: a keyset cursor, never
 * `skip`, served by the `{ retrievedAt: 1, digest: 1 }` index that
 * {@link MongoRawDocumentSource.prepare} creates. Cursors carry millisecond
 * ISO-8601 text, MongoDB's own date precision, so resuming neither skips nor
 * repeats a document; a cursor's text is read as ISO-8601 (UTC without an
 * offset, whatever the host's time zone), other text is `INVALID_ARGUMENT`.
 * A collection whose default collation is not the
 * simple (binary) one is refused before anything is read or written (see
 * {@link MongoRawDocumentSource.prepare}).
 *
 * @example
 * ```ts
 * const source = new MongoRawDocumentSource({ db: client.db('vex') });
 * await source.prepare();
 * const page = await source.readPage({ limit: 100, retrievedSince: new Date('2025-10-01T00:00:00Z') });
 * ```
 */
export class MongoRawDocumentSource implements RawDocumentSource {
  /** The resolved options, or why they are invalid (then every method returns that error). */
  readonly #context: Result<SourceContext, BackfillError>;
  /** Holds `done` once this source checked the collection's positions (the instance is frozen; the set is not). */
  readonly #checked = new Set<'done'>();

  /** Never throws: an invalid config (`INVALID_ARGUMENT`) is returned by every method. */
  constructor(config: MongoRawDocumentSourceConfig) {
    this.#context = resolveSourceConfig(config);
    Object.freeze(this);
  }

  /**
   * Creates the `{ retrievedAt: 1, digest: 1 }` index (and a unique one on
   * `digest`) if missing; a collection that does not exist yet is created
   * without a collation. Refuses, with `INVALID_ARGUMENT` naming it and its
   * collation, a collection whose default collation is not the simple
   * (binary) one, as the source's first call of any kind does: under, say,
   * `{ locale: 'en', strength: 2 }` digests differing only in case compare
   * equal, in the keyset filter, the sort and the unique index alike, so
   * pages would skip documents and `append` would take a new document for a
   * stored one.
   */
  prepare(): ResultAsync<void, BackfillError> {
    return this.#context.asyncAndThen((c) =>
      c.collation.check().andThen(() =>
        run(c, async () => {
          await c.db.collection(c.collection, { writeConcern: c.writeConcern }).createIndexes([
            { key: { retrievedAt: 1, digest: 1 }, name: 'retrievedAt_digest' },
            { key: { digest: 1 }, name: 'digest_unique', unique: true },
          ]);
        }),
      ),
    );
  }

  /**
   * Stores documents (ingest, fixtures); an existing digest is left unchanged. Returns how many were new,
   * also when a retry repeated a write whose reply was lost.
   */
  append(documents: readonly NewMongoRawDocument[]): ResultAsync<number, BackfillError> {
    return this.#context.asyncAndThen((c) =>
      safeTry(async function* () {
        const bson = yield* loadBson();
        const ids = documents.map(() => new bson.ObjectId());
        const ops = yield* Result.combine(documents.map((d, i) => appendOperation(d, ids[i]!)));
        if (ops.length === 0) return ok(0);
        yield* c.collation.check();
        const raw = c.db.collection(c.collection);
        // Upserts keyed on the digest: a retry after a lost reply cannot store a document twice, but it finds
        // what the lost attempt stored already there; the _ids chosen here tell which documents this call stored.
        let attempts = 0;
        return run(c, async () => {
          attempts += 1;
          const written = await raw.bulkWrite(ops, { ordered: false, writeConcern: c.writeConcern });
          return attempts === 1 ? written.upsertedCount : raw.countDocuments({ _id: { $in: ids } }, DECIDING_READ);
        });
      }),
    );
  }

  /**
   * The next page after `query.after`, in `(retrievedAt, digest)` order. The
   * first page of a run (no `after`) first checks that every document has a
   * Date `retrievedAt`; the source's first call checks the collection's
   * default collation (see {@link MongoRawDocumentSource.prepare}).
   */
  readPage(query: RawDocumentPageQuery): ResultAsync<readonly RawDocument[], BackfillError> {
    const checked = this.#checked;
    return this.#context.asyncAndThen((c) =>
      safeTry(async function* () {
        const filter = yield* pageFilter(query);
        if (!Number.isSafeInteger(query.limit) || query.limit < 1) return invalid('`limit` must be a whole number of at least 1.');
        yield* c.collation.check();
        if (query.after === undefined || !checked.has('done')) {
          yield* checkPositions(c, query.signal);
          checked.add('done');
        }
        const { maxBytes } = query;
        const bson = maxBytes === undefined ? undefined : yield* loadBson();
        const rows = yield* run(
          c,
          () => {
            throwIfAborted(query.signal);
            const cursor = c.db
              .collection(c.collection)
              .find(filter, { projection: { _id: 0, digest: 1, retrievedAt: 1, content: 1, format: 1, providerId: 1 }, ...DECIDING_READ })
              .sort({ retrievedAt: 1, digest: 1 })
              .limit(query.limit);
            return maxBytes === undefined || bson === undefined
              ? cursor.toArray()
              : withinBytes(cursor, maxBytes, (row) => contentBytes(row, bson));
          },
          query.signal,
        );
        return Result.combine(rows.map((row) => toRawDocument(row as RawShape, c.collection)));
      }),
    );
  }

  /** Documents remaining after `query.after` (for progress and ETA). */
  count(query: RawDocumentCountQuery): ResultAsync<number, BackfillError> {
    return this.#context.asyncAndThen((c) =>
      pageFilter(query).asyncAndThen((filter) =>
        c.collation.check().andThen(() => run(c, () => c.db.collection(c.collection).countDocuments(filter, DECIDING_READ), query.signal)),
      ),
    );
  }

  /** Nothing to release: the caller owns the client. */
  async close(): Promise<void> {}
}

/** A source's options, resolved and validated once by its constructor (frozen). */
type SourceContext = Readonly<{
  db: Db;
  collection: string;
  writeConcern: WriteConcernSettings;
  retry: MongoRetryOptions;
  /** The collection's default collation, checked once by the source's first call. */
  collation: CollationCheck;
}>;

/** Why the raw documents collection must compare digests by their bytes. */
const RAW_COLLATION_WHY =
  "Pages are read in (retrievedAt, digest) order and go on after a page's last digest, so a page that ends on one of two digests found equal would skip the other, and append would take a new document for the stored one and leave it out.";

function resolveSourceConfig(config: MongoRawDocumentSourceConfig): Result<SourceContext, BackfillError> {
  return safeTry(function* () {
    const db = yield* databaseOf(config);
    const collection = yield* collectionOption(config.collection, DEFAULT_RAW_DOCUMENTS_COLLECTION, 'collection');
    const retry = yield* resolveRetry(config);
    const writeConcern = yield* resolveWriteConcern(config.writeConcern);
    const collation = new CollationCheck(db, [{ name: collection, option: 'collection', why: RAW_COLLATION_WHY }], retry);
    return ok(Object.freeze({ db, collection, writeConcern, retry, collation }));
  });
}

/** Runs `fn` with the source's retries, mapping what it throws. */
function run<T>(c: SourceContext, fn: () => Promise<T>, signal?: AbortSignal): ResultAsync<T, BackfillError> {
  return ResultAsync.fromPromise(
    withMongoRetry(fn, { ...c.retry, what: `read ${c.collection}`, ...(signal === undefined ? {} : { signal }) }),
    (e) => mongoErrorToBackfill(e, { table: c.collection }),
  );
}

/**
 * `retrievedAt` as a Date: a Date as it is, a text read as ISO-8601 (UTC
 * when it has no offset, whatever the host's time zone; never `Date`'s own
 * parsing, which reads such a time in the host's zone and guesses at other
 * text), or undefined when it is neither.
 */
function retrievedAtOf(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value !== 'string') return undefined;
  const instant = readInstant(value);
  return instant.isOk() ? new Date(instant.value.epochMs) : undefined;
}

/** The upsert that stores `d` as `_id` unless its digest is already there; a `retrievedAt` that is not a date is `INVALID_ARGUMENT`. */
function appendOperation(d: NewMongoRawDocument, _id: ObjectId): Result<AnyBulkWriteOperation<Document>, BackfillError> {
  const retrievedAt = retrievedAtOf(d.retrievedAt);
  if (retrievedAt === undefined)
    return invalid(
      `document ${d.digest}: retrievedAt ${JSON.stringify(String(d.retrievedAt))} is not a valid Date or an ISO-8601 time in the years 0001 to 9999 (one without an offset is UTC).`,
      { digest: d.digest },
    );
  const doc: Document = {
    _id,
    retrievedAt,
    content: d.content,
    ...(d.format === undefined ? {} : { format: d.format }),
    ...(d.providerId === undefined ? {} : { providerId: d.providerId }),
  };
  return ok({ updateOne: { filter: { digest: d.digest }, update: { $setOnInsert: doc }, upsert: true } });
}

/**
 * A cursor's `retrievedAt` as a Date, read as `append` reads text (UTC
 * without an offset, never `Date`'s parsing: a checkpoint can be edited by
 * hand), or exactly as this source writes it (`toISOString`, whose years
 * past 9999 `readInstant` does not take); `pastMs` when it lies inside its
 * millisecond, after every document of it. Undefined for any other text.
 */
function cursorInstant(text: unknown): { readonly date: Date; readonly pastMs: boolean } | undefined {
  if (typeof text !== 'string') return undefined;
  const instant = readInstant(text);
  if (instant.isOk()) return { date: new Date(instant.value.epochMs), pastMs: instant.value.beyondMs !== '' };
  const own = new Date(text);
  return !Number.isNaN(own.getTime()) && own.toISOString() === text ? { date: own, pastMs: false } : undefined;
}

/** The keyset filter of a page or count query. */
function pageFilter(query: RawDocumentCountQuery): Result<Filter<Document>, BackfillError> {
  const clauses: Filter<Document>[] = [];
  if (query.retrievedSince !== undefined) {
    if (!(query.retrievedSince instanceof Date) || Number.isNaN(query.retrievedSince.getTime()))
      return invalid('`retrievedSince` must be a valid Date.');
    clauses.push({ retrievedAt: { $gte: query.retrievedSince } });
  }
  if (query.after !== undefined) {
    const at = cursorInstant(query.after.retrievedAt);
    if (at === undefined)
      return invalid(
        `cursor retrievedAt ${JSON.stringify(query.after.retrievedAt)} is not an ISO-8601 time in the years 0001 to 9999 (one without an offset is UTC).`,
        { digest: query.after.digest },
      );
    const t = at.date;
    // A Date holds milliseconds: a cursor past its millisecond (a PostgreSQL cursor's microseconds) is after every document of it.
    if (at.pastMs) clauses.push({ retrievedAt: { $gt: t } });
    // The $gte bound gives the planner a range on the index's leading key; the $or breaks ties.
    else clauses.push({ retrievedAt: { $gte: t }, $or: [{ retrievedAt: { $gt: t } }, { digest: { $gt: query.after.digest } }] });
  }
  return ok(clauses.length === 0 ? {} : clauses.length === 1 ? clauses[0]! : { $and: clauses });
}

/**
 * Refuses a collection holding a document whose `retrievedAt` is not a
 * Date (or whose `digest` is not a string): such documents sort before or
 * after every Date, so a run would stop on them or, with `retrievedSince`
 * or a resume cursor, silently skip them. Two reads at the ends of the
 * `{ retrievedAt: 1, digest: 1 }` index find them without a scan.
 */
function checkPositions(c: SourceContext, signal: AbortSignal | undefined): ResultAsync<void, BackfillError> {
  return safeTry(async function* () {
    const collection = c.db.collection(c.collection);
    const projection = { _id: 1, digest: 1, retrievedAt: 1 };
    for (const direction of [1, -1] as const) {
      const [edge] = yield* run(
        c,
        () =>
          collection
            .find({}, { projection, ...DECIDING_READ })
            .sort({ retrievedAt: direction, digest: direction })
            .limit(1)
            .toArray(),
        signal,
      );
      const problem = edge === undefined ? undefined : positionProblem(edge as RawShape);
      if (problem === undefined || edge === undefined) continue;
      const bad = yield* run(
        c,
        () =>
          collection.countDocuments(
            { $or: [{ retrievedAt: { $not: { $type: 'date' } } }, { digest: { $not: { $type: 'string' } } }] },
            DECIDING_READ,
          ),
        signal,
      );
      const id = String((edge._id as { toHexString?: () => string })?.toHexString?.() ?? edge._id);
      const digest = typeof edge.digest === 'string' ? edge.digest : undefined;
      return err(
        new BackfillError(
          'DOCUMENT_INVALID',
          `${c.collection}: ${bad} raw document(s) cannot be placed in (retrievedAt, digest) order, e.g. _id ${id}${digest === undefined ? '' : ` (${digest})`}: ${problem}. They would stop the run or be skipped silently; store retrievedAt as a Date (e.g. with $toDate) and run again.`,
          { context: { table: c.collection, id, count: bad, ...(digest === undefined ? {} : { digest }) } },
        ),
      );
    }
    return ok(undefined);
  });
}
