/**
 * The staging target's protocol with the server (internal): the lock
 * markers and staging collections `begin` takes, the commit record, how
 * each collection is put in place (rename or copy) and rolled forward, and
 * recovery of what crashed imports left. The decisions themselves are pure
 * functions in `staging-state.ts`; this module carries them out.
 *
 * @module
 */
import type { Collection, Db, Document, WriteConcernSettings } from 'mongodb';
import { err, ok, Result, ResultAsync, safeTry } from 'neverthrow';
import { BackfillError } from '../errors.js';
import type { StagingSessionOptions } from '../staging/staging-target.js';
import { dropIfExists } from './collections.js';
import { invalid } from './config.js';
import { DEFAULT_MAX_BSON_OBJECT_SIZE, DECIDING_READ, DRYRUN_SUFFIX, INCOMING_SUFFIX } from './defaults.js';
import { mongoErrorCode, mongoErrorToBackfill, withMongoRetry, type MongoRetryOptions } from './errors.js';
import type { MongoLeftovers } from './mongo-staging-target.js';
import type { StagingContext } from './staging-context.js';
import { incomingOptions } from './staging-rules.js';
import {
  beginProblem,
  commitEntryState,
  planRecovery,
  type BeginProblem,
  type CommitEntry,
  type CommitEntryState,
  type CommitRecord,
  type ObservedCollections,
  type StagingMarker,
} from './staging-state.js';

/** Runs `fn` and maps what it throws. */
export function attempt<T>(fn: () => Promise<T>, table?: string): ResultAsync<T, BackfillError> {
  return ResultAsync.fromPromise(fn(), (e) => mongoErrorToBackfill(e, table === undefined ? {} : { table }));
}

/** Collection name → UUID (hex) of those of `names` that exist. */
export async function observe(db: Db, names: readonly string[]): Promise<Map<string, string>> {
  const infos = await db.listCollections({ name: { $in: [...names] } }).toArray();
  return new Map(infos.map((c) => [c.name, uuidHex((c as { info?: { uuid?: unknown } }).info?.uuid)]));
}

function uuidHex(uuid: unknown): string {
  const u = uuid as { toString?: (encoding: string) => string } | undefined;
  return typeof u?.toString === 'function' ? u.toString('hex') : '';
}

/** The live collection's secondary indexes, recreated on the incoming one before the commit point. */
export async function copyIndexes(db: Db, from: string, to: string, writeConcern: WriteConcernSettings): Promise<number> {
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
  await db.command({ createIndexes: to, indexes: copies, writeConcern: wireWriteConcern(writeConcern) });
  return copies.length;
}

/**
 * `writeConcern` as a command sent through `db.command` must carry it: the
 * driver passes such a command on as it is, and the server knows only `w`,
 * `j` and `wtimeout` there (a `wtimeoutMS` or `journal` is refused as an
 * unknown field). The fields win over their aliases as in the driver's
 * own commands.
 */
export function wireWriteConcern(writeConcern: WriteConcernSettings): Document {
  const { w, wtimeout, wtimeoutMS, j, journal, fsync } = writeConcern;
  const journaled = fsync === undefined || fsync === null ? (j ?? journal) : Boolean(fsync);
  const timeout = wtimeout ?? wtimeoutMS;
  return {
    ...(w === undefined ? {} : { w }),
    ...(journaled === undefined ? {} : { j: journaled }),
    ...(timeout === undefined ? {} : { wtimeout: timeout }),
  };
}

/** The staging collection of `collection` on a real import. */
export function incomingName(collection: string): string {
  return `${collection}${INCOMING_SUFFIX}`;
}

/** Live collection → the collection a session with `options` loads; a table not configured is `INVALID_ARGUMENT`. */
export function stagingNames(r: StagingContext, options: StagingSessionOptions): Result<Map<string, string>, BackfillError> {
  const unknown = options.tables.find((table) => !r.collections.includes(table));
  if (unknown !== undefined)
    return invalid(`collection ${JSON.stringify(unknown)} is not one of this target's collections.`, { table: unknown });
  return ok(new Map(options.tables.map((table) => [table, options.dryRun ? `${table}${DRYRUN_SUFFIX}` : incomingName(table)])));
}

/** The configured limit, else the server's `maxBsonObjectSize`, else 16 MiB. */
export async function maxBsonObjectSize(r: StagingContext): Promise<number> {
  if (r.maxBsonObjectSize !== undefined) return r.maxBsonObjectSize;
  const hello = await withMongoRetry(() => r.db.command({ hello: 1 }), r.retry);
  const reported = (hello as { maxBsonObjectSize?: unknown }).maxBsonObjectSize;
  return typeof reported === 'number' && reported > 0 ? reported : DEFAULT_MAX_BSON_OBJECT_SIZE;
}

/**
 * Inserts the lock marker; true when another session's marker already holds
 * the name. A duplicate key is this session's own marker only when the
 * stored one carries its token: a retry after a lost reply finds the marker
 * its first attempt wrote, but one after an attempt that never arrived can
 * find another import's, taken meanwhile.
 */
