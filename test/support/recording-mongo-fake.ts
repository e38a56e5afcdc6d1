/**
 * A recording fake of the parts of the `mongodb` driver the adapters call
 * (Db, Collection, cursors, ClientSession), reproducing the server behaviours
 * the MongoDB manual documents and the adapters depend on:
 *
 * - a replacement may hold no top-level `$`-prefixed field (52), and the
 *   driver refuses one whose first key is one before sending anything;
 * - an insert stores `_id` as the first field; a read returns values
 *   promoted as the driver promotes them (`promoteValues`, `bsonRegExp`, …
 *   as the read asks);
 * - `create` of an existing collection: NamespaceExists (48) before 7.0;
 *   since 7.0 (and on mongos since 4.0) success when the options are equal;
 * - `create` keeps its options (a `collation` among them: the collection's
 *   default collation, which its `_id` index and every index built without
 *   a collation of its own take), and `listCollections` reports them as
 *   `{ name, type, options, info, idIndex }`, or only `{ name, type }` with
 *   `nameOnly: true`;
 * - a command sent as it is (`db.command`) whose `writeConcern` has a field
 *   other than `w`, `j`, `wtimeout` or `fsync` (the driver's `wtimeoutMS`,
 *   `journal`) fails as an unknown field (40415), as the server's strict
 *   parser of write concerns refuses it;
 * - `renameCollection` within a database keeps the collection's UUID,
 *   `dropTarget` replaces the target, a missing source is NamespaceNotFound
 *   (26), a sharded source or target is IllegalOperation (20);
 * - unique indexes (`_id` and declared ones) reject duplicates with E11000
 *   (numbers compared by value across int32, int64 and double),
 *   and building one over documents that share a key fails with E11000,
 *   an unordered bulk write goes on past failed writes;
 * - `$merge` (`on: '_id'`, `whenMatched: 'replace'`, `whenNotMatched:
 *   'insert'`) writes the pipeline's documents into its target, creating it
 *   when missing, through the target's unique indexes;
 * - transactions run on a snapshot that an abort restores;
 * - reads not pinned to the primary can be served by a lagging secondary.
 *
 * Faults are injected per operation (`failOn`), including a network error
 * raised *after* the server applied the operation. Every call is recorded
 * with its options (`calls`), so tests can check write and read concerns.
 *
 * It is not a database: filters support only what the adapters send
 * (equality, dotted paths, `$in`, `$gt`, `$gte`, `$lte`, `$not: {$type}`,
 * `$or`, `$and`), and updates only `$set`, `$setOnInsert` and `$addToSet`
 * (anything else fails the test).
 */
import { BSON } from 'mongodb';

type Doc = Record<string, unknown>;

/** One recorded driver call. */
export interface FakeCall {
  readonly op: string;
  readonly ns: string;
  readonly options: Doc;
  readonly args?: unknown;
  /** Inside a transaction. */
  readonly inTransaction: boolean;
}

/** A fault: raised on the `nth` matching call (1-based, default 1), before or after the operation applies. */
export interface FakeFault {
  readonly op: string;
  readonly ns?: string;
  readonly nth?: number;
  readonly when?: 'before' | 'after';
  readonly error: () => unknown;
}

interface FakeCollection {
  uuid: BSON.UUID;
  options: Doc;
  docs: Doc[];
  indexes: Doc[];
  sharded: boolean;
  type?: 'view';
}

/** Server behaviour the fake reproduces. */
export interface FakeServerOptions {
  /** `'7.0'` (default): idempotent `create`; `'6.0'`: `create` of an existing collection fails with 48. */
  readonly version?: '6.0' | '7.0';
  /** What `hello` says: a replica set (default), a standalone or a mongos. */
  readonly topology?: 'replicaSet' | 'standalone' | 'mongos';
  readonly maxBsonObjectSize?: number;
}

/** A collection's default collation as its indexes take it: none when it has none or the simple one. */
function indexCollation(options: Doc): Doc {
  const collation = options.collation as Doc | undefined;
  return collation === undefined || collation.locale === 'simple' ? {} : { collation: clone(collation) };
}

/** The `_id` index of a collection created with `options`. */
function idIndex(options: Doc): Doc {
  return { v: 2, key: { _id: 1 }, name: '_id_', ...indexCollation(options) };
}

/** The fields the server reads in a command's `writeConcern`. */
const WIRE_WRITE_CONCERN = ['w', 'j', 'wtimeout', 'fsync'];

/** An error shaped as the driver's server errors are. */
export function serverError(code: number, message: string, extra: Doc = {}): Error {
  return Object.assign(new Error(message), { name: 'MongoServerError', code, ...extra });
}

