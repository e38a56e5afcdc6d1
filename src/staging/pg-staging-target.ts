/**
 * PostgreSQL implementation of the staging port: COPY in text format,
 * inside one transaction per import (a swap's loaders commit fresh tables
 * on connections of their own, and one transaction swaps them in).
 *
 * @module
 */
import { err, ok, Result, ResultAsync, safeTry } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { milliseconds } from '../_internals/milliseconds.js';
import { PgHandle, type PgClientLike, type PgSource } from '../_internals/pg.js';
import { parseQualifiedName, type QualifiedName } from '../_internals/sql-identifier.js';
import { DEFAULT_STAGING_LOCK_TIMEOUT_MS, DEFAULT_STAGING_SCHEMA } from './defaults.js';
import { dbError, emptyTables, type Loader, lostConnection, PgStagingSession, pinSearchPath } from './pg-staging-session.js';
import { checkTableShapes, explainLockTimeout, PG_MAX_ID_BYTES } from './pg-table-checks.js';
import { BEGIN, COMMIT, countTables, query, ROLLBACK, setLockTimeout } from './sql.js';
import type { RollbackOptions, StagingSession, StagingSessionOptions, StagingTarget } from './staging-target.js';

/** Configuration of a {@link PgStagingTarget}. */
export interface PgStagingTargetConfig {
  /** The caller's `pg.Pool` or `pg.Client`, or a connection string. */
  readonly pg: PgSource;
  /**
   * Schema for table names given without one.
   * @defaultValue `DEFAULT_STAGING_SCHEMA` (`"lnm_raw"`)
   */
  readonly schema?: string;
  /** Table names, `table` or `schema.table`. */
  readonly tables: readonly string[];
  /**
   * `lock_timeout` for statements that lock the live tables (TRUNCATE, the
   * swap), in whole milliseconds, at least 1 (PostgreSQL reads 0 as "wait
   * forever").
   * @defaultValue `DEFAULT_STAGING_LOCK_TIMEOUT_MS` (5000)
   */
  readonly lockTimeoutMs?: number;
}

/** `42P01`/`3F000` from counts() or truncate(): the same code for a missing table and a missing schema. */
function nothingStaged(error: unknown, tables: readonly QualifiedName[]): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== '42P01' && code !== '3F000') return error;
  return new BackfillError(
    'TABLE_NOT_FOUND',
    `nothing is staged yet: ${tables.map((t) => t.sql).join(', ')} do not all exist (${String((error as { message?: unknown }).message)}). Run an import first.`,
    {
      cause: error,
      dbCode: code,
      context: { table: tables.map((t) => t.sql).join(', ') },
    },
  );
}

/** Runs `fn` with a no-op `error` listener on `client`: the failing query reports the error, and the process must not crash. */
async function quietly<T>(client: PgClientLike, fn: () => Promise<T>): Promise<T> {
  const onError = (): void => {};
  const events = client as unknown as { on?: (e: string, f: () => void) => void; off?: (e: string, f: () => void) => void };
  events.on?.('error', onError);
  try {
    return await fn();
  } finally {
    events.off?.('error', onError);
  }
}

/** What a {@link PgStagingTarget} resolves its config into, once. */
interface PgTargetSettings {
  /** Config table name → its validated, quoted name. */
  readonly names: ReadonlyMap<string, QualifiedName>;
  readonly lockTimeoutMs: number;
}

type PgTargetContext = Readonly<PgTargetSettings & { readonly handle: PgHandle }>;

function invalid(message: string, table?: string): BackfillError {
  return new BackfillError('INVALID_ARGUMENT', message, table === undefined ? {} : { context: { table } });
}

/**
 * Validates a target's config without connecting: names, `lockTimeoutMs`
 * and `pg`. The importer calls it too, so that a bad name fails its every
 * call before a file is opened.
 * @internal
 */
export function resolvePgStagingTarget(config: PgStagingTargetConfig): Result<PgTargetSettings, BackfillError> {
  return safeTry(function* () {
    if (!Array.isArray(config.tables) || config.tables.length === 0) return err(invalid('`tables` must name at least one table.'));
    const schema = config.schema ?? DEFAULT_STAGING_SCHEMA;
    const parsed = yield* Result.combine(config.tables.map((table) => parseQualifiedName(table, schema)));
    const names = new Map<string, QualifiedName>();
    for (const [i, name] of parsed.entries()) {
      const table = config.tables[i]!;
      if ([...names.values()].some((n) => n.sql === name.sql)) return err(invalid(`table ${name.sql} is configured twice.`, table));
      names.set(table, name);
    }
    const lockTimeoutMs = yield* milliseconds(config.lockTimeoutMs, 'lockTimeoutMs', DEFAULT_STAGING_LOCK_TIMEOUT_MS);
    if (typeof config.pg !== 'string' && (config.pg === null || typeof config.pg !== 'object'))
      return err(invalid('`pg` must be a pg.Pool, a pg.Client or a connection string.'));
    return ok({ names, lockTimeoutMs });
  });
}

