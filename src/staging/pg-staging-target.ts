/**
 * PostgreSQL implementation of the staging port: COPY in text format,
 * inside one transaction per import.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { err, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import copyStreams from 'pg-copy-streams';
import { BackfillError } from '../errors.js';
import { PgHandle, pgErrorToBackfill, type PgClientLike, type PgSource } from '../_internals/pg.js';
import { parseQualifiedName, quoteIdent, type QualifiedName } from '../_internals/sql-identifier.js';
import { throwIfAborted } from '../_internals/logger.js';
import { encodeCopyField } from './copy-text-encoding.js';
import { DEFAULT_STAGING_LOCK_TIMEOUT_MS, DEFAULT_STAGING_SCHEMA } from './defaults.js';
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
    return new BackfillError('ABORTED', 'The import was aborted; nothing was committed.', { cause: error, context: table === undefined ? {} : { table } });
  }
  const where = (error as { where?: unknown } | null)?.where;
  const id = duplicateKeyFrom((error as { detail?: unknown } | null)?.detail);
  const context = { ...(table === undefined ? {} : { table }), ...(id === undefined ? {} : { id }), ...(typeof where === 'string' ? { where } : {}) };
  return pgErrorToBackfill(error, context, table === undefined ? 'PostgreSQL' : `PostgreSQL (${table}${typeof where === 'string' ? `; ${where}` : ''})`);
}

/** Resolves when `stream` drains, rejects if it fails first. */
async function drained(stream: Writable): Promise<void> {
  const ac = new AbortController();
  try {
    await Promise.race([once(stream, 'drain', { signal: ac.signal }), once(stream, 'close', { signal: ac.signal })]);
  } finally {
    ac.abort();
  }
}