/** A network error, as the driver raises when the connection drops (retryable). */
export function networkError(message = 'connection reset by peer'): Error {
  return Object.assign(new Error(message), { name: 'MongoNetworkError', errorLabels: ['RetryableWriteError'] });
}

/** A transient transaction error (a write conflict), as `withTransaction` retries. */
export function transientTransactionError(): Error {
  return Object.assign(new Error('WriteConflict'), {
    name: 'MongoServerError',
    code: 112,
    codeName: 'WriteConflict',
    errorLabels: ['TransientTransactionError'],
  });
}

function clone<T>(value: T): T {
  return BSON.deserialize(BSON.serialize({ v: value }), { promoteValues: true, promoteBuffers: false }).v as T;
}

/**
 * The BSON bytes each stored document was inserted with: stored documents
 * are kept promoted (a double 7.0 as the number 7), which filters compare
 * easily, and these keep the types a read without promotion returns.
 * Dropped when an update changes the document.
 */
const exactBytes = new WeakMap<Doc, Uint8Array>();

/** A stored document as a read with the driver's deserialize `options` (`promoteValues`, `bsonRegExp`, …) returns it. */
function asRead(doc: Doc, options: Doc | undefined): Doc {
  const pick = ['promoteValues', 'promoteLongs', 'promoteBuffers', 'bsonRegExp', 'useBigInt64'] as const;
  const given = Object.fromEntries(pick.filter((k) => options?.[k] !== undefined).map((k) => [k, options?.[k]]));
  if (Object.keys(given).length === 0) return clone(doc);
  return BSON.deserialize(exactBytes.get(doc) ?? BSON.serialize(doc), { promoteBuffers: false, ...given });
}

/**
 * Numbers as the server compares them, by value whatever their BSON type
 * (`1`, `Int32(1)`, `Double(1.0)` and `Long(1)` are one index key, as are
 * `0` and `-0`); everything else by its canonical extended JSON.
 */
function byValue(value: unknown): unknown {
  const t = (value as { _bsontype?: unknown } | null | undefined)?._bsontype;
  if (typeof value === 'number' || t === 'Int32' || t === 'Double') {
    const n = Number((value as { valueOf(): unknown }).valueOf());
    return { $number: Number.isInteger(n) ? BigInt(n).toString() : String(n) };
  }
  if (t === 'Long') return { $number: String(value) };
  if (Array.isArray(value)) return value.map(byValue);
  if (value === null || typeof value !== 'object' || t !== undefined || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, byValue(v)]));
}

function key(value: unknown): string {
  return BSON.EJSON.stringify({ v: byValue(value) }, { relaxed: false });
}

function getPath(doc: Doc, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Doc)[part];
  }
  return cur;
}

function typeName(value: unknown): string {
  if (value instanceof Date) return 'date';
  if (typeof value === 'string') return 'string';
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  return typeof value;
}

function compare(a: unknown, b: unknown): number | undefined {
  if (a instanceof Date && b instanceof Date) return a.getTime() - b.getTime();
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return undefined; // type bracketing: values of other types never match a range
}

/** Equality as the server compares values (primitives directly; BSON values by their canonical form). */
function equal(a: unknown, b: unknown): boolean {
  if (a === null || b === null || a === undefined || b === undefined)
    return a === b || (a === undefined && b === null) || (a === null && b === undefined);
  if (typeof a !== 'object' && typeof b !== 'object') return a === b;
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  return key(a) === key(b); // a number and an Int32 or Double of its value are equal
}

function matchValue(value: unknown, cond: unknown): boolean {
  if (
    cond !== null &&
    typeof cond === 'object' &&
    !(cond instanceof Date) &&
    !Array.isArray(cond) &&
    Object.keys(cond).some((k) => k.startsWith('$'))
  ) {
    return Object.entries(cond as Doc).every(([op, arg]) => {
      const c = compare(value, arg);
      switch (op) {
        case '$in':
          return (arg as unknown[]).some((x) => equal(x, value));
        case '$gt':
          return c !== undefined && c > 0;
        case '$gte':
          return c !== undefined && c >= 0;
        case '$lte':
          return c !== undefined && c <= 0;
        case '$not':
          return !matchValue(value, arg);
        case '$type':
          return typeName(value) === arg;
        default:
          throw new Error(`fake: unsupported operator ${op}`);
      }
    });
  }
  return equal(value, cond);
}