async function markerHeld(r: StagingContext, marker: StagingMarker): Promise<boolean> {
  try {
    await withMongoRetry(() => stateCollection(r).insertOne(marker as unknown as Document, { writeConcern: r.writeConcern }), r.retry);
    return false;
  } catch (error) {
    if (mongoErrorCode(error) !== 11000) throw error;
    const stored = await withMongoRetry(() => stateCollection(r).findOne({ _id: marker._id } as Document, DECIDING_READ), r.retry);
    return (stored as StagingMarker | null)?.session !== marker.session;
  }
}

/** Takes the markers, checks and creates the staging collections; on failure releases what it took. */
export function claim(
  r: StagingContext,
  dest: ReadonlyMap<string, string>,
  options: ReadonlyMap<string, Document>,
  token: string,
): ResultAsync<Map<string, string>, BackfillError> {
  const uuids = new Map<string, string>();
  /** The collection whose `create` was sent but whose UUID is not recorded yet. */
  let creating: string | undefined;
  const listed = (name: string) => attempt(() => withMongoRetry(() => observe(r.db, [name]), r.retry), name);
  return safeTry(async function* () {
    for (const [table, name] of dest) {
      const marker: StagingMarker = { _id: name, kind: 'marker', live: table, session: token, uuid: null, startedAt: new Date() };
      const held = yield* attempt(() => markerHeld(r, marker), table);
      const problem = beginProblem(name, held, yield* listed(name));
      if (problem !== undefined) return err(lockedError(problem, table, name));
      creating = name;
      yield* attempt(
        () => withMongoRetry(() => r.db.createCollection(name, { ...options.get(table), writeConcern: r.writeConcern }), r.retry),
        table,
      );
      const uuid = (yield* listed(name)).get(name);
      if (uuid === undefined)
        return err(
          new BackfillError('MONGO_ERROR', `collection ${name} was created but is not listed; import again.`, {
            context: { table, collection: name },
          }),
        );
      uuids.set(name, uuid);
      creating = undefined;
      const record = { $set: { uuid } };
      yield* attempt(
        () =>
          withMongoRetry(
            () => stateCollection(r).updateOne({ _id: name, session: token } as Document, record, { writeConcern: r.writeConcern }),
            r.retry,
          ),
        table,
      );
    }
    return ok(uuids);
  }).orElse((error) =>
    ResultAsync.fromSafePromise(releaseClaim(r, token, uuids, creating).catch(() => undefined)).andThen(() => err(error)),
  );
}

/**
 * Releases what a failed `begin` took. A `create` that failed may still
 * have been applied (a write concern error, or a reply lost after the
 * server created it): the name was free when this session checked it under
 * its marker, so a collection there now is taken as the one it created, as
 * {@link planRecovery} takes it after a crash, and dropped with the rest.
 * Otherwise the marker would be removed and the collection left behind,
 * unowned, for every later import to find `LOCKED`.
 */