/**
 * Staging tables in PostgreSQL: `(id text primary key, raw jsonb not null)`,
 * created with their schema when missing, loaded with COPY in text format.
 *
 * - `truncate` sessions TRUNCATE the live tables and COPY into them, holding
 *   `ACCESS EXCLUSIVE` on them until COMMIT.
 *   A table that a foreign key of another table references is emptied with
 *   DELETE instead (TRUNCATE cannot empty it).
 * - `swap` sessions COPY into fresh tables in the same schema (built with
 *   the live tables' storage options, in their tablespaces), build their
 *   primary keys and the live tables' other indexes, then (in one
 *   transaction) lock the live tables, rename them aside and the fresh ones
 *   into place, give the fresh ones what the live ones carried (owner,
 *   privileges, comments, column settings, extended statistics, triggers,
 *   owned sequences), and drop the old ones after COMMIT. With a pool (or connection string) that has a free connection
 *   for each table when the import starts, each table is loaded on a
 *   connection of its own, side by side; otherwise on the session's, one
 *   after another. Readers wait only for the renames.
 * - dry-run sessions COPY into temporary tables and always roll back.
 * - Before anything is loaded, an existing table whose shape the import
 *   would change, or whose primary key is not on `id` alone (it could not
 *   catch duplicate ids), is refused (`TABLE_SHAPE_MISMATCH`).
 *
 * @example
 * ```ts
 * const target = new PgStagingTarget({ pg: pool, schema: 'lnm_raw', tables: ['linksets_raw'] });
 * const counts = await target.counts(); // ok({ linksets_raw: 340 }); a bad name is err(INVALID_IDENTIFIER)
 * ```
 */
export class PgStagingTarget implements StagingTarget {
  readonly #context: Result<PgTargetContext, BackfillError>;
  /** Ids longer than this many UTF-8 bytes cannot be indexed by the `id` primary key. */
  readonly maxIdBytes = PG_MAX_ID_BYTES;

  /**
   * Never throws: every schema and table name goes through the identifier
   * check, and a bad config (a hostile name is `INVALID_IDENTIFIER`) is the
   * error of every call. Nothing connects until the first call.
   */
  constructor(config: PgStagingTargetConfig) {
    this.#context = resolvePgStagingTarget(config).map((settings) => Object.freeze({ ...settings, handle: new PgHandle(config.pg) }));
    Object.freeze(this);
  }

  begin(options: StagingSessionOptions): ResultAsync<StagingSession, BackfillError> {
    return this.#context.asyncAndThen((context) =>
      ResultAsync.fromPromise(openSession(context, options), (e) => lostConnection(dbError(e), false)),
    );
  }

  /** Row counts; a missing table or schema is `TABLE_NOT_FOUND` ("nothing staged yet"). */
  counts(): ResultAsync<Readonly<Record<string, number>>, BackfillError> {
    return this.#context.asyncAndThen(({ handle, names }) => {
      const tables = [...names.keys()];
      const live = [...names.values()];
      return ResultAsync.fromPromise(
        handle.withClient((client) => query<Record<string, string>>(client, countTables(live.map((n) => n.sql)))),
        (e) => dbError(nothingStaged(e, live)),
      ).map(([row = {}]) => Object.fromEntries(tables.map((table, i) => [table, Number(row[`c${i}`] ?? 0)])));
    });
  }

  /**
   * Empties every table in one transaction (DELETE for a table a foreign
   * key references, as the truncate strategy does). A missing table or
   * schema is `TABLE_NOT_FOUND`; a lock not granted in time is
   * `LOCK_TIMEOUT` naming who holds it. A `signal` that fired, even while
   * the TRUNCATE waited for the lock, is `ABORTED` with nothing emptied.
   */
  truncate(options: RollbackOptions = {}): ResultAsync<void, BackfillError> {
    return this.#context.asyncAndThen(({ handle, names, lockTimeoutMs }) => {
      const live = [...names.values()];
      return ResultAsync.fromPromise(
        handle.withClient(async (client) => {
          rollbackNotAborted(options.signal);
          await query(client, BEGIN);
          try {
            const userPath = await pinSearchPath(client);
            await query(client, setLockTimeout(lockTimeoutMs));
            await checkTableShapes(client, live, 'empty');
            await emptyTables(client, live, userPath);
            // The TRUNCATE may have waited (up to the lock timeout) for a reader's lock: a signal meanwhile still stops it here.
            rollbackNotAborted(options.signal);
            await query(client, COMMIT);
          } catch (error) {
            await query(client, ROLLBACK).catch(() => undefined);
            throw await explainLockTimeout(client, nothingStaged(error, live), live, lockTimeoutMs);
          }
        }),
        (e) => dbError(e),
      );
    });
  }

  /** Closes the pool the target opened from a connection string (never the caller's). */
  async close(): Promise<void> {
    if (this.#context.isOk()) await this.#context.value.handle.close();
  }
}

/** `ABORTED` once `signal` has fired: the rollback commits nothing. */
function rollbackNotAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BackfillError('ABORTED', 'The rollback was interrupted before it committed; nothing was emptied.');
}

/**
 * Starts a session on a connection of its own and resolves once it is
 * ready; the connection stays checked out until the session commits or
 * aborts (a failed session's connection is destroyed rather than pooled).
 */
function openSession(context: PgTargetContext, options: StagingSessionOptions): Promise<StagingSession> {
  const { handle, names, lockTimeoutMs } = context;
  return new Promise<StagingSession>((resolve, reject) => {
    handle
      .withClient((client) =>
        quietly(client, async () => {
          let release!: (failure?: unknown) => void;
          const ended = new Promise<void>((res, rej) => {
            release = (failure) => (failure === undefined ? res() : rej(failure));
          });
          // Loaders of their own only when the pool can lend one per table
          // now: a loader waiting for a connection the caller (or this
          // session) holds would wait forever.
          const apart: Loader | undefined =
            handle.spareConnections() >= options.tables.length ? (fn) => handle.withClient((c) => quietly(c, () => fn(c))) : undefined;
          const session = new PgStagingSession({ client, options, live: names, lockTimeoutMs, apart, release });
          try {
            await session.start();
          } catch (error) {
            await query(client, ROLLBACK).catch(() => undefined);
            const tables = options.tables.flatMap((t) => names.get(t) ?? []);
            throw await explainLockTimeout(client, error, tables, lockTimeoutMs);
          }
          resolve(session);
          await ended;
        }),
      )
      .catch(reject);
  });
}