function matches(doc: Doc, filter: Doc): boolean {
  return Object.entries(filter).every(([k, cond]) => {
    if (k === '$or') return (cond as Doc[]).some((f) => matches(doc, f));
    if (k === '$and') return (cond as Doc[]).every((f) => matches(doc, f));
    return matchValue(getPath(doc, k), cond);
  });
}

/** The server's sort order across types (null and missing first, dates after strings, timestamps after dates). */
function typeRank(value: unknown): number {
  if (value === undefined || value === null) return 1;
  if (typeof value === 'number') return 2;
  if (typeof value === 'string') return 3;
  if (value instanceof Date) return 9;
  const t = (value as { _bsontype?: string })._bsontype;
  if (t === 'Timestamp') return 10;
  if (t === 'ObjectId') return 7;
  if (typeof value === 'boolean') return 8;
  return Array.isArray(value) ? 5 : 4;
}

function sortDocs(docs: Doc[], spec: Doc): Doc[] {
  return [...docs].sort((a, b) => {
    for (const [k, dir] of Object.entries(spec)) {
      const x = getPath(a, k);
      const y = getPath(b, k);
      const c = typeRank(x) - typeRank(y) || (compare(x, y) ?? 0);
      if (c !== 0) return c * (dir as number);
    }
    return 0;
  });
}

