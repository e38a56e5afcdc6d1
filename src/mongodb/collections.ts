/**
 * Idempotent collection create/drop, and the default-collation check of the
 * collections the statement adapters key on strings, shared by the adapters
 * (internal).
 *
 * @module
 */
import type { Db, Document, WriteConcernSettings } from 'mongodb';
import { ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { mongoErrorCode, mongoErrorToBackfill, withMongoRetry, type MongoRetryOptions } from './errors.js';

/** Server code when the collection already exists. */
const NAMESPACE_EXISTS = 48;
/** Server code when the collection does not exist. */
const NAMESPACE_NOT_FOUND = 26;

/**
 * Creates `name` unless it already exists (for the sink's and the
 * checkpoint store's own collections: reusing an existing one is the point).
 * It is created without a collation, so it compares strings by their bytes
 * (see {@link CollationCheck}).
 */
export async function ensureCollection(db: Db, name: string, writeConcern: WriteConcernSettings): Promise<void> {
  try {
    await db.createCollection(name, { writeConcern });
  } catch (error) {
    if (mongoErrorCode(error) !== NAMESPACE_EXISTS) throw error;
  }
}

/** Drops `name` if it exists. */
export async function dropIfExists(db: Db, name: string, writeConcern: WriteConcernSettings): Promise<void> {
  try {
    await db.dropCollection(name, { writeConcern });
  } catch (error) {
    if (mongoErrorCode(error) !== NAMESPACE_NOT_FOUND) throw error;
  }
}

/** A collection an adapter keys on strings (digests, run ids) or pages through in string order. */
export interface KeyedCollection {
  readonly name: string;
  /** The config option that names it, for the way out. */
  readonly option: string;
  /** What its adapter would get wrong if two distinct strings compared equal (a sentence). */
  readonly why: string;
}

/**
 * A collection's default collation as `listCollections` reports it, or
 * undefined when the collection compares strings by their bytes: no
 * collation, or the simple one (`{ locale: 'simple' }`).
 *
 * @example
 * ```ts
 * nonSimpleCollation({ name: 'raw_documents', type: 'collection', options: {} }); // undefined
 * nonSimpleCollation({ name: 'raw_documents', type: 'collection', options: { collation: { locale: 'en', strength: 2 } } });
 * // { locale: 'en', strength: 2 }
 * ```
 */
export function nonSimpleCollation(info: Document): Document | undefined {
  const collation = (info.options as Document | undefined)?.collation as Document | null | undefined;
  if (collation === undefined || collation === null || collation.locale === 'simple') return undefined;
  return collation;
}

/** The `INVALID_ARGUMENT` refusing `collection`, whose default collation is `collation`. */
function collationRefusal(collection: KeyedCollection, collation: Document): BackfillError {
  const shown = JSON.stringify(collation);
  return new BackfillError(
    'INVALID_ARGUMENT',
    `${collection.name}: the collection has the default collation ${shown}, which every query, sort and index on it (the _id index too) uses: strings are compared by the locale's rules, not by their bytes, so strings that differ (only in case, at strength 1 or 2) compare equal. ${collection.why} Copy its documents into a collection created without a collation (or with collation { locale: 'simple' }) and name that one in ${collection.option}.`,
    { context: { table: collection.name, collation } },
  );
}

/**
 * Refuses, once per adapter, a collection of `collections` that exists with
 * a default collation other than the simple binary one: such a collation
 * applies to every operation that names no other (queries, sorts, upserts,
 * and the indexes, `_id`'s included), so keyset pages would skip documents
 * and lookups by digest or run id would find another document. A
 * collection that does not exist yet is fine: the adapters create theirs
 * without a collation. One `listCollections` (with `nameOnly: false`, which
 * reports the options) covers them all; it needs the `listCollections`
 * action on the database, which the built-in `read` role has.
 */
export class CollationCheck {
  readonly #db: Db;
  readonly #collections: readonly KeyedCollection[];
  readonly #retry: MongoRetryOptions;
  /** The check under way or passed; dropped when it fails, so the next call asks again. */
  #passed: Promise<void> | undefined;

  constructor(db: Db, collections: readonly KeyedCollection[], retry: MongoRetryOptions) {
    this.#db = db;
    this.#collections = collections;
    this.#retry = retry;
  }

  /** Resolves once none of the collections has a non-simple default collation; `INVALID_ARGUMENT` naming the first that has one. */
  check(): ResultAsync<void, BackfillError> {
    this.#passed ??= this.#ask().catch((error: unknown) => {
      this.#passed = undefined;
      throw error;
    });
    return ResultAsync.fromPromise(this.#passed, (e) => mongoErrorToBackfill(e, { table: this.#collections[0]?.name ?? '' }));
  }

  async #ask(): Promise<void> {
    const names = this.#collections.map((c) => c.name);
    const infos = await withMongoRetry(() => this.#db.listCollections({ name: { $in: names } }, { nameOnly: false }).toArray(), {
      ...this.#retry,
      what: 'list collections',
    });
    for (const collection of this.#collections) {
      const info = infos.find((i) => i.name === collection.name);
      const collation = info === undefined ? undefined : nonSimpleCollation(info);
      if (collation !== undefined) throw collationRefusal(collection, collation);
    }
  }
}
