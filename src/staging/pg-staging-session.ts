/**
 * One PostgreSQL staging import: the transaction that empties or replaces
 * the live tables, the COPY of each table (on loader connections of their
 * own for a swap), the checks before commit, and the swap itself.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { okAsync, ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { loggerOf, throwIfAborted } from '../_internals/logger.js';
import { isPassingConnectionLoss, pgErrorToBackfill, TOO_MANY_CONNECTIONS, type PgClientLike } from '../_internals/pg.js';
import { quoteIdent, type QualifiedName } from '../_internals/sql-identifier.js';
import { copyRows } from './pg-copy-rows.js';
import {
  checkFreshTable,
  checkNameCase,
  checkSwapAccess,
  checkTableShapes,
  explainLockTimeout,
  findSwapLeftovers,
  holdSwapTag,
  letGoOfSwapTag,
  referencedTables,
  swapMark,
} from './pg-table-checks.js';
import {
  addConstraint,
  alterFreshColumns,
  addIdPrimaryKey,
  analyzeTable,
  BEGIN,
  BEGIN_READ_COMMITTED,
  COMMIT,
  commentAndPrimaryKey,
  commentOnTable,
  countRows,
  countSchemas,
  createFreshTable,
  createIndexUsing,
  createLiveTable,
  createSchema,
  createTemporaryTable,
  DATABASE_DEFAULT_TABLESPACE,
  deleteAllRows,
  dependents,
  dropConstraint,
  dropTable,
  type FreshSettings,
  freshSettings,
  generated,
  lockTableNowait,
  missingSchemas,
  missingTables,
  lockTables,
  NO_IDLE_TIMEOUT,
  OPEN_CURSORS,
  primaryKeyOf,
  PROBE_SAVEPOINT,
  query,
  RELEASE_PROBE,
  RELEASE_SAVEPOINT,
  revokeOthersPrivileges,
  ROLLBACK,
  ROLLBACK_TO_PROBE,
  ROLLBACK_TO_SAVEPOINT,
  renameConstraint,
  relationNamed,
  renameIndex,
  renameTable,
  SAVEPOINT,
  PIN_SEARCH_PATH,
  SEARCH_PATH,
  secondaryIndexes,
  setSearchPath,
  setIndexTablespace,
  type Statement,
  setLockTimeout,
  setTableOwner,
  swapCarryOver,
  swapPrivileges,
  truncateTables,
} from './sql.js';
import type { StagingCommitInfo, StagingRow, StagingSession, StagingSessionOptions } from './staging-target.js';

/** `Key (id)=(abc) already exists.` / `… is duplicated.` */
function duplicateKeyFrom(detail: unknown): string | undefined {
  if (typeof detail !== 'string') return undefined;
  return /^Key \(id\)=\((.*)\) (?:already exists|is duplicated)\.$/s.exec(detail)?.[1];
}

/** A failure of the database (or of the batches fed to it) as the session's error; a BackfillError passes through. */
export function dbError(error: unknown, table?: string): BackfillError {
  if (error instanceof BackfillError) return error;
  if ((error as { name?: unknown } | null)?.name === 'AbortError') {
    return new BackfillError('ABORTED', 'The import was aborted; nothing was committed.', {
      cause: error,
      context: table === undefined ? {} : { table },
    });
  }
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown } | null;
  if (e?.code === '23503') {
    // A deferred foreign key checked at COMMIT, or a RESTRICT/NO ACTION key on DELETE.
    return new BackfillError(
      'TABLE_REFERENCED',
      `rows of another table still reference rows this import removes (${String(e.message)}); empty or repoint them, or drop the constraint. Nothing was changed.`,
      {
        cause: error,
        dbCode: '23503',
        context: { ...(table === undefined ? {} : { table }), ...(typeof e.constraint === 'string' ? { constraint: e.constraint } : {}) },
      },
    );
  }
  const where = (error as { where?: unknown } | null)?.where;
  const id = duplicateKeyFrom((error as { detail?: unknown } | null)?.detail);
  const context = {
    ...(table === undefined ? {} : { table }),
    ...(id === undefined ? {} : { id }),
    ...(typeof where === 'string' ? { where } : {}),
  };
  return pgErrorToBackfill(
    error,
    context,
    table === undefined ? 'PostgreSQL' : `PostgreSQL (${table}${typeof where === 'string' ? `; ${where}` : ''})`,
  );
}

/**
 * A lost connection (`DB_CONNECTION`) during an import, told with what it
 * left: before COMMIT was sent nothing was committed; while COMMIT was in
 * flight the server may have committed or not, and only the tables say
 * which. A connection the server had no slot for (53300) says so. A
 * connection refused for good (no such database, a rejected login) says
 * to fix the URL instead. Other errors pass through. One lost with COMMIT
 * in flight has `commitInFlight: true` in its context.
 */