class FakeCursor {
  #docs: () => Doc[];
  #sort: Doc | undefined;
  #limit: number | undefined;
  #projection: Doc | undefined;
  #options: Doc | undefined;
  constructor(docs: () => Doc[], projection?: Doc, options?: Doc) {
    this.#docs = docs;
    this.#projection = projection;
    this.#options = options;
  }
  sort(spec: Doc): this {
    this.#sort = spec;
    return this;
  }
  limit(n: number): this {
    this.#limit = n;
    return this;
  }
  /** Counts the cursors closed, as the driver closes one a `for await` leaves early. */
  closed = 0;
  async close(): Promise<void> {
    this.closed += 1;
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<Doc> {
    yield* await this.toArray();
  }
  async toArray(): Promise<Doc[]> {
    let out = this.#docs();
    if (this.#sort !== undefined) out = sortDocs(out, this.#sort);
    if (this.#limit !== undefined) out = out.slice(0, this.#limit);
    const p = this.#projection;
    if (p === undefined) return out.map((d) => asRead(d, this.#options));
    // A dotted path keeps its whole top-level field: enough for what the adapters read.
    const keep = [
      ...new Set(
        Object.entries(p)
          .filter(([, v]) => v === 1)
          .map(([k]) => k.split('.')[0]!),
      ),
    ];
    return out.map((d) => {
      const o: Doc = {};
      if (p._id !== 0) o._id = d._id;
      for (const k of keep) if (k in d) o[k] = clone(d[k]);
      return o;
    });
  }
}

/** A ClientSession as the adapters use it (withTransaction, endSession). */
export class FakeSession {
  readonly #server: FakeMongo;
  inTransaction = false;
  ended = false;
  constructor(server: FakeMongo) {
    this.#server = server;
  }
  async withTransaction(fn: () => Promise<unknown>, options: Doc = {}): Promise<void> {
    this.#server.record('withTransaction', '', options, undefined, false);
    for (;;) {
      const snapshot = this.#server.snapshot();
      this.inTransaction = true;
      try {
        await fn();
        this.inTransaction = false;
        return;
      } catch (error) {
        this.inTransaction = false;
        this.#server.restore(snapshot);
        const labels = (error as { errorLabels?: string[] }).errorLabels ?? [];
        if (!labels.includes('TransientTransactionError')) throw error;
      }
    }
  }
  async endSession(): Promise<void> {
    this.ended = true;
  }
}

/**
 * One fake server with one database (`db()`), a client (`client`) and the
 * record of every call.
 */
export class FakeMongo {
  readonly version: '6.0' | '7.0';
  readonly topology: 'replicaSet' | 'standalone' | 'mongos';
  readonly maxBsonObjectSize: number;
  readonly calls: FakeCall[] = [];
  readonly #faults: (FakeFault & { seen: number })[] = [];
  #collections = new Map<string, FakeCollection>();
  /** The data a lagging secondary serves, or undefined when secondaries are current. */
  #secondary: Map<string, FakeCollection> | undefined;
  readonly client: { startSession: () => FakeSession; db: (name?: string) => unknown };
  readonly sessions: FakeSession[] = [];

  constructor(options: FakeServerOptions = {}) {
    this.version = options.version ?? '7.0';
    this.topology = options.topology ?? 'replicaSet';
    this.maxBsonObjectSize = options.maxBsonObjectSize ?? 16 * 1024 * 1024;
    this.client = {
      startSession: () => {
        const s = new FakeSession(this);
        this.sessions.push(s);
        return s;
      },
      // `config.collections` lists the sharded collections, as on a mongos.
      db: (name?: string) =>
        name === 'config'
          ? {
              collection: () => ({
                find: (filter: Doc) =>
                  new FakeCursor(() =>
                    [...this.#collections]
                      .filter(([, c]) => c.sharded)
                      .map(([n]) => ({ _id: `fake.${n}` }))
                      .filter((d) => matches(d, filter)),
                  ),
              }),
            }
          : this.db(),
    };
  }

  /** Raises `fault.error()` on the matching call. */
  failOn(fault: FakeFault): void {
    this.#faults.push({ ...fault, seen: 0 });
  }

  /** From now on, reads not pinned to the primary see the data as it is now. */
  lagSecondary(): void {
    this.#secondary = this.snapshot();
  }

  /** Marks a collection as sharded. */
  shard(name: string): void {
    this.#need(name).sharded = true;
  }

  snapshot(): Map<string, FakeCollection> {
    return new Map(
      [...this.#collections].map(([k, c]) => [
        k,
        { ...c, options: clone(c.options), docs: c.docs.map(clone), indexes: c.indexes.map(clone) },
      ]),
    );
  }

  restore(snapshot: Map<string, FakeCollection>): void {
    this.#collections = snapshot;
  }

  /** The stored documents of `name` (copies), or undefined when it does not exist. */
  documents(name: string): Doc[] | undefined {
    return this.#collections.get(name)?.docs.map(clone);
  }

  collectionNames(): string[] {
    return [...this.#collections.keys()].sort();
  }

  uuidOf(name: string): string | undefined {
    return this.#collections.get(name)?.uuid.toString('hex');
  }

  /** Creates a view (for the refusal tests). */
  createView(name: string): void {
    this.#collections.set(name, {
      uuid: new BSON.UUID(),
      options: { viewOn: 'x', pipeline: [] },
      docs: [],
      indexes: [],
      sharded: false,
      type: 'view',
    });
  }

  optionsOf(name: string): Doc | undefined {
    return this.#collections.get(name)?.options;
  }

  record(op: string, ns: string, options: Doc | undefined, args: unknown, inTransaction: boolean): void {
    this.calls.push({ op, ns, options: options ?? {}, args, inTransaction });
  }

  async #run<T>(op: string, ns: string, options: Doc | undefined, apply: () => T, args?: unknown): Promise<T> {
    const session = options?.session as FakeSession | undefined;
    this.record(
      op,
      ns,
      options === undefined ? {} : Object.fromEntries(Object.entries(options).filter(([k]) => k !== 'session')),
      args,
      session?.inTransaction === true,
    );
    await Promise.resolve();
    const fault = this.#faults.find((f) => f.op === op && (f.ns === undefined || f.ns === ns) && ++f.seen === (f.nth ?? 1));
    if (fault !== undefined && fault.when !== 'after') throw fault.error();
    const result = apply();
    if (fault !== undefined) throw fault.error();
    return result;
  }

  #need(name: string): FakeCollection {
    const c = this.#collections.get(name);
    if (c === undefined) throw serverError(26, `ns not found: ${name}`, { codeName: 'NamespaceNotFound' });
    return c;
  }

  #implicit(name: string): FakeCollection {
    let c = this.#collections.get(name);
    if (c === undefined) {
      c = { uuid: new BSON.UUID(), options: {}, docs: [], indexes: [{ v: 2, key: { _id: 1 }, name: '_id_' }], sharded: false };
      this.#collections.set(name, c);
    }
    return c;
  }

  #readable(name: string, options: Doc | undefined): Doc[] {
    const pinned = options?.readPreference === 'primary' || (options?.session as FakeSession | undefined)?.inTransaction === true;
    const source = !pinned && this.#secondary !== undefined ? this.#secondary : this.#collections;
    return source.get(name)?.docs ?? [];
  }

  /** Index keys of stored documents, computed once per document (updates replace the cache entry). */
  readonly #keys = new WeakMap<Doc, Map<string, string>>();