function elapsedMs(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

class PgStagingSession implements StagingSession {
  readonly #client: PgClientLike;
  readonly #options: StagingSessionOptions;
  readonly #live: ReadonlyMap<string, QualifiedName>;
  readonly #lockTimeoutMs: number;
  readonly #release: (failure?: unknown) => void;
  /** Where each table's rows go: the live table (truncate) or a fresh one. */
  readonly #dest = new Map<string, QualifiedName>();
  /** The primary key each table gets once its COPY is done. */
  readonly #keyAfterLoad = new Map<string, string>();
  /** Old tables renamed aside by the swap, dropped after COMMIT. */
  readonly #retired: QualifiedName[] = [];
  readonly #tag = randomBytes(4).toString('hex');
  #lockSince: bigint | undefined;
  #done = false;
  #failed = false;

  constructor(client: PgClientLike, options: StagingSessionOptions, live: ReadonlyMap<string, QualifiedName>, lockTimeoutMs: number, release: (failure?: unknown) => void) {
    this.#client = client;
    this.#options = options;
    this.#live = live;
    this.#lockTimeoutMs = lockTimeoutMs;
    this.#release = release;
  }

  async #q(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }> {
    return (await this.#client.query(text, values)) as { rows: Record<string, unknown>[] };
  }

  #liveName(table: string): QualifiedName {
    const name = this.#live.get(table);
    if (name === undefined) throw new BackfillError('INVALID_ARGUMENT', `table ${JSON.stringify(table)} is not one of this target's tables.`);
    return name;
  }

  async start(): Promise<void> {
    const { strategy, dryRun, tables } = this.#options;
    await this.#q('BEGIN');
    await this.#q(`SET LOCAL lock_timeout = ${Math.max(0, Math.floor(this.#lockTimeoutMs))}`);
    const fresh = (i: number, schema: string): QualifiedName => {
      const name = `_bk_stage_${this.#tag}_${i}`;
      return { schema, name, sql: `${schema === 'pg_temp' ? 'pg_temp' : quoteIdent(schema)}.${quoteIdent(name)}` };
    };
    if (dryRun) {
      // Temporary tables: invisible to everyone, dropped with the transaction.
      for (const [i, table] of tables.entries()) {
        this.#liveName(table);
        const dest = fresh(i, 'pg_temp');
        await this.#q(`CREATE TEMPORARY TABLE ${dest.sql} (id text NOT NULL, raw jsonb NOT NULL) ON COMMIT DROP`);
        this.#dest.set(table, dest);
        this.#keyAfterLoad.set(table, `ALTER TABLE ${dest.sql} ADD PRIMARY KEY (id)`);
      }
      return;
    }
    const live = tables.map((t) => this.#liveName(t));
    for (const schema of new Set(live.map((n) => n.schema))) await this.#q(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    for (const name of live) await this.#q(`CREATE TABLE IF NOT EXISTS ${name.sql} (id text PRIMARY KEY, raw jsonb NOT NULL)`);
    if (strategy === 'truncate') {
      await this.#q(`TRUNCATE TABLE ${live.map((n) => n.sql).join(', ')}`);
      this.#lockSince = process.hrtime.bigint();
      for (const table of tables) {
        const name = this.#liveName(table);
        this.#dest.set(table, name);
        await this.#deferPrimaryKey(table, name);
      }
      return;
    }
    // swap: old tables a previous swap could not drop (its process died
    // between COMMIT and DROP) go first; they match only our naming rule.
    const { rows: leftovers } = await this.#q(
      `SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'r' AND c.relname LIKE '\\_bk\\_old\\_%'`,
      [[...new Set(live.map((n) => n.schema))]],
    );
    for (const { t } of leftovers as { t: string }[]) await this.#q(`DROP TABLE IF EXISTS ${t}`);
    // Fresh tables beside the live ones; the live ones are not locked yet.
    for (const [i, table] of tables.entries()) {
      const liveName = this.#liveName(table);
      const dest = fresh(i, liveName.schema);
      await this.#q(`CREATE TABLE ${dest.sql} (id text NOT NULL, raw jsonb NOT NULL)`);
      this.#dest.set(table, dest);
      this.#keyAfterLoad.set(table, `ALTER TABLE ${dest.sql} ADD CONSTRAINT ${quoteIdent(`${dest.name}_pkey`)} PRIMARY KEY (id)`);
    }
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
      throw new BackfillError('INVALID_ARGUMENT', `${name.sql} has no primary key, so duplicate ids would go unnoticed; add PRIMARY KEY (id), or import with strategy "swap".`, {
        context: { table },
      });
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

  load(table: string, batches: AsyncIterable<readonly StagingRow[]>): ResultAsync<number, BackfillError> {
    return ResultAsync.fromPromise(this.#load(table, batches), (e) => {
      this.#failed = true;
      return dbError(e, table);
    });
  }

  async #load(table: string, batches: AsyncIterable<readonly StagingRow[]>): Promise<number> {
    const dest = this.#destOf(table);
    // Every destination was created or truncated in this transaction, so
    // FREEZE is allowed: rows land frozen and all-visible, with no hint-bit
    // rewrite or anti-wraparound vacuum of the whole table later.
    const stream = this.#client.query(copyStreams.from(`COPY ${dest.sql} (id, raw) FROM STDIN WITH (FREEZE)`)) as ReturnType<typeof copyStreams.from>;
    let serverError: unknown;
    stream.on('error', (e: unknown) => {
      serverError ??= e;
    });
    try {
      for await (const batch of batches) {
        if (serverError !== undefined) break;
        throwIfAborted(this.#options.signal);
        // One string per batch: one UTF-8 encode and one CopyData message.
        let text = '';
        for (const row of batch) text += `${encodeCopyField(row.id)}\t${encodeCopyField(row.raw)}\n`;
        if (!stream.write(text)) await drained(stream);
      }
      if (serverError !== undefined) throw serverError;
      stream.end();
      await finished(stream);
    } catch (error) {
      const first = serverError ?? error;
      if (!stream.destroyed) {
        // CopyFail: the server ends the COPY and the connection stays usable.
        // (not events.once: that would reject with the server's echo of our error)
        const closed = new Promise((resolve) => stream.once('close', resolve));
        stream.destroy(error instanceof Error ? error : new Error(String(error)));
        await closed;
      }
      throw first;
    }
    const key = this.#keyAfterLoad.get(table);
    if (key !== undefined) await this.#q(key);
    return stream.rowCount;
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
    let info: StagingCommitInfo;
    if (this.#options.strategy === 'swap') {
      const since = process.hrtime.bigint();
      const live = this.#options.tables.map((t) => this.#liveName(t));
      // The only moment readers wait: from this LOCK to COMMIT.
      await this.#q(`LOCK TABLE ${live.map((n) => n.sql).join(', ')} IN ACCESS EXCLUSIVE MODE`);
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
        throw new BackfillError('DB_ERROR', `cannot swap ${dep.tbl}: ${dep.what} depends on it; use strategy "truncate", which keeps the table. Nothing was changed.`, {
          dbCode: '2BP01',
          context: { table: dep.tbl },
        });
      }
      for (const [i, table] of this.#options.tables.entries()) {
        const target = this.#liveName(table);
        const dest = this.#destOf(table);
        const old: QualifiedName = { schema: target.schema, name: `_bk_old_${this.#tag}_${i}`, sql: `${quoteIdent(target.schema)}.${quoteIdent(`_bk_old_${this.#tag}_${i}`)}` };
        const { rows: pk } = await this.#q(`SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, [target.sql]);
        const pkName = (pk[0] as { conname?: string } | undefined)?.conname;
        // Index names are unique per schema: move the old key's name aside first.
        if (pkName !== undefined) await this.#q(`ALTER TABLE ${target.sql} RENAME CONSTRAINT ${quoteIdent(pkName)} TO ${quoteIdent(`${old.name}_pkey`)}`);
        await this.#q(`ALTER TABLE ${target.sql} RENAME TO ${quoteIdent(old.name)}`);
        await this.#q(`ALTER TABLE ${dest.sql} RENAME TO ${quoteIdent(target.name)}`);
        const pkey = pkName ?? `${target.name}_pkey`;
        if (Buffer.byteLength(pkey) <= 63) await this.#q(`ALTER TABLE ${target.sql} RENAME CONSTRAINT ${quoteIdent(`${dest.name}_pkey`)} TO ${quoteIdent(pkey)}`);
        this.#retired.push(old);
      }
      await this.#q('COMMIT');
      info = { lockMode: 'ACCESS EXCLUSIVE', lockHeldMs: elapsedMs(since) };
      for (const old of this.#retired) {
        // The import has committed; a table left here is dropped by the next swap.
        await this.#q(`DROP TABLE IF EXISTS ${old.sql}`).catch((error: unknown) =>
          this.#options.logger?.warn('could not drop a swapped-out staging table; the next swap import drops it', { table: old.sql, error: String(error) }),
        );
      }
    } else {
      await this.#q('COMMIT');
      info = { lockMode: 'ACCESS EXCLUSIVE', lockHeldMs: this.#lockSince === undefined ? 0 : elapsedMs(this.#lockSince) };
    }
    this.#done = true;
    this.#release();
    return info;
  }

  abort(): ResultAsync<void, BackfillError> {
    if (this.#done) return okAsync(undefined);
    this.#done = true;
    return ResultAsync.fromPromise(
      (async () => {
        let failure: unknown = this.#failed ? new Error('staging session failed') : undefined;
        try {
          await this.#q('ROLLBACK');
        } catch (error) {
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
 * - `swap` sessions COPY into fresh tables in the same schema, build their
 *   primary keys, then (in the same transaction) lock the live tables, drop
 *   them and rename the fresh ones into place. Readers wait only for that
 *   last step.
 * - dry-run sessions COPY into temporary tables and always roll back.
 *
 * @example
 * ```ts
 * const target = PgStagingTarget.create({ pg: pool, schema: 'lnm_raw', tables: ['linksets_raw'] })._unsafeUnwrap();
 * const counts = await target.counts(); // ok({ linksets_raw: 340 })
 * ```
 */
export class PgStagingTarget implements StagingTarget {
  readonly #handle: PgHandle;
  readonly #names: ReadonlyMap<string, QualifiedName>;
  readonly #lockTimeoutMs: number;

  private constructor(handle: PgHandle, names: ReadonlyMap<string, QualifiedName>, lockTimeoutMs: number) {
    this.#handle = handle;
    this.#names = names;
    this.#lockTimeoutMs = lockTimeoutMs;
  }

  /**
   * Validates the config (every schema and table name goes through the
   * identifier check; a hostile one is `INVALID_IDENTIFIER`).
   */
  static create(config: PgStagingTargetConfig): Result<PgStagingTarget, BackfillError> {
    const names = new Map<string, QualifiedName>();
    if (!Array.isArray(config.tables) || config.tables.length === 0) return err(new BackfillError('INVALID_ARGUMENT', '`tables` must name at least one table.'));
    for (const table of config.tables) {
      const parsed = parseQualifiedName(table, config.schema ?? DEFAULT_STAGING_SCHEMA);
      if (parsed.isErr()) return err(parsed.error);
      if ([...names.values()].some((n) => n.sql === parsed.value.sql)) {
        return err(new BackfillError('INVALID_ARGUMENT', `table ${parsed.value.sql} is configured twice.`, { context: { table } }));
      }
      names.set(table, parsed.value);
    }
    const lockTimeoutMs = config.lockTimeoutMs ?? DEFAULT_STAGING_LOCK_TIMEOUT_MS;
    if (!Number.isFinite(lockTimeoutMs) || lockTimeoutMs < 0) return err(new BackfillError('INVALID_ARGUMENT', '`lockTimeoutMs` must be a non-negative number.'));
    if (typeof config.pg !== 'string' && (config.pg === null || typeof config.pg !== 'object')) {
      return err(new BackfillError('INVALID_ARGUMENT', '`pg` must be a pg.Pool, a pg.Client or a connection string.'));
    }
    return ok(new PgStagingTarget(new PgHandle(config.pg), names, lockTimeoutMs));
  }

  begin(options: StagingSessionOptions): ResultAsync<StagingSession, BackfillError> {
    return ResultAsync.fromPromise(
      new Promise<StagingSession>((resolve, reject) => {
        this.#handle
          .withClient(async (client) => {
            const onError = (): void => {}; // the failing query reports it; don't crash the process
            const events = client as unknown as { on?: (e: string, f: () => void) => void; off?: (e: string, f: () => void) => void };
            events.on?.('error', onError);
            try {
              let release!: (failure?: unknown) => void;
              const ended = new Promise<void>((res, rej) => {
                release = (failure) => (failure === undefined ? res() : rej(failure));
              });
              const session = new PgStagingSession(client, options, this.#names, this.#lockTimeoutMs, release);
              try {
                await session.start();
              } catch (error) {
                await Promise.resolve(client.query('ROLLBACK')).catch(() => undefined);
                throw error;
              }
              resolve(session);
              // Hold the connection until commit/abort; a failed session's
              // connection is destroyed rather than pooled.
              await ended;
            } finally {
              events.off?.('error', onError);
            }
          })
          .catch(reject);
      }),
      (e) => dbError(e),
    );
  }

  counts(): ResultAsync<Readonly<Record<string, number>>, BackfillError> {
    const entries = [...this.#names.entries()];
    const sql = entries.map(([, n], i) => `(SELECT count(*)::bigint FROM ${n.sql}) AS c${i}`).join(', ');
    return this.#handle.query<Record<string, string>>(`SELECT ${sql}`).map((r) => {
      const row = r.rows[0] ?? {};
      return Object.fromEntries(entries.map(([table], i) => [table, Number(row[`c${i}`] ?? 0)]));
    });
  }

  truncate(): ResultAsync<void, BackfillError> {
    const list = [...this.#names.values()].map((n) => n.sql).join(', ');
    return ResultAsync.fromPromise(
      this.#handle.withClient(async (client) => {
        await client.query('BEGIN');
        try {
          await client.query(`SET LOCAL lock_timeout = ${Math.floor(this.#lockTimeoutMs)}`);
          await client.query(`TRUNCATE TABLE ${list}`);
          await client.query('COMMIT');
        } catch (error) {
          await Promise.resolve(client.query('ROLLBACK')).catch(() => undefined);
          throw error;
        }
      }),
      (e) => dbError(e),
    );
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
