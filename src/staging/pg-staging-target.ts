/**
 * PostgreSQL implementation of the staging port: COPY in text format,
 * inside one transaction per import (a swap's loaders commit fresh tables
 * on connections of their own, and one transaction swaps them in).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { err, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { PgHandle, pgErrorToBackfill, type PgClientLike, type PgSource } from '../_internals/pg.js';
import { parseQualifiedName, quoteIdent, quoteLiteral, type QualifiedName } from '../_internals/sql-identifier.js';
import { throwIfAborted } from '../_internals/logger.js';
import { DEFAULT_STAGING_LOCK_TIMEOUT_MS, DEFAULT_STAGING_SCHEMA } from './defaults.js';
import { copyRows } from './pg-copy-rows.js';
import {
  checkTableShapes,
  claimSwapTag,
  explainLockTimeout,
  findSwapLeftovers,
  PG_MAX_ID_BYTES,
  referencedTables,
  swapMark,
} from './pg-table-checks.js';
import type { StagingCommitInfo, StagingRow, StagingSession, StagingSessionOptions, StagingTarget } from './staging-target.js';

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
   * swap), in milliseconds.
   * @defaultValue `DEFAULT_STAGING_LOCK_TIMEOUT_MS` (5000)
   */
  readonly lockTimeoutMs?: number;
}

/** `Key (id)=(abc) already exists.` / `… is duplicated.` */
function duplicateKeyFrom(detail: unknown): string | undefined {
  if (typeof detail !== 'string') return undefined;
  return /^Key \(id\)=\((.*)\) (?:already exists|is duplicated)\.$/s.exec(detail)?.[1];
}