export function lostConnection(error: BackfillError, commitSent: boolean): BackfillError {
  if (error.code !== 'DB_CONNECTION') return error;
  const outcome = commitSent
    ? "The connection was lost while COMMIT was in flight, so the import may or may not have committed: compare the tables' row counts with the dataset's manifest, and import again if they differ."
    : error.dbCode === TOO_MANY_CONNECTIONS
      ? 'The server had no connection slot to spare (too many connections), so nothing was committed and the tables keep what they held; import again once fewer connections are open, or raise the limit.'
      : isPassingConnectionLoss(error)
        ? 'The connection was lost before the import committed, so nothing was committed and the tables keep what they held; import again once the server accepts connections.'
        : // No such database, or a rejected login: waiting for the server heals neither.
          'The server refused the connection for good (no such database, or the login was rejected), so nothing was changed; fix the database, user or password of the connection URL and import again.';
  return new BackfillError('DB_CONNECTION', `${error.message}. ${outcome}`, {
    cause: error.cause,
    // Said in the context too, for what advises a rerun by the cause alone (the CLI's fix line).
    context: commitSent ? { ...error.context, commitInFlight: true } : error.context,
    ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
    detail: error.detail,
  });
}

function elapsedMs(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

/**
 * Empties live tables inside the caller's transaction, under ACCESS
 * EXCLUSIVE: TRUNCATE, except for tables a foreign key of another table
 * references, which TRUNCATE cannot empty; their rows are DELETEd (one WAL
 * record and one dead tuple per row, reclaimed by a later VACUUM). Returns
 * the tables that were DELETEd.
 */
export async function emptyTables(client: PgClientLike, live: readonly QualifiedName[], userPath: string): Promise<Set<string>> {
  await query(client, lockTables(live.map((n) => n.sql)));
  const referenced = await referencedTables(client, live);
  const plain = live.filter((n) => !referenced.has(n.sql));
  // TRUNCATE and DELETE fire the tables' triggers.
  await underUserPath(client, userPath, async () => {
    if (plain.length > 0) await query(client, truncateTables(plain.map((n) => n.sql)));
    for (const n of live) if (referenced.has(n.sql)) await query(client, deleteAllRows(n.sql));
  });
  return referenced;
}

/** An index of a live table that no constraint owns, as {@link secondaryIndexes} describes it. */
interface LiveIndex {
  readonly name: string;
  readonly nspname: string;
  readonly def: string;
  readonly prefix: string;
  readonly tablespace: string | null;
}

/** What an index list looks like for comparing two of them: `pg_get_indexdef` leaves out the tablespace, which the swapped-in index is built in too. */
function indexDefs(indexes: readonly LiveIndex[]): string[] {
  return indexes.map((i) => `${i.name}: ${i.def}${i.tablespace === null ? '' : ` TABLESPACE ${i.tablespace}`}`);
}

/**
 * How each of {@link FreshSettings} is named in an error. Not `columns`: the
 * swap carries each column's settings over under its lock, and rows loaded
 * before a change keep their layout, as the live table's own rows would.
 */
const SETTING_NAMES: Readonly<Record<Exclude<keyof FreshSettings, 'columns'>, string>> = {
  options: 'storage parameters (WITH …)',
  tablespace: 'tablespace',
  keyOptions: "primary key's index storage parameters",
  keyTablespace: "primary key's index tablespace",
  keyInclude: "primary key's INCLUDE columns",
  keyDeferrable: "primary key's DEFERRABLE mode",
  owner: 'owner',
  accessMethod: 'access method',
  firstColumn: 'first of the id and raw columns',
};

/**
 * What differs between the live table's settings a swap built its fresh
 * table with (`built`) and the live table's settings now, as phrases
 * (`access method was heap, now columnar`); empty when nothing does.
 */
function settingChanges(built: FreshSettings | undefined, now: FreshSettings | undefined): string[] {
  if (built === undefined || now === undefined) return built === now ? [] : ['its settings could not be read again'];
  const shown = (v: string | null): string => v ?? 'the default';
  return (Object.keys(SETTING_NAMES) as (keyof typeof SETTING_NAMES)[])
    .filter((k) => built[k] !== now[k])
    .map((k) => `${SETTING_NAMES[k]} was ${shown(built[k])}, now ${shown(now[k])}`);
}

/**
 * Pins the `search_path` of the transaction on `client` to `pg_catalog`
 * ({@link PIN_SEARCH_PATH}) and returns the one it replaced. An import
 * sends every statement under it, so a function, operator or type its SQL
 * names without a schema (an `=`, a `||`) is pg_catalog's, never a
 * look-alike that a schema earlier in the connection's `search_path`
 * holds; and index definitions are printed (`pg_get_indexdef`) and run
 * again under it, so every name outside `pg_catalog` is qualified. Only
 * the statements that run the user's own code (see {@link underUserPath})
 * run under the connection's `search_path`.
 */
export async function pinSearchPath(client: PgClientLike): Promise<string> {
  const [current] = await query<{ path: string }>(client, SEARCH_PATH);
  await query(client, PIN_SEARCH_PATH);
  return current!.path;
}

/**
 * Runs `fn` under `path` (the connection's own `search_path`, as
 * {@link pinSearchPath} returned it), then pins it again: a COPY into a live
 * table, TRUNCATE, DELETE and ANALYZE run the user's triggers, defaults and
 * index expressions, which may rely on it, as they do outside an import.
 */
async function underUserPath<T>(client: PgClientLike, path: string, fn: () => Promise<T>): Promise<T> {
  await query(client, setSearchPath(path));
  const result = await fn();
  await query(client, PIN_SEARCH_PATH);
  return result;
}

/** Runs `fn` on a connection of its own. */
export type Loader = <T>(fn: (client: PgClientLike) => Promise<T>) => Promise<T>;

/** What a session is built from; `apart` is set when the target can open more connections (swap loads use them). */
export interface PgSessionParts {
  readonly client: PgClientLike;
  readonly options: StagingSessionOptions;
  readonly live: ReadonlyMap<string, QualifiedName>;
  readonly lockTimeoutMs: number;
  readonly apart: Loader | undefined;
  /** Called once the session ends; a failure destroys the connection rather than pooling it. */
  readonly release: (failure?: unknown) => void;
}

/** One import's transaction on a connection the target holds until commit or abort. */
export class PgStagingSession implements StagingSession {
  readonly #client: PgClientLike;
  readonly #options: StagingSessionOptions;
  readonly #live: ReadonlyMap<string, QualifiedName>;
  readonly #lockTimeoutMs: number;
  readonly #release: (failure?: unknown) => void;
  /** Separate connections, when the target can open them; used by swap loads. */
  readonly #apart: Loader | undefined;
  /** Where each table's rows go: the live table (truncate) or a fresh one. */
  readonly #dest = new Map<string, QualifiedName>();
  /** The primary key each table gets once its COPY is done. */
  readonly #keyAfterLoad = new Map<string, Statement>();
  /** A swap: the live table's settings, which its fresh table is built with. */
  readonly #settings = new Map<string, FreshSettings>();
  /** A swap: the live table's other indexes, built on the fresh table after its key and renamed into place by the swap. */
  readonly #indexes = new Map<string, readonly LiveIndex[]>();
  /** Tables emptied by DELETE (a foreign key references them): no COPY FREEZE. */
  #deleted = new Set<string>();
  /** Fresh tables committed by their own loader connection (dropped on abort). */
  readonly #committedFresh: QualifiedName[] = [];
  /** Old tables renamed aside by the swap, dropped after COMMIT. */
  readonly #retired: QualifiedName[] = [];
  /** What the session dropped: leftovers of earlier swaps, then its own old tables. */
  readonly #dropped: string[] = [];
  /** Every load started, settled or not. */
  readonly #loads: Promise<unknown>[] = [];
  /** Loads on the session's own connection run one after another. */
  #serial: Promise<unknown> = Promise.resolve();
  #parallel = false;
  readonly #tag = randomBytes(4).toString('hex');
  /** The session-level hold on `#tag` (a swap's, from its start) is held. */
  #holdsTag = false;
  #lockSince: bigint | undefined;
  /** The session connection's own `search_path`, for the statements that run the user's code ({@link underUserPath}). */
  #userPath = '';
  #done = false;
  #failed = false;
  /** COMMIT was sent: a connection lost since leaves the outcome unknown ({@link lostConnection}). */
  #commitSent = false;

  constructor(parts: PgSessionParts) {
    this.#client = parts.client;
    this.#options = { ...parts.options, logger: loggerOf(parts.options.logger) };
    this.#live = parts.live;
    this.#lockTimeoutMs = parts.lockTimeoutMs;
    this.#apart = parts.apart;
    this.#release = parts.release;
  }

  #q<R = Record<string, unknown>>(statement: Statement): Promise<R[]> {
    return query<R>(this.#client, statement);
  }

  #liveName(table: string): QualifiedName {
    const name = this.#live.get(table);
    if (name === undefined)
      throw new BackfillError('INVALID_ARGUMENT', `table ${JSON.stringify(table)} is not one of this target's tables.`);
    return name;
  }

  #liveNames(): QualifiedName[] {
    return this.#options.tables.map((t) => this.#liveName(t));
  }

  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (error) {
      // Rolled back first: the hold cannot be let go of inside a failed transaction.
      await this.#q(ROLLBACK).catch(() => undefined);
      await this.#letGoOfTag();
      throw error;
    }
  }

  async #start(): Promise<void> {
    const { strategy, dryRun, tables } = this.#options;
    const live = this.#liveNames();
    const schemas = [...new Set(live.map((n) => n.schema))];
    if (!dryRun) await this.#clearLeftovers(schemas);
    // READ COMMITTED whatever the server's default: counts must see the
    // fresh tables that loader connections commit.
    await this.#q(BEGIN_READ_COMMITTED);
    this.#userPath = await pinSearchPath(this.#client);
    await this.#q(setLockTimeout(this.#lockTimeoutMs));
    await this.#q(NO_IDLE_TIMEOUT);
    await checkNameCase(this.#client, live);
    await checkTableShapes(this.#client, live, strategy);
    // What the swap would refuse under its lock, refused before anything is loaded.
    if (strategy === 'swap') {
      await checkSwapAccess(this.#client, live);
      await this.#refuseDependents(live);
    }
    const fresh = (i: number, schema: string): QualifiedName => {
      const name = `_bk_stage_${this.#tag}_${i}`;
      return { schema, name, sql: `${schema === 'pg_temp' ? 'pg_temp' : quoteIdent(schema)}.${quoteIdent(name)}` };
    };
    if (dryRun) {
      // Temporary tables: invisible to everyone, dropped with the transaction.
      for (const [i, table] of tables.entries()) {
        const dest = fresh(i, 'pg_temp');
        await this.#q(createTemporaryTable(dest.sql));
        this.#dest.set(table, dest);
        this.#keyAfterLoad.set(table, addIdPrimaryKey(dest.sql));
      }
      return;
    }
    if (strategy === 'swap') {
      // Loaders commit their fresh tables on connections of their own, so
      // the schemas must exist already (committed); the first import of a
      // new schema loads on this connection.
      const [found] = await this.#q<{ n: number }>(countSchemas(schemas));
      this.#parallel = this.#apart !== undefined && found?.n === schemas.length;
      // Until this session has dropped what it leaves: its old tables after COMMIT, its loaders' fresh tables after an abort.
      await holdSwapTag(this.#client, this.#tag);
      this.#holdsTag = true;
    }
    // Only what is missing: a role that may write the tables need not be allowed to create them.
    for (const { missing } of await this.#q<{ missing: string }>(missingSchemas(schemas))) await this.#q(createSchema(quoteIdent(missing)));
    for (const { missing } of await this.#q<{ missing: string }>(missingTables(live.map((n) => n.sql))))
      await this.#q(createLiveTable(missing));
    if (strategy === 'truncate') {
      this.#deleted = await emptyTables(this.#client, live, this.#userPath);
      this.#lockSince = process.hrtime.bigint();
      for (const table of tables) {
        const name = this.#liveName(table);
        this.#dest.set(table, name);
        await this.#deferPrimaryKey(table, name);
      }
      return;
    }
    // Fresh tables beside the live ones, built as they are; the live ones are not locked yet.
    for (const [i, table] of tables.entries()) {
      const target = this.#liveName(table);
      const dest = fresh(i, target.schema);
      this.#dest.set(table, dest);
      const [settings] = await this.#q<FreshSettings>(freshSettings(target.sql));
      if (settings !== undefined) this.#settings.set(table, settings);
      this.#keyAfterLoad.set(table, addIdPrimaryKey(dest.sql, quoteIdent(`${dest.name}_pkey`), settings));
      const indexes = await this.#liveIndexes(target);
      const odd = indexes.find((index) => !index.def.startsWith(index.prefix));
      if (odd !== undefined) {
        throw new BackfillError(
          'TABLE_SHAPE_MISMATCH',
          `cannot rebuild index ${odd.name} of ${target.sql} on the swapped-in table (${odd.def}); use strategy "truncate", which keeps it. Nothing was changed.`,
          { context: { table: target.sql } },
        );
      }
      this.#indexes.set(table, indexes);
      await this.#tryIndexes(table, dest);
      if (!this.#parallel) await this.#createFresh(this.#client, table, dest);
    }
  }

  /**
   * The live table's other indexes, their definitions read (under the
   * session's pinned `search_path`) with every name outside `pg_catalog`
   * qualified: a loader connection, whose
   * `search_path` may differ from this one's, builds them, and must find
   * the same functions, operators and types.
   */
  async #liveIndexes(live: QualifiedName): Promise<LiveIndex[]> {
    return this.#q<LiveIndex>(secondaryIndexes(live.sql));
  }

  /**
   * Drops the leftovers of earlier swaps in a transaction of its own, which
   * commits before the import's begins: dropped inside the import's, they
   * came back whenever that import was killed too, and an import killed at
   * the same point every time (the OOM killer) left one more dataset-sized
   * copy per attempt.
   */
  async #clearLeftovers(schemas: readonly string[]): Promise<void> {
    await this.#q(BEGIN_READ_COMMITTED);
    try {
      await pinSearchPath(this.#client);
      await this.#q(setLockTimeout(this.#lockTimeoutMs));
      await this.#dropLeftovers(schemas);
      await this.#q(COMMIT);
    } catch (error) {
      await this.#q(ROLLBACK).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Drops the leftovers of earlier swaps whose process died (between COMMIT
   * and DROP, or before swapping in what its loaders committed) in `schemas`:
   * only tables that carry both the library's name and its mark. Imports of
   * either strategy do this first, in a transaction of their own.
   */
  async #dropLeftovers(schemas: readonly string[]): Promise<void> {
    const leftovers = await findSwapLeftovers(this.#client, schemas);
    const kept = await this.#q<{ name: string; what: string; extension: string | null }>(dependents(leftovers.map((t) => t.sql)));
    for (const t of leftovers) {
      const dependent = kept.find((k) => k.name === t.sql);
      if (dependent === undefined) {
        if (await this.#dropUnlessLocked(t.sql)) this.#dropped.push(t.name);
      } else if (dependent.extension !== null) {
        // DROP TABLE refuses an extension's member (and would fail this import): taking it out of the extension is the user's call.
        this.#options.logger?.warn('a swapped-out staging table stays: it belongs to an extension', {
          table: t.sql,
          dependent: dependent.what,
          fix: `ALTER EXTENSION ${dependent.extension} DROP TABLE ${t.sql}, then DROP TABLE ${t.sql}`,
        });
      } else {
        // Dropping it would fail (and fail this import): the object using it is the user's to change.
        this.#options.logger?.warn('a swapped-out staging table stays: an object of yours depends on it', {
          table: t.sql,
          dependent: dependent.what,
          fix: `change or drop ${dependent.what} (it still uses the old table), then DROP TABLE ${t.sql}`,
        });
      }
    }
  }

  /**
   * Drops `table` unless another session holds a lock on it (another import
   * dropping it in its own transaction, or a reader): waiting for that lock
   * would stall or fail this import for a table it does not need. A table
   * skipped here is dropped by a later import. One already gone (its own
   * import dropped it after this one's listing read the catalog) is not
   * this import's to report. One the database refuses to drop (a role that
   * may write the live tables but does not own the leftover, which belongs
   * to their owner; an event trigger refusing drops) stays, with a warning:
   * tidying up never fails the import. Only a lost connection does.
   */
  async #dropUnlessLocked(table: string): Promise<boolean> {
    await this.#q(SAVEPOINT);
    try {
      await this.#q(lockTableNowait(table));
      await this.#q(dropTable(table));
      await this.#q(RELEASE_SAVEPOINT);
      return true;
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      // No SQLSTATE, a connection failure (08…) or the server going away (57…): the import cannot go on either.
      if (typeof code !== 'string' || /^(08|57)/.test(code)) throw error;
      await this.#q(ROLLBACK_TO_SAVEPOINT);
      await this.#q(RELEASE_SAVEPOINT);
      if (code === '55P03') {
        this.#options.logger?.info('a swapped-out staging table another session holds a lock on stays, for a later import to drop', {
          table,
        });
      } else if (code !== '42P01') {
        this.#options.logger?.warn('a swapped-out staging table stays: it could not be dropped', {
          table,
          error: String((error as { message?: unknown }).message ?? error),
          fix: `DROP TABLE ${table}, as its owner or a superuser`,
        });
      }
      return false;
    }
  }

  async #createFresh(client: PgClientLike, table: string, dest: QualifiedName): Promise<void> {
    const settings = this.#settings.get(table);
    // The fresh table and its indexes (built later in the same transaction) go where the live table's are, never to the connection's default_tablespace.
    await query(client, DATABASE_DEFAULT_TABLESPACE);
    await query(client, createFreshTable(dest.sql, settings));
    // Before the COPY: a column's storage and compression apply only to rows stored after they are set.
    if (settings?.columns != null) await query(client, alterFreshColumns(dest.sql, settings.columns));
    // The live table's owner from the start: CREATE INDEX runs index expressions as the table's owner, never as the importing role.
    if (settings !== undefined) await query(client, setTableOwner(dest.sql, settings.owner));
    // The importing role's default privileges would let others read it before the swap gives it the live table's.
    for (const { stmt } of await query<{ stmt: string }>(client, revokeOthersPrivileges(dest.sql))) await query(client, generated(stmt));
    await query(client, commentOnTable(dest.sql, swapMark(this.#tag, 'new', this.#liveName(table))));
    // The statements above ran the database's event triggers: the fresh table must still be bare before a row goes in.
    await checkFreshTable(client, dest, this.#liveName(table), 'made');
  }

  /** The fresh table's name for the `k`th (from 0) of its live table's other indexes. */
  #freshIndex(dest: QualifiedName, k: number): string {
    return `${dest.name}_i${k}`;
  }

  /**
   * Builds the `k`th of the live table's other indexes on `dest` under the
   * fresh table's name for it, under the pinned search_path the definitions
   * were printed for ({@link pinSearchPath}): a type or function of another
   * schema that a loader's search_path finds before pg_catalog's is never taken.
   */
  async #buildIndex(client: PgClientLike, dest: QualifiedName, k: number, index: LiveIndex): Promise<void> {
    const name = quoteIdent(this.#freshIndex(dest, k));
    await query(client, createIndexUsing(name, dest.sql, index.def.slice(index.prefix.length)));
    if (index.tablespace !== null) await query(client, setIndexTablespace(`${quoteIdent(dest.schema)}.${name}`, index.tablespace));
  }

  /**
   * Before anything is loaded: makes an empty fresh table and builds the
   * live table's other indexes on it, as the load will, then rolls it all
   * back. A fresh table that an event trigger reshapes as it is made
   * ({@link checkFreshTable}), or an index that cannot be built there, fails
   * the import now, not after every row was loaded: such as one whose SQL
   * function calls another without naming its schema, which the
   * connection's `search_path` found on the live table but the pinned one
   * does not.
   */
  async #tryIndexes(table: string, dest: QualifiedName): Promise<void> {
    const indexes = this.#indexes.get(table) ?? [];
    const live = this.#liveName(table);
    await this.#q(PROBE_SAVEPOINT);
    let failed: { index: LiveIndex; error: unknown } | undefined;
    try {
      await this.#createFresh(this.#client, table, dest);
      for (const [k, index] of indexes.entries()) {
        try {
          await this.#buildIndex(this.#client, dest, k, index);
        } catch (error) {
          failed = { index, error };
          throw error;
        }
      }
    } catch (error) {
      await this.#q(ROLLBACK_TO_PROBE);
      await this.#q(RELEASE_PROBE);
      if (failed === undefined) throw error;
      const { index, error: cause } = failed;
      throw new BackfillError(
        'TABLE_SHAPE_MISMATCH',
        `cannot rebuild index ${index.name} of ${live.sql} on the swapped-in table (${index.def}): ${String((cause as { message?: unknown }).message ?? cause)}. A swap builds it with search_path set to pg_catalog only, so a function it calls must name the schema of what it calls (or be given one: ALTER FUNCTION … SET search_path = …); or use strategy "truncate", which keeps the index. Nothing was changed.`,
        { cause, context: { table: live.sql, index: index.name } },
      );
    }
    await this.#q(ROLLBACK_TO_PROBE);
    await this.#q(RELEASE_PROBE);
  }

  /** After a COPY: the primary key, then (a swap) the live table's other indexes, under names of the fresh table's, and ANALYZE. */
  async #indexLoaded(client: PgClientLike, table: string, userPath: string): Promise<void> {
    const key = this.#keyAfterLoad.get(table);
    if (key !== undefined) await query(client, key);
    const dest = this.#destOf(table);
    for (const [k, index] of (this.#indexes.get(table) ?? []).entries()) await this.#buildIndex(client, dest, k, index);
    // The live table's planner statistics go with it: the swapped-in table brings its own, so plans do not wait for autovacuum.
    // ANALYZE evaluates index expressions, as autovacuum would on the live table.
    if (this.#options.strategy === 'swap' && !this.#options.dryRun)
      await underUserPath(client, userPath, () => query(client, analyzeTable(dest.sql)));
  }

  /** Refuses what DROP TABLE would refuse to drop with the old tables: views, foreign keys, SQL functions using them or their row type. */
  async #refuseDependents(live: readonly QualifiedName[]): Promise<void> {
    const [dep] = await this.#q<{ tbl: string; what: string }>(dependents(live.map((n) => n.sql)));
    if (dep === undefined) return;
    throw new BackfillError(
      'DB_ERROR',
      `cannot swap ${dep.tbl}: ${dep.what} depends on it; use strategy "truncate", which keeps the table. Nothing was changed.`,
      {
        dbCode: '2BP01',
        context: { table: dep.tbl },
      },
    );
  }

  /**
   * Loading first and indexing after (as pg_restore does) beats a million
   * B-tree inserts. Inside the transaction the emptied table drops its
   * primary key and gets the same one back after the COPY. Skipped when the
   * key must stay (a foreign key references it, it is a partition's) or
   * carries more than its definition (see `primaryKeyOf`).
   */
  async #deferPrimaryKey(table: string, name: QualifiedName): Promise<void> {
    const [pk] = await this.#q<{ conname: string; def: string; keep: boolean }>(primaryKeyOf(name.sql));
    if (pk === undefined) {
      // Without the key, duplicate ids would load silently.
      throw new BackfillError(
        'INVALID_ARGUMENT',
        `${name.sql} has no primary key, so duplicate ids would go unnoticed; add PRIMARY KEY (id), or import with strategy "swap".`,
        {
          context: { table },
        },
      );
    }
    if (pk.keep) return;
    await this.#q(dropConstraint(name.sql, quoteIdent(pk.conname)));
    this.#keyAfterLoad.set(table, addConstraint(name.sql, quoteIdent(pk.conname), pk.def));
  }

  #destOf(table: string): QualifiedName {
    const dest = this.#dest.get(table);
    if (dest === undefined) throw new BackfillError('INVALID_ARGUMENT', `table ${JSON.stringify(table)} is not part of this session.`);
    return dest;
  }

  /** Stops a load between batches once the import is aborted or another load failed. */
  #beforeBatch = (): void => {
    throwIfAborted(this.#options.signal);
    if (this.#failed || this.#done)
      throw new BackfillError('ABORTED', 'another table of this import failed to load; nothing was committed.');
  };

  /**
   * Swap sessions (not dry runs) load each table on a connection of its
   * own, so tables load side by side; others load on the session's
   * connection, one after another.
   */
  load(table: string, batches: AsyncIterable<readonly StagingRow[]>): ResultAsync<number, BackfillError> {
    let run: Promise<number>;
    if (this.#parallel) {
      run = this.#loadApart(table, batches);
    } else {
      run = this.#serial.then(() => this.#loadHere(table, batches));
      this.#serial = run.catch(() => undefined);
    }
    this.#loads.push(run.catch(() => undefined));
    return ResultAsync.fromPromise(run, (e) => {
      this.#failed = true;
      return lostConnection(dbError(e, table), false);
    });
  }

  async #loadHere(table: string, batches: AsyncIterable<readonly StagingRow[]>): Promise<number> {
    const dest = this.#destOf(table);
    // Every destination was created or truncated in this transaction, so
    // FREEZE is allowed: rows land frozen and all-visible, with no hint-bit
    // rewrite or anti-wraparound vacuum of the whole table later. Not after
    // a DELETE.
    const freeze = !this.#deleted.has(dest.sql) && (await this.#mayFreeze(this.#client, table));
    const copy = () => copyRows(this.#client, dest, batches, freeze, this.#beforeBatch);
    // Into a live table (truncate), the COPY runs its triggers, defaults and index expressions.
    const rows =
      this.#options.strategy === 'truncate' && !this.#options.dryRun
        ? await underUserPath(this.#client, this.#userPath, copy)
        : await copy();
    await this.#indexLoaded(this.#client, table, this.#userPath);
    return rows;
  }

  /**
   * Creates, fills, indexes and commits one fresh table on its own
   * connection. Committed fresh tables stay invisible under their
   * `_bk_stage_` name until the swap; abort drops them, and if the process
   * dies the next import does (they carry the mark, and no live session
   * holds their tag).
   */
  async #loadApart(table: string, batches: AsyncIterable<readonly StagingRow[]>): Promise<number> {
    const dest = this.#destOf(table);
    return this.#apart!(async (client) => {
      await query(client, BEGIN);
      try {
        const userPath = await pinSearchPath(client);
        await query(client, setLockTimeout(this.#lockTimeoutMs));
        await this.#createFresh(client, table, dest);
        const rows = await copyRows(client, dest, batches, await this.#mayFreeze(client, table), this.#beforeBatch);
        await this.#indexLoaded(client, table, userPath);
        await query(client, COMMIT);
        this.#committedFresh.push(dest);
        return rows;
      } catch (error) {
        await query(client, ROLLBACK).catch(() => undefined);
        throw error;
      }
    });
  }

  /**
   * Whether COPY FREEZE may run on `client`: PostgreSQL refuses it while the
   * session has an open cursor (a WITH HOLD cursor of the caller's
   * connection, or one a TRUNCATE trigger opened), and the rows then load
   * unfrozen, as after a DELETE.
   */
  async #mayFreeze(client: PgClientLike, table: string): Promise<boolean> {
    const [open] = await query<{ names: string | null }>(client, OPEN_CURSORS);
    if (open?.names == null) return true;
    this.#options.logger?.info('loading without COPY FREEZE: the connection has open cursors', { table, cursors: open.names });
    return false;
  }

  count(table: string): ResultAsync<number, BackfillError> {
    return ResultAsync.fromPromise(
      (async () => {
        const [counted] = await this.#q<{ n: string }>(countRows(this.#destOf(table).sql));
        return Number(counted?.n ?? 0);
      })(),
      (e) => dbError(e, table),
    );
  }

  commit(): ResultAsync<StagingCommitInfo, BackfillError> {
    return ResultAsync.fromPromise(this.#commit(), (e) => {
      this.#failed = true;
      return lostConnection(dbError(e), this.#commitSent);
    });
  }

  async #commit(): Promise<StagingCommitInfo> {
    if (this.#done) throw new BackfillError('INVALID_ARGUMENT', 'This staging session has already ended.');
    if (this.#options.dryRun) throw new BackfillError('INVALID_ARGUMENT', 'A dry-run session cannot commit; call abort().');
    throwIfAborted(this.#options.signal);
    await Promise.all(this.#loads);
    try {
      let info: StagingCommitInfo;
      if (this.#options.strategy === 'swap') {
        const since = process.hrtime.bigint();
        await this.#swap();
        // The swap's LOCK may have waited (up to the lock timeout) for a reader: a
        // signal that fired meanwhile still stops the import, before COMMIT.
        throwIfAborted(this.#options.signal);
        this.#commitSent = true;
        await this.#q(COMMIT);
        info = { lockMode: 'ACCESS EXCLUSIVE', lockHeldMs: elapsedMs(since) };
      } else {
        this.#commitSent = true;
        await this.#q(COMMIT);
        info = { lockMode: 'ACCESS EXCLUSIVE', lockHeldMs: this.#lockSince === undefined ? 0 : elapsedMs(this.#lockSince) };
      }
      this.#done = true;
      for (const old of this.#retired) {
        // The import has committed; a table left here is dropped by the next import.
        try {
          await this.#dropRetired(old);
          this.#dropped.push(`${old.schema}.${old.name}`);
        } catch (error) {
          const why = await explainLockTimeout(this.#client, error, [old], this.#lockTimeoutMs, {
            outcome: 'The import has committed; the next import drops the table.',
          });
          this.#options.logger?.warn('could not drop a swapped-out staging table; the next import drops it', {
            table: old.sql,
            error: String((why as { message?: unknown } | null)?.message ?? why),
          });
        }
      }
      await this.#letGoOfTag();
      this.#release();
      return { ...info, dropped: [...this.#dropped] };
    } catch (error) {
      if (this.#done) throw error;
      // The tag stays held: abort() drops the fresh tables the loaders committed, then lets go of it.
      await this.#q(ROLLBACK).catch(() => undefined);
      throw await explainLockTimeout(this.#client, error, this.#liveNames(), this.#lockTimeoutMs);
    }
  }

  /**
   * Drops an old table after COMMIT, in a transaction of its own under the
   * import's lock timeout (its own `SET LOCAL` ended with it): a session
   * holding the old table, such as one granted it by OID as the swap
   * committed, must not keep an import that has committed from returning.
   */
  async #dropRetired(old: QualifiedName): Promise<void> {
    await this.#q(BEGIN);
    try {
      await this.#q(setLockTimeout(this.#lockTimeoutMs));
      await this.#q(dropTable(old.sql));
      await this.#q(COMMIT);
    } catch (error) {
      await this.#q(ROLLBACK).catch(() => undefined);
      throw error;
    }
  }

  /** Releases the session-level hold on this session's tag, if taken (a lost connection released it already). */
  async #letGoOfTag(): Promise<void> {
    if (!this.#holdsTag) return;
    this.#holdsTag = false;
    await letGoOfSwapTag(this.#client, this.#tag).catch(() => undefined);
  }

  /** Inside the transaction: lock the live tables, move them aside, rename the fresh ones into place. */
  async #swap(): Promise<void> {
    const live = this.#liveNames();
    // The only moment readers wait: from this LOCK to COMMIT.
    await this.#q(lockTables(live.map((n) => n.sql)));
    // Again under the lock: a migration may have added a column while the load ran.
    await checkTableShapes(this.#client, live, 'swap');
    // The old tables are dropped after COMMIT (unlinking their files inside
    // the lock window would block readers for longer), so refuse here what
    // DROP TABLE would refuse: views, foreign keys, SQL functions using
    // them or their row type (checked before the load too; again, as an object may have come since).
    await this.#refuseDependents(live);
    // The fresh tables and their indexes were built from what the live tables had before the load: a change since would be lost.
    for (const table of this.#options.tables) await this.#refuseChangedSince(table);
    for (const [i, table] of this.#options.tables.entries()) {
      const target = this.#liveName(table);
      const dest = this.#destOf(table);
      const old: QualifiedName = {
        schema: target.schema,
        name: `_bk_old_${this.#tag}_${i}`,
        sql: `${quoteIdent(target.schema)}.${quoteIdent(`_bk_old_${this.#tag}_${i}`)}`,
      };
      const [described] = await this.#q<{ comment: string | null; pk: string | null }>(commentAndPrimaryKey(target.sql));
      const { comment, pk: pkName } = described!;
      // Built while target.sql still names the live table, run once it names the fresh one.
      const carry = await this.#q<{ stmt: string }>(swapCarryOver(target.sql, target.sql, dest.sql));
      // Index names are unique per schema: move the old key's name aside first.
      if (pkName !== null) await this.#q(renameConstraint(target.sql, quoteIdent(pkName), quoteIdent(`${old.name}_pkey`)));
      await this.#q(renameTable(target.sql, quoteIdent(old.name)));
      await this.#q(commentOnTable(old.sql, swapMark(this.#tag, 'old', target)));
      await this.#q(renameTable(dest.sql, quoteIdent(target.name)));
      // The user's comment, not our mark, describes the live table.
      await this.#q(commentOnTable(target.sql, comment));
      const pkey = pkName ?? (await this.#newKeyName(target));
      await this.#q(renameConstraint(target.sql, quoteIdent(`${dest.name}_pkey`), quoteIdent(pkey)));
      // Index names are unique per schema too: the old table's move aside, the fresh ones take their names.
      for (const [k, index] of (this.#indexes.get(table) ?? []).entries()) {
        const schema = quoteIdent(index.nspname);
        await this.#q(renameIndex(`${schema}.${quoteIdent(index.name)}`, quoteIdent(`${old.name}_i${k}`)));
        await this.#q(renameIndex(`${schema}.${quoteIdent(this.#freshIndex(dest, k))}`, quoteIdent(index.name)));
      }
      // Owner first: privileges are granted as the owner, and a sequence may only be owned by a table of its owner.
      for (const { stmt } of carry) await this.#q(generated(stmt));
      for (const { stmt } of await this.#q<{ stmt: string }>(swapPrivileges(old.sql, target.sql))) await this.#q(generated(stmt));
      // Event triggers ran on what built it since it was made (its primary key, indexes, the renames and the carry-over).
      await checkFreshTable(this.#client, target, target, 'swapped');
      this.#retired.push(old);
    }
  }

  /**
   * The name for the primary key a swap gives a live table that had none,
   * chosen as PostgreSQL names a new table's key: `<table>_pkey`, the
   * table's part shortened to fit 63 bytes (names are plain ASCII
   * identifiers, so one character is one byte), with a number added while
   * another relation of the schema (a table, an index of another table) has
   * the name.
   */
  async #newKeyName(target: QualifiedName): Promise<string> {
    for (let n = 0; ; n++) {
      const suffix = `_pkey${n === 0 ? '' : n}`;
      const name = `${target.name.slice(0, 63 - suffix.length)}${suffix}`;
      const [row] = await this.#q<{ taken: boolean }>(relationNamed(target.schema, name));
      if (row?.taken !== true) return name;
    }
  }

  /**
   * Under the swap's lock: refuses the swap when the live table's settings
   * that its fresh table was built with ({@link freshSettings}, read again
   * with the same query) or its other indexes changed while the import
   * loaded (an `ALTER TABLE … SET (fillfactor = …)`, `SET ACCESS METHOD`,
   * `SET TABLESPACE`, an index created or dropped), since the swapped-in
   * table would not have the change. What the swap itself carries over is
   * read under the lock, and what it would refuse is checked there too.
   */
  async #refuseChangedSince(table: string): Promise<void> {
    const live = this.#liveName(table);
    const [settings] = await this.#q<FreshSettings>(freshSettings(live.sql));
    const changes = settingChanges(this.#settings.get(table), settings);
    const now = indexDefs(await this.#liveIndexes(live));
    const built = indexDefs(this.#indexes.get(table) ?? []);
    for (const d of [...now.filter((d) => !built.includes(d)), ...built.filter((d) => !now.includes(d))])
      changes.push(`index ${d} was created, dropped or changed`);
    if (changes.length === 0) return;
    throw new BackfillError(
      'TABLE_SHAPE_MISMATCH',
      `${live.sql} changed while the import loaded, and the swapped-in table, built from the table as it was, would not have the change: ${changes.join('; ')}. Import again. Nothing was changed.`,
      { context: { table: live.sql, differences: changes } },
    );
  }

  abort(): ResultAsync<void, BackfillError> {
    if (this.#done) return okAsync(undefined);
    this.#done = true;
    return ResultAsync.fromPromise(
      (async () => {
        await Promise.all(this.#loads);
        let failure: unknown = this.#failed ? new Error('staging session failed') : undefined;
        let lost = false;
        try {
          await this.#q(ROLLBACK);
        } catch (error) {
          failure = error;
          lost = true;
        }
        const dropFresh = async (client: PgClientLike): Promise<void> => {
          for (const fresh of this.#committedFresh) await query(client, dropTable(fresh.sql));
        };
        try {
          // This session's connection, unless it is the one that was lost: then a loader's, as the tables were made.
          if (this.#committedFresh.length > 0) await (lost ? this.#apart!(dropFresh) : dropFresh(this.#client));
        } catch (error) {
          // A fresh table left here carries the mark; the next import drops it.
          failure ??= error;
        }
        await this.#letGoOfTag();
        this.#release(failure);
      })(),
      (e) => dbError(e),
    );
  }
}