async function releaseClaim(
  r: StagingContext,
  token: string,
  uuids: ReadonlyMap<string, string>,
  creating: string | undefined,
): Promise<void> {
  const owned = new Map(uuids);
  if (creating !== undefined) {
    const uuid = (await withMongoRetry(() => observe(r.db, [creating]), r.retry)).get(creating);
    if (uuid !== undefined) owned.set(creating, uuid);
  }
  await releaseSession(r, token, owned);
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
export function stagingOptions(r: StagingContext, tables: readonly string[]): ResultAsync<Map<string, Document>, BackfillError> {
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
export function recoverLeftovers(r: StagingContext): ResultAsync<MongoLeftovers, BackfillError> {
  return safeTry(async function* () {
    const docs = yield* attempt(() => withMongoRetry(() => stateCollection(r).find({}, DECIDING_READ).toArray(), r.retry));
    const markers = docs.filter((d) => d.kind === 'marker') as unknown as StagingMarker[];
    const commits = docs.filter((d) => d.kind === 'commit') as unknown as CommitRecord[];
    const damaged = (commits as readonly unknown[]).find((c) => !isCommitRecord(c)) as { readonly _id?: unknown } | undefined;
    if (damaged !== undefined) {
      const id = JSON.stringify(String(damaged._id));
      return err(
        new BackfillError(
          'COMMIT_INCOMPLETE',
          `${r.state}: the commit record ${id} is not one this library writes (it needs a session and a list of tables, each { live, incoming, uuid }, and \`copied\` a list of names): was it edited by hand? Nothing was changed. Restore it as it was, or finish that commit yourself (rename each incoming collection over its live one) and delete the record, then call dropLeftovers() again.`,
          { context: { table: r.state, id: String(damaged._id) } },
        ),
      );
    }
    const staging = r.collections.flatMap((c) => [incomingName(c), `${c}${DRYRUN_SUFFIX}`]);
    const names = [
      ...new Set([
        ...staging,
        ...r.collections,
        ...markers.map((m) => m._id),
        ...commits.flatMap((c) => c.tables.flatMap((t) => [t.live, t.incoming])),
      ]),
    ];
    const observed: ObservedCollections = yield* attempt(() => withMongoRetry(() => observe(r.db, names), r.retry));
    const dropped: string[] = [];
    const completed: string[] = [];
    const notOurs: string[] = [];
    const lost: string[] = [];
    for (const step of planRecovery(markers, commits, observed, staging)) {
      if (step.kind === 'drop') {
        yield* attempt(() => withMongoRetry(() => dropIfExists(r.db, step.collection, r.writeConcern), r.retry), step.collection);
        dropped.push(step.collection);
      } else if (step.kind === 'finish') {
        yield* rollForward(r, step.record, step.entry, step.copied, r.retry);
        completed.push(step.entry.live);
      } else if (step.kind === 'foreign') notOurs.push(step.collection);
      else if (step.kind === 'lost') lost.push(step.live);
      else if (step.kind === 'forget') yield* attempt(() => forgetSession(r, step.session));
    }
    if (lost.length > 0) {
      return err(
        new BackfillError(
          'COMMIT_INCOMPLETE',
          `a recorded commit cannot be finished: the new ${lost.join(', ')} ${lost.length === 1 ? 'is' : 'are'} gone; restore from a backup or import again, then delete the commit record from ${r.state}.`,
          { context: { lost, dropped, completed } },
        ),
      );
    }
    return ok({ dropped, completed, notOurs });
  });
}

/** Whether a document of the state collection has the shape of a {@link CommitRecord}. */
function isCommitRecord(doc: unknown): doc is CommitRecord {
  const c = doc as { _id?: unknown; session?: unknown; tables?: unknown; copied?: unknown };
  const text = (v: unknown): boolean => typeof v === 'string' && v !== '';
  const entry = (e: unknown): boolean => {
    const x = e as { live?: unknown; incoming?: unknown; uuid?: unknown; method?: unknown } | null;
    return (
      typeof x === 'object' &&
      x !== null &&
      text(x.live) &&
      text(x.incoming) &&
      text(x.uuid) &&
      (x.method === undefined || x.method === 'rename' || x.method === 'copy')
    );
  };
  return (
    text(c._id) &&
    text(c.session) &&
    Array.isArray(c.tables) &&
    c.tables.every(entry) &&
    (c.copied === undefined || (Array.isArray(c.copied) && c.copied.every(text)))
  );
}

export function stateCollection(r: StagingContext): Collection {
  return r.db.collection(r.state);
}

/**
 * Runs an insert that may be retried: a duplicate key on a retry means the
 * lost attempt was applied. Only for a key no other session writes (the
 * commit record's holds this session's token); see {@link markerHeld}.
 */
export async function writeOnce(fn: () => Promise<unknown>, retry: MongoRetryOptions): Promise<void> {
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
 * record, then drops the incoming one. Every step can be repeated. An
 * entry whose incoming collection is gone before it was put in place is
 * `COMMIT_INCOMPLETE`.
 */
export function rollForward(
  r: StagingContext,
  record: string,
  entry: CommitEntry,
  copied: readonly string[],
  retry: MongoRetryOptions,
): ResultAsync<void, BackfillError> {
  let done = copied;
  const step = async (): Promise<CommitEntryState> => {
    const state = commitEntryState(entry, await observe(r.db, [entry.live, entry.incoming]), done);
    if (state !== 'pending') return state;
    if (entry.method !== 'copy') {
      await r.db.renameCollection(entry.incoming, entry.live, { dropTarget: true, writeConcern: r.writeConcern });
      return 'done';
    }
    if (!done.includes(entry.live)) {
      await copyOver(r, record, entry);
      done = [...done, entry.live];
    }
    await dropIfExists(r.db, entry.incoming, r.writeConcern);
    return 'done';
  };
  return attempt(() => withMongoRetry(step, retry), entry.live).andThen((state) =>
    state === 'lost'
      ? err(
          new BackfillError(
            'COMMIT_INCOMPLETE',
            `collection ${entry.incoming} of a recorded commit is gone and ${entry.live} does not hold its documents; restore ${entry.live} from a backup or import again.`,
            { context: { table: entry.live, collection: entry.incoming } },
          ),
        )
      : ok(undefined),
  );
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
export async function forgetSession(r: StagingContext, session: string): Promise<void> {
  await withMongoRetry(() => stateCollection(r).deleteMany({ session }, { writeConcern: r.writeConcern }), r.retry);
}

/** Drops the collections the session created (by UUID), then forgets it. */
export async function releaseSession(r: StagingContext, session: string, uuids: ReadonlyMap<string, string>): Promise<void> {
  const observed = await withMongoRetry(() => observe(r.db, [...uuids.keys()]), r.retry);
  for (const [name, uuid] of uuids) {
    if (observed.get(name) === uuid)
      await withMongoRetry(() => dropIfExists(r.db, name, r.writeConcern), { ...r.retry, what: `drop ${name}` });
  }
  await forgetSession(r, session);
}