  #indexKey(doc: Doc, fields: readonly string[]): string {
    let cached = this.#keys.get(doc);
    if (cached === undefined) {
      cached = new Map();
      this.#keys.set(doc, cached);
    }
    const name = fields.join(',');
    let k = cached.get(name);
    if (k === undefined) {
      k = key(fields.map((f) => getPath(doc, f)));
      cached.set(name, k);
    }
    return k;
  }

  /** Inserts with unique-index checks; returns the error for this document, if any. */
  #insert(c: FakeCollection, doc: Doc): Error | undefined {
    const size = BSON.calculateObjectSize(doc);
    if (size > this.maxBsonObjectSize) return serverError(10334, `object to insert too large. size in bytes: ${size}`);
    for (const ix of c.indexes) {
      if (ix.name !== '_id_' && ix.unique !== true) continue;
      const fields = Object.keys(ix.key as Doc);
      const k = key(fields.map((f) => getPath(doc, f)));
      if (c.docs.some((d) => this.#indexKey(d, fields) === k)) {
        const keyValue = Object.fromEntries(fields.map((f) => [f, getPath(doc, f)]));
        return serverError(11000, `E11000 duplicate key error collection index: ${String(ix.name)}`, { keyValue });
      }
    }
    // The server stores `_id` as the first field, wherever the document had it.
    const ordered = Object.hasOwn(doc, '_id') ? { _id: doc._id, ...doc } : doc;
    const stored = clone(ordered);
    exactBytes.set(stored, BSON.serialize(ordered));
    c.docs.push(stored);
    return undefined;
  }

  #update(
    c: FakeCollection,
    filter: Doc,
    update: Doc,
    upsert: boolean,
    replace: boolean,
  ): { matched: number; upserted: number; error?: Error } {
    // A replacement may not hold a top-level `$`-prefixed field (DollarPrefixedFieldName).
    const dollar = replace ? Object.keys(update).find((k) => k.startsWith('$')) : undefined;
    if (dollar !== undefined)
      return {
        matched: 0,
        upserted: 0,
        error: serverError(
          52,
          `The dollar ($) prefixed field '${dollar}' in '${dollar}' is not allowed in the context of an update's replacement document.`,
          { codeName: 'DollarPrefixedFieldName' },
        ),
      };
    const found = c.docs.find((d) => matches(d, filter));
    if (found !== undefined) {
      this.#keys.delete(found);
      exactBytes.delete(found);
      if (replace) {
        for (const k of Object.keys(found)) if (k !== '_id') delete found[k];
        Object.assign(found, clone(update));
      } else {
        for (const k of Object.keys(update))
          if (!['$set', '$setOnInsert', '$addToSet'].includes(k)) throw new Error(`fake: unsupported update operator ${k}`);
        Object.assign(found, clone(update.$set ?? {}));
        // $addToSet appends each value unless an equal one is already in the array.
        for (const [field, value] of Object.entries((update.$addToSet ?? {}) as Doc)) {
          const list = Array.isArray(found[field]) ? (found[field] as unknown[]) : [];
          if (!list.some((x) => equal(x, value))) list.push(clone(value));
          found[field] = list;
        }
      }
      return { matched: 1, upserted: 0 };
    }
    if (!upsert) return { matched: 0, upserted: 0 };
    const base: Doc = Object.fromEntries(Object.entries(filter).filter(([k]) => !k.startsWith('$')));
    const doc = replace ? { ...base, ...update } : { ...base, ...(update.$setOnInsert as Doc), ...(update.$set as Doc) };
    if (doc._id === undefined) doc._id = new BSON.ObjectId();
    const error = this.#insert(c, doc);
    return error === undefined ? { matched: 0, upserted: 1 } : { matched: 0, upserted: 0, error };
  }

  #bulk(name: string, ops: Doc[], ordered: boolean): Doc {
    const c = this.#implicit(name);
    const writeErrors: Doc[] = [];
    let inserted = 0;
    let matched = 0;
    let upserted = 0;
    let deleted = 0;
    for (const [index, op] of ops.entries()) {
      let error: Error | undefined;
      if ('insertOne' in op) {
        error = this.#insert(c, (op.insertOne as Doc).document as Doc);
        if (error === undefined) inserted += 1;
      } else if ('replaceOne' in op || 'updateOne' in op) {
        const o = (op.replaceOne ?? op.updateOne) as Doc;
        const r = this.#update(c, o.filter as Doc, (o.replacement ?? o.update) as Doc, o.upsert === true, 'replaceOne' in op);
        matched += r.matched;
        upserted += r.upserted;
        error = r.error;
      } else if ('deleteMany' in op) {
        const before = c.docs.length;
        c.docs = c.docs.filter((d) => !matches(d, (op.deleteMany as Doc).filter as Doc));
        deleted += before - c.docs.length;
      } else throw new Error(`fake: unsupported bulk op ${Object.keys(op).join()}`);
      if (error !== undefined) {
        writeErrors.push({
          index,
          code: (error as { code?: number }).code,
          errmsg: error.message,
          keyValue: (error as { keyValue?: unknown }).keyValue,
        });
        if (ordered) break;
      }
    }
    const result = {
      insertedCount: inserted,
      matchedCount: matched,
      modifiedCount: matched,
      upsertedCount: upserted,
      deletedCount: deleted,
    };
    if (writeErrors.length > 0) {
      throw Object.assign(new Error(String(writeErrors[0]!.errmsg)), {
        name: 'MongoBulkWriteError',
        code: writeErrors[0]!.code,
        writeErrors,
        result,
        ...result,
      });
    }
    return result;
  }

  /** The fake `Db` (cast it to the driver's `Db`). */
  db(): FakeDb {
    return new FakeDb(this);
  }

  // ---- operations, called by FakeDb / FakeCollectionHandle ----

  create(name: string, options: Doc = {}): Promise<void> {
    const { writeConcern: _wc, session: _s, ...spec } = options;
    return this.#run('create', name, options, () => {
      const existing = this.#collections.get(name);
      if (existing !== undefined) {
        const same = key(existing.options) === key(spec);
        if (this.version === '6.0' && this.topology !== 'mongos')
          throw serverError(48, `Collection ${name} already exists.`, { codeName: 'NamespaceExists' });
        if (!same) throw serverError(48, `Collection ${name} already exists with different options.`, { codeName: 'NamespaceExists' });
        return;
      }
      this.#collections.set(name, {
        uuid: new BSON.UUID(),
        options: clone(spec),
        docs: [],
        indexes: [idIndex(spec)],
        sharded: false,
      });
    });
  }

  listCollections(filter: Doc, options: Doc = {}): Doc[] {
    this.record('listCollections', '', options, filter, false);
    return [...this.#collections]
      .filter(([name]) => matches({ name }, filter))
      .map(([name, c]) => {
        const type = c.type ?? 'collection';
        if (options.nameOnly === true) return { name, type };
        const info = { readOnly: type === 'view', uuid: c.uuid };
        return { name, type, options: clone(c.options), info, ...(type === 'view' ? {} : { idIndex: idIndex(c.options) }) };
      });
  }

  drop(name: string, options: Doc = {}): Promise<boolean> {
    return this.#run('drop', name, options, () => {
      this.#need(name);
      this.#collections.delete(name);
      return true;
    });
  }

  rename(from: string, to: string, options: Doc = {}): Promise<void> {
    return this.#run(
      'renameCollection',
      from,
      options,
      () => {
        const source = this.#need(from);
        const target = this.#collections.get(to);
        if (source.sharded || target?.sharded === true)
          throw serverError(20, 'cannot rename a sharded collection', { codeName: 'IllegalOperation' });
        if (target !== undefined && options.dropTarget !== true)
          throw serverError(48, `target namespace exists: ${to}`, { codeName: 'NamespaceExists' });
        this.#collections.delete(from);
        this.#collections.set(to, source); // same collection, same UUID
      },
      { to },
    );
  }

  command(cmd: Doc): Promise<Doc> {
    const op = Object.keys(cmd)[0]!;
    return this.#run(op, typeof cmd[op] === 'string' ? (cmd[op] as string) : '', cmd, () => {
      const unknown = Object.keys((cmd.writeConcern as Doc | undefined) ?? {}).find((k) => !WIRE_WRITE_CONCERN.includes(k));
      if (unknown !== undefined)
        throw serverError(40415, `BSON field 'WriteConcernOptions.${unknown}' is an unknown field.`, { codeName: 'IDLUnknownField' });
      if (op === 'hello') {
        if (this.topology === 'mongos') return { ok: 1, msg: 'isdbgrid', maxBsonObjectSize: this.maxBsonObjectSize };
        return { ok: 1, maxBsonObjectSize: this.maxBsonObjectSize, ...(this.topology === 'replicaSet' ? { setName: 'rs0' } : {}) };
      }
      if (op === 'createIndexes') {
        const c = this.#need(cmd.createIndexes as string);
        for (const ix of cmd.indexes as Doc[]) {
          if (c.indexes.some((i) => i.name === ix.name)) continue;
          // Building a unique index over documents that share a key fails (E11000), and builds nothing.
          const fields = Object.keys(ix.key as Doc);
          const keys = c.docs.map((d) => key(fields.map((f) => getPath(d, f))));
          const twice = keys.findIndex((k, i) => keys.indexOf(k) !== i);
          if (ix.unique === true && twice >= 0) {
            const keyValue = Object.fromEntries(fields.map((f) => [f, getPath(c.docs[twice]!, f)]));
            throw serverError(
              11000,
              `E11000 duplicate key error collection index: ${String(ix.name)} dup key: ${JSON.stringify(keyValue)}`,
              {
                keyValue,
              },
            );
          }
          c.indexes.push({ v: 2, ...indexCollation(c.options), ...clone(ix) });
        }
        return { ok: 1 };
      }
      if (op === 'collMod') {
        const c = this.#need(cmd.collMod as string);
        const { collMod: _n, writeConcern: _w, ...rest } = cmd;
        c.options = { ...c.options, ...clone(rest) };
        return { ok: 1 };
      }
      throw new Error(`fake: unsupported command ${op}`);
    });
  }

  op<T>(op: string, ns: string, options: Doc | undefined, apply: () => T, args?: unknown): Promise<T> {
    return this.#run(op, ns, options, apply, args);
  }

  collectionHandle(name: string, defaults: Doc = {}): FakeCollectionHandle {
    return new FakeCollectionHandle(this, name, defaults, {
      need: (n) => this.#need(n),
      implicit: (n) => this.#implicit(n),
      readable: (n, o) => this.#readable(n, o),
      insert: (c, d) => this.#insert(c, d),
      update: (c, f, u, up, rep) => this.#update(c, f, u, up, rep),
      bulk: (n, ops, ordered) => this.#bulk(n, ops, ordered),
    });
  }
}