function dbError(error: unknown, table?: string): BackfillError {
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

function elapsedMs(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
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

/**
 * Empties live tables inside the caller's transaction, under ACCESS
 * EXCLUSIVE: TRUNCATE, except for tables a foreign key of another table
 * references, which TRUNCATE cannot empty; their rows are DELETEd (one WAL
 * record and one dead tuple per row, reclaimed by a later VACUUM). Returns
 * the tables that were DELETEd.
 */
async function emptyTables(client: PgClientLike, live: readonly QualifiedName[]): Promise<Set<string>> {
  await client.query(`LOCK TABLE ${live.map((n) => n.sql).join(', ')} IN ACCESS EXCLUSIVE MODE`);
  const referenced = await referencedTables(client, live);
  const plain = live.filter((n) => !referenced.has(n.sql));
  if (plain.length > 0) await client.query(`TRUNCATE TABLE ${plain.map((n) => n.sql).join(', ')}`);
  for (const n of live) if (referenced.has(n.sql)) await client.query(`DELETE FROM ${n.sql}`);
  return referenced;
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

/** A connection string or a pool of two or more can lend loaders connections; a single client cannot. */
function canOpenMoreConnections(source: PgSource): boolean {
  if (typeof source === 'string') return true;
  const pool = source as { totalCount?: unknown; connect?: unknown; options?: { max?: unknown } };
  if (typeof pool.totalCount !== 'number' || typeof pool.connect !== 'function') return false;
  const max = pool.options?.max;
  return typeof max !== 'number' || max >= 2;
}

/** Runs `fn` on a connection of its own. */
type Loader = <T>(fn: (client: PgClientLike) => Promise<T>) => Promise<T>;

class PgStagingSession implements StagingSession {
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
  readonly #keyAfterLoad = new Map<string, string>();
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
  #lockSince: bigint | undefined;
  #done = false;
  #failed = false;

  constructor(
    client: PgClientLike,
    options: StagingSessionOptions,
    live: ReadonlyMap<string, QualifiedName>,
    lockTimeoutMs: number,
    apart: Loader | undefined,
    release: (failure?: unknown) => void,
  ) {
    this.#client = client;
    this.#options = options;
    this.#live = live;
    this.#lockTimeoutMs = lockTimeoutMs;
    this.#apart = apart;
    this.#release = release;
  }

  async #q(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }> {
    return (await this.#client.query(text, values)) as { rows: Record<string, unknown>[] };
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

  get #setLockTimeout(): string {
    return `SET LOCAL lock_timeout = ${Math.max(0, Math.floor(this.#lockTimeoutMs))}`;
  }

  async start(): Promise<void> {
    const { strategy, dryRun, tables } = this.#options;
    const live = this.#liveNames();
    // READ COMMITTED whatever the server's default: counts must see the
    // fresh tables that loader connections commit.
    await this.#q('BEGIN ISOLATION LEVEL READ COMMITTED');
    await this.#q(this.#setLockTimeout);
    await checkTableShapes(this.#client, live, strategy);
    const fresh = (i: number, schema: string): QualifiedName => {
      const name = `_bk_stage_${this.#tag}_${i}`;
      return { schema, name, sql: `${schema === 'pg_temp' ? 'pg_temp' : quoteIdent(schema)}.${quoteIdent(name)}` };
    };
    if (dryRun) {
      // Temporary tables: invisible to everyone, dropped with the transaction.
      for (const [i, table] of tables.entries()) {
        const dest = fresh(i, 'pg_temp');
        await this.#q(`CREATE TEMPORARY TABLE ${dest.sql} (id text NOT NULL, raw jsonb NOT NULL) ON COMMIT DROP`);
        this.#dest.set(table, dest);
        this.#keyAfterLoad.set(table, `ALTER TABLE ${dest.sql} ADD PRIMARY KEY (id)`);
      }
      return;
    }
    const schemas = [...new Set(live.map((n) => n.schema))];
    if (strategy === 'swap') {
      // Loaders commit their fresh tables on connections of their own, so
      // the schemas must exist already (committed); the first import of a
      // new schema loads on this connection.
      const { rows } = await this.#q('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ANY($1::text[])', [schemas]);
      this.#parallel = this.#apart !== undefined && rows[0]?.n === schemas.length;
      await claimSwapTag(this.#client, this.#tag);
    }
    for (const schema of schemas) await this.#q(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    for (const name of live) await this.#q(`CREATE TABLE IF NOT EXISTS ${name.sql} (id text PRIMARY KEY, raw jsonb NOT NULL)`);
    if (strategy === 'truncate') {
      this.#deleted = await emptyTables(this.#client, live);
      this.#lockSince = process.hrtime.bigint();
      for (const table of tables) {
        const name = this.#liveName(table);
        this.#dest.set(table, name);
        await this.#deferPrimaryKey(table, name);
      }
      return;
    }
    // Leftovers of earlier swaps whose process died (between COMMIT and
    // DROP, or before swapping in what its loaders committed): only tables
    // that carry both the library's name and its mark.
    for (const t of await findSwapLeftovers(this.#client, schemas)) {
      await this.#q(`DROP TABLE IF EXISTS ${t.sql}`);
      this.#dropped.push(t.name);
    }
    // Fresh tables beside the live ones; the live ones are not locked yet.
    for (const [i, table] of tables.entries()) {
      const dest = fresh(i, this.#liveName(table).schema);
      this.#dest.set(table, dest);
      this.#keyAfterLoad.set(table, `ALTER TABLE ${dest.sql} ADD CONSTRAINT ${quoteIdent(`${dest.name}_pkey`)} PRIMARY KEY (id)`);
      if (!this.#parallel) await this.#createFresh(this.#client, table, dest);
    }
  }

  async #createFresh(client: PgClientLike, table: string, dest: QualifiedName): Promise<void> {
    await client.query(`CREATE TABLE ${dest.sql} (id text NOT NULL, raw jsonb NOT NULL)`);
    await client.query(`COMMENT ON TABLE ${dest.sql} IS ${quoteLiteral(swapMark(this.#tag, 'new', this.#liveName(table)))}`);
  }

  /**
   * Loading first and indexing after (as pg_restore does) beats a million
   * B-tree inserts. Inside the transaction the emptied table drops its
   * primary key and gets the same one back after the COPY. Skipped when a
   * foreign key references it.
   */
  async #deferPrimaryKey(table: string, name: QualifiedName): Promise<void> {
    const { rows } = await this.#q(
      `SELECT c.conname, pg_get_constraintdef(c.oid) AS def,
              EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = c.conrelid AND f.contype = 'f') AS referenced
         FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype = 'p'`,
      [name.sql],
    );
    const pk = rows[0] as { conname: string; def: string; referenced: boolean } | undefined;
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
    if (pk.referenced) return;
    await this.#q(`ALTER TABLE ${name.sql} DROP CONSTRAINT ${quoteIdent(pk.conname)}`);
    this.#keyAfterLoad.set(table, `ALTER TABLE ${name.sql} ADD CONSTRAINT ${quoteIdent(pk.conname)} ${pk.def}`);
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
      return dbError(e, table);
    });
  }

  async #loadHere(table: string, batches: AsyncIterable<readonly StagingRow[]>): Promise<number> {
    const dest = this.#destOf(table);
    // Every destination was created or truncated in this transaction, so
    // FREEZE is allowed: rows land frozen and all-visible, with no hint-bit
    // rewrite or anti-wraparound vacuum of the whole table later. Not after
    // a DELETE.
    const rows = await copyRows(this.#client, dest, batches, !this.#deleted.has(dest.sql), this.#beforeBatch);
    const key = this.#keyAfterLoad.get(table);
    if (key !== undefined) await this.#q(key);
    return rows;
  }

  /**
   * Creates, fills, indexes and commits one fresh table on its own
   * connection. Committed fresh tables stay invisible under their
   * `_bk_stage_` name until the swap; abort drops them, and if the process
   * dies the next swap import does (they carry the mark, and no live session
   * holds their tag).
   */
  async #loadApart(table: string, batches: AsyncIterable<readonly StagingRow[]>): Promise<number> {
    const dest = this.#destOf(table);
    return this.#apart!(async (client) => {
      await client.query('BEGIN');
      try {
        await client.query(this.#setLockTimeout);
        await this.#createFresh(client, table, dest);
        const rows = await copyRows(client, dest, batches, true, this.#beforeBatch);
        await client.query(this.#keyAfterLoad.get(table)!);
        await client.query('COMMIT');
        this.#committedFresh.push(dest);
        return rows;
      } catch (error) {
        await Promise.resolve(client.query('ROLLBACK')).catch(() => undefined);
        throw error;
      }
    });
  }

  count(table: string): ResultAsync<number, BackfillError> {
    return ResultAsync.fromPromise(
      (async () => {
        const { rows } = await this.#q(`SELECT count(*)::bigint AS n FROM ${this.#destOf(table).sql}`);
        return Number(rows[0]?.n ?? 0);
      })(),
      (e) => dbError(e, table),
    );
  }

  commit(): ResultAsync<StagingCommitInfo, BackfillError> {
    return ResultAsync.fromPromise(this.#commit(), (e) => {
      this.#failed = true;
      return dbError(e);
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
        await this.#q('COMMIT');
        info = { lockMode: 'ACCESS EXCLUSIVE', lockHeldMs: elapsedMs(since) };
      } else {
        await this.#q('COMMIT');
        info = { lockMode: 'ACCESS EXCLUSIVE', lockHeldMs: this.#lockSince === undefined ? 0 : elapsedMs(this.#lockSince) };
      }
      this.#done = true;
      for (const old of this.#retired) {
        // The import has committed; a table left here is dropped by the next swap.
        try {
          await this.#q(`DROP TABLE IF EXISTS ${old.sql}`);
          this.#dropped.push(`${old.schema}.${old.name}`);
        } catch (error) {
          this.#options.logger?.warn('could not drop a swapped-out staging table; the next swap import drops it', {
            table: old.sql,
            error: String(error),
          });
        }
      }
      this.#release();
      return { ...info, dropped: [...this.#dropped] };
    } catch (error) {
      if (this.#done) throw error;
      await Promise.resolve(this.#q('ROLLBACK')).catch(() => undefined);
      throw await explainLockTimeout(this.#client, error, this.#liveNames(), this.#lockTimeoutMs);
    }
  }

  /** Inside the transaction: lock the live tables, move them aside, rename the fresh ones into place. */
  async #swap(): Promise<void> {
    const live = this.#liveNames();
    // The only moment readers wait: from this LOCK to COMMIT.
    await this.#q(`LOCK TABLE ${live.map((n) => n.sql).join(', ')} IN ACCESS EXCLUSIVE MODE`);
    // Again under the lock: a migration may have added a column while the load ran.
    await checkTableShapes(this.#client, live, 'swap');
    // The old tables are dropped after COMMIT (unlinking their files inside
    // the lock window would block readers for longer), so refuse here what
    // DROP TABLE would refuse: views, foreign keys, SQL functions using them.
    const { rows: deps } = await this.#q(
      `SELECT d.refobjid::regclass::text AS tbl, pg_describe_object(d.classid, d.objid, d.objsubid) AS what
         FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY($1::regclass[]) AND d.deptype = 'n' LIMIT 1`,
      [live.map((n) => n.sql)],
    );
    const dep = deps[0] as { tbl: string; what: string } | undefined;
    if (dep !== undefined) {
      throw new BackfillError(
        'DB_ERROR',
        `cannot swap ${dep.tbl}: ${dep.what} depends on it; use strategy "truncate", which keeps the table. Nothing was changed.`,
        {
          dbCode: '2BP01',
          context: { table: dep.tbl },
        },
      );
    }
    for (const [i, table] of this.#options.tables.entries()) {
      const target = this.#liveName(table);
      const dest = this.#destOf(table);
      const old: QualifiedName = {
        schema: target.schema,
        name: `_bk_old_${this.#tag}_${i}`,
        sql: `${quoteIdent(target.schema)}.${quoteIdent(`_bk_old_${this.#tag}_${i}`)}`,
      };
      const { rows } = await this.#q(
        `SELECT obj_description($1::regclass, 'pg_class') AS comment, (SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p') AS pk`,
        [target.sql],
      );
      const { comment, pk: pkName } = rows[0] as { comment: string | null; pk: string | null };
      // Index names are unique per schema: move the old key's name aside first.
      if (pkName !== null)
        await this.#q(`ALTER TABLE ${target.sql} RENAME CONSTRAINT ${quoteIdent(pkName)} TO ${quoteIdent(`${old.name}_pkey`)}`);
      await this.#q(`ALTER TABLE ${target.sql} RENAME TO ${quoteIdent(old.name)}`);
      await this.#q(`COMMENT ON TABLE ${old.sql} IS ${quoteLiteral(swapMark(this.#tag, 'old', target))}`);
      await this.#q(`ALTER TABLE ${dest.sql} RENAME TO ${quoteIdent(target.name)}`);
      // The user's comment, not our mark, describes the live table.
      await this.#q(`COMMENT ON TABLE ${target.sql} IS ${comment === null ? 'NULL' : quoteLiteral(comment)}`);
      const pkey = pkName ?? `${target.name}_pkey`;
      if (Buffer.byteLength(pkey) <= 63)
        await this.#q(`ALTER TABLE ${target.sql} RENAME CONSTRAINT ${quoteIdent(`${dest.name}_pkey`)} TO ${quoteIdent(pkey)}`);
      this.#retired.push(old);
    }
  }

  abort(): ResultAsync<void, BackfillError> {
    if (this.#done) return okAsync(undefined);
    this.#done = true;
    return ResultAsync.fromPromise(
      (async () => {
        await Promise.all(this.#loads);
        let failure: unknown = this.#failed ? new Error('staging session failed') : undefined;
        try {
          await this.#q('ROLLBACK');
          for (const fresh of this.#committedFresh) await this.#q(`DROP TABLE IF EXISTS ${fresh.sql}`);
        } catch (error) {
          // A fresh table left here carries the mark; the next swap import drops it.
          failure = error;
        }
        this.#release(failure);
      })(),
      (e) => dbError(e),
    );
  }
}

/**
 * Staging tables in PostgreSQL: `(id text primary key, raw jsonb not null)`,
 * created with their schema when missing, loaded with COPY in text format.
 *
 * - `truncate` sessions TRUNCATE the live tables and COPY into them, holding
 *   `ACCESS EXCLUSIVE` on them until COMMIT.
 *   A table that a foreign key of another table references is emptied with
 *   DELETE instead (TRUNCATE cannot empty it).
 * - `swap` sessions COPY into fresh tables in the same schema, build their
 *   primary keys, then (in one transaction) lock the live tables, rename
 *   them aside and the fresh ones into place, and drop the old ones after
 *   COMMIT. With a pool (or connection string) each table is loaded on a
 *   connection of its own, side by side. Readers wait only for the renames.
 * - dry-run sessions COPY into temporary tables and always roll back.
 * - Before anything is loaded, an existing table whose shape the import
 *   would change is refused (`TABLE_SHAPE_MISMATCH`).
 *
 * @example
 * ```ts
 * const result = PgStagingTarget.create({ pg: pool, schema: 'lnm_raw', tables: ['linksets_raw'] });
 * if (result.isErr()) throw result.error;
 * const target = result.value;
 * const counts = await target.counts(); // ok({ linksets_raw: 340 })
 * ```
 */
export class PgStagingTarget implements StagingTarget {
  readonly #handle: PgHandle;
  readonly #names: ReadonlyMap<string, QualifiedName>;
  readonly #lockTimeoutMs: number;
  readonly #parallel: boolean;
  /** Ids longer than this many UTF-8 bytes cannot be indexed by the `id` primary key. */
  readonly maxIdBytes = PG_MAX_ID_BYTES;

  private constructor(handle: PgHandle, names: ReadonlyMap<string, QualifiedName>, lockTimeoutMs: number, parallel: boolean) {
    this.#handle = handle;
    this.#names = names;
    this.#lockTimeoutMs = lockTimeoutMs;
    this.#parallel = parallel;
  }

  /**
   * Validates the config (every schema and table name goes through the
   * identifier check; a hostile one is `INVALID_IDENTIFIER`).
   */
  static create(config: PgStagingTargetConfig): Result<PgStagingTarget, BackfillError> {
    const names = new Map<string, QualifiedName>();
    if (!Array.isArray(config.tables) || config.tables.length === 0)
      return err(new BackfillError('INVALID_ARGUMENT', '`tables` must name at least one table.'));
    for (const table of config.tables) {
      const parsed = parseQualifiedName(table, config.schema ?? DEFAULT_STAGING_SCHEMA);
      if (parsed.isErr()) return err(parsed.error);
      if ([...names.values()].some((n) => n.sql === parsed.value.sql)) {
        return err(new BackfillError('INVALID_ARGUMENT', `table ${parsed.value.sql} is configured twice.`, { context: { table } }));
      }
      names.set(table, parsed.value);
    }
    const lockTimeoutMs = config.lockTimeoutMs ?? DEFAULT_STAGING_LOCK_TIMEOUT_MS;
    if (!Number.isFinite(lockTimeoutMs) || lockTimeoutMs < 0)
      return err(new BackfillError('INVALID_ARGUMENT', '`lockTimeoutMs` must be a non-negative number.'));
    if (typeof config.pg !== 'string' && (config.pg === null || typeof config.pg !== 'object')) {
      return err(new BackfillError('INVALID_ARGUMENT', '`pg` must be a pg.Pool, a pg.Client or a connection string.'));
    }
    return ok(new PgStagingTarget(new PgHandle(config.pg), names, lockTimeoutMs, canOpenMoreConnections(config.pg)));
  }

  begin(options: StagingSessionOptions): ResultAsync<StagingSession, BackfillError> {
    const apart: Loader | undefined = this.#parallel ? (fn) => this.#handle.withClient((c) => quietly(c, () => fn(c))) : undefined;
    return ResultAsync.fromPromise(
      new Promise<StagingSession>((resolve, reject) => {
        this.#handle
          .withClient((client) =>
            quietly(client, async () => {
              let release!: (failure?: unknown) => void;
              const ended = new Promise<void>((res, rej) => {
                release = (failure) => (failure === undefined ? res() : rej(failure));
              });
              const session = new PgStagingSession(client, options, this.#names, this.#lockTimeoutMs, apart, release);
              try {
                await session.start();
              } catch (error) {
                await Promise.resolve(client.query('ROLLBACK')).catch(() => undefined);
                throw await explainLockTimeout(client, error, this.#sessionTables(options), this.#lockTimeoutMs);
              }
              resolve(session);
              // Hold the connection until commit/abort; a failed session's
              // connection is destroyed rather than pooled.
              await ended;
            }),
          )
          .catch(reject);
      }),
      (e) => dbError(e),
    );
  }

  #sessionTables(options: StagingSessionOptions): QualifiedName[] {
    return options.tables.flatMap((t) => this.#names.get(t) ?? []);
  }

  /** Row counts; a missing table or schema is `TABLE_NOT_FOUND` ("nothing staged yet"). */
  counts(): ResultAsync<Readonly<Record<string, number>>, BackfillError> {
    const entries = [...this.#names.entries()];
    const sql = entries.map(([, n], i) => `(SELECT count(*)::bigint FROM ${n.sql}) AS c${i}`).join(', ');
    return ResultAsync.fromPromise(
      this.#handle.withClient(async (client) => (await client.query(`SELECT ${sql}`)) as { rows: Record<string, string>[] }),
      (e) => dbError(nothingStaged(e, [...this.#names.values()])),
    ).map((r) => {
      const row = r.rows[0] ?? {};
      return Object.fromEntries(entries.map(([table], i) => [table, Number(row[`c${i}`] ?? 0)]));
    });
  }

  /**
   * Empties every table in one transaction (DELETE for a table a foreign
   * key references, as the truncate strategy does). A missing table or
   * schema is `TABLE_NOT_FOUND`; a lock not granted in time is
   * `LOCK_TIMEOUT` naming who holds it.
   */
  truncate(): ResultAsync<void, BackfillError> {
    const live = [...this.#names.values()];
    return ResultAsync.fromPromise(
      this.#handle.withClient(async (client) => {
        await client.query('BEGIN');
        try {
          await client.query(`SET LOCAL lock_timeout = ${Math.floor(this.#lockTimeoutMs)}`);
          await emptyTables(client, live);
          await client.query('COMMIT');
        } catch (error) {
          await Promise.resolve(client.query('ROLLBACK')).catch(() => undefined);
          throw await explainLockTimeout(client, nothingStaged(error, live), live, this.#lockTimeoutMs);
        }
      }),
      (e) => dbError(e),
    );
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