interface Internals {
  need(name: string): FakeCollection;
  implicit(name: string): FakeCollection;
  readable(name: string, options: Doc | undefined): Doc[];
  insert(c: FakeCollection, doc: Doc): Error | undefined;
  update(
    c: FakeCollection,
    filter: Doc,
    update: Doc,
    upsert: boolean,
    replace: boolean,
  ): { matched: number; upserted: number; error?: Error };
  bulk(name: string, ops: Doc[], ordered: boolean): Doc;
}

/** The fake `Collection`. */
export class FakeCollectionHandle {
  readonly #server: FakeMongo;
  readonly #i: Internals;
  readonly #defaults: Doc;
  readonly collectionName: string;
  constructor(server: FakeMongo, name: string, defaults: Doc, internals: Internals) {
    this.#server = server;
    this.#i = internals;
    this.#defaults = defaults;
    this.collectionName = name;
  }
  /** The server, with the collection's own options (its write concern) under each call's. */
  get #s(): { op: FakeMongo['op']; record: FakeMongo['record'] } {
    return {
      op: (op, ns, options, apply, args) => this.#server.op(op, ns, { ...this.#defaults, ...options }, apply, args),
      record: (op, ns, options, args, tx) => this.#server.record(op, ns, { ...this.#defaults, ...options }, args, tx),
    };
  }
  insertOne(doc: Doc, options?: Doc): Promise<Doc> {
    return this.#s.op(
      'insert',
      this.collectionName,
      options,
      () => {
        const e = this.#i.insert(this.#i.implicit(this.collectionName), doc);
        if (e !== undefined) throw e;
        return { acknowledged: true, insertedId: doc._id };
      },
      [doc],
    );
  }
  insertMany(docs: Doc[], options?: Doc): Promise<Doc> {
    return this.#s.op(
      'insert',
      this.collectionName,
      options,
      () =>
        this.#i.bulk(
          this.collectionName,
          docs.map((document) => ({ insertOne: { document } })),
          options?.ordered !== false,
        ),
      docs,
    );
  }
  bulkWrite(ops: Doc[], options?: Doc): Promise<Doc> {
    // The driver refuses a replacement whose first key starts with `$` before sending anything.
    if (ops.some((o) => Object.keys(((o.replaceOne as Doc | undefined)?.replacement as Doc | undefined) ?? {})[0]?.startsWith('$')))
      return Promise.reject(
        Object.assign(new Error('Replacement document must not use atomic operators'), { name: 'MongoInvalidArgumentError' }),
      );
    const op = ops.some((o) => 'insertOne' in o) ? 'insert' : ops.some((o) => 'deleteMany' in o) ? 'delete' : 'update';
    return this.#s.op(op, this.collectionName, options, () => this.#i.bulk(this.collectionName, ops, options?.ordered !== false), ops);
  }
  /** One replaceOne or updateOne, as a one-operation ordered bulk write. */
  #one(kind: 'replaceOne' | 'updateOne', filter: Doc, change: Doc, options?: Doc): Promise<Doc> {
    const op = { filter, [kind === 'replaceOne' ? 'replacement' : 'update']: change, upsert: options?.upsert === true };
    return this.#s.op('update', this.collectionName, options, () => this.#i.bulk(this.collectionName, [{ [kind]: op }], true), [
      filter,
      change,
    ]);
  }
  replaceOne(filter: Doc, replacement: Doc, options?: Doc): Promise<Doc> {
    return this.#one('replaceOne', filter, replacement, options);
  }
  updateOne(filter: Doc, update: Doc, options?: Doc): Promise<Doc> {
    return this.#one('updateOne', filter, update, options);
  }
  deleteMany(filter: Doc, options?: Doc): Promise<Doc> {
    return this.#s.op(
      'delete',
      this.collectionName,
      options,
      () => this.#i.bulk(this.collectionName, [{ deleteMany: { filter } }], true),
      filter,
    );
  }
  countDocuments(filter: Doc = {}, options?: Doc): Promise<number> {
    return this.#s.op(
      'count',
      this.collectionName,
      options,
      () => this.#i.readable(this.collectionName, options).filter((d) => matches(d, filter)).length,
      filter,
    );
  }
  find(filter: Doc = {}, options?: Doc): FakeCursor {
    this.#s.record(
      'find',
      this.collectionName,
      options ?? {},
      filter,
      (options?.session as FakeSession | undefined)?.inTransaction === true,
    );
    return new FakeCursor(
      () => this.#i.readable(this.collectionName, options).filter((d) => matches(d, filter)),
      options?.projection as Doc | undefined,
      options,
    );
  }
  async findOne(filter: Doc, options?: Doc): Promise<Doc | null> {
    return this.#s.op(
      'find',
      this.collectionName,
      options,
      () => {
        const d = this.#i.readable(this.collectionName, options).find((x) => matches(x, filter));
        return d === undefined ? null : clone(d);
      },
      filter,
    );
  }
  createIndexes(specs: Doc[], options?: Doc): Promise<string[]> {
    return this.#s.op(
      'createIndexes',
      this.collectionName,
      options,
      () => {
        const c = this.#i.implicit(this.collectionName);
        for (const s of specs)
          if (!c.indexes.some((i) => i.name === s.name)) c.indexes.push({ v: 2, ...indexCollation(c.options), ...clone(s) });
        return specs.map((s) => String(s.name));
      },
      specs,
    );
  }
  createIndex(keySpec: Doc, options: Doc = {}): Promise<string> {
    const { writeConcern, ...rest } = options;
    return this.createIndexes([{ key: keySpec, ...rest }], writeConcern === undefined ? {} : { writeConcern }).then((n) => n[0]!);
  }
  /** Only a lone `$merge` stage, as the staging target's truncate commit sends it. */
  aggregate(pipeline: Doc[], options?: Doc): { toArray: () => Promise<Doc[]> } {
    const merge = pipeline[0]?.$merge as Doc | undefined;
    if (
      pipeline.length !== 1 ||
      merge === undefined ||
      merge.on !== '_id' ||
      merge.whenMatched !== 'replace' ||
      merge.whenNotMatched !== 'insert'
    )
      throw new Error(`fake: unsupported pipeline ${JSON.stringify(pipeline)}`);
    const into = merge.into as string;
    return {
      toArray: () =>
        this.#s.op(
          'aggregate',
          this.collectionName,
          options,
          () => {
            const ops = this.#i
              .need(this.collectionName)
              .docs.map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } }));
            this.#i.bulk(into, ops, true);
            return [];
          },
          pipeline,
        ),
    };
  }
  listIndexes(): FakeCursor {
    return new FakeCursor(() => this.#i.need(this.collectionName).indexes);
  }
}

/** The fake `Db`. */
export class FakeDb {
  readonly #s: FakeMongo;
  readonly databaseName = 'fake';
  constructor(server: FakeMongo) {
    this.#s = server;
  }
  get client(): unknown {
    return this.#s.client;
  }
  collection(name: string, options?: Doc): FakeCollectionHandle {
    return this.#s.collectionHandle(name, options);
  }
  async createCollection(name: string, options?: Doc): Promise<FakeCollectionHandle> {
    await this.#s.create(name, options);
    return this.collection(name);
  }
  listCollections(filter: Doc = {}, options: Doc = {}): { toArray: () => Promise<Doc[]> } {
    return { toArray: async () => this.#s.listCollections(filter, options) };
  }
  dropCollection(name: string, options?: Doc): Promise<boolean> {
    return this.#s.drop(name, options);
  }
  async renameCollection(from: string, to: string, options?: Doc): Promise<FakeCollectionHandle> {
    await this.#s.rename(from, to, options);
    return this.collection(to);
  }
  command(cmd: Doc): Promise<Doc> {
    return this.#s.command(cmd);
  }
}
