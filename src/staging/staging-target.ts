/**
 * The port a staging import writes through. PostgreSQL implements it in
 * {@link PgStagingTarget}; a MongoDB target can implement the same contract
 * (load into fresh collections, count, rename on commit) without the
 * importer changing.
 *
 * @module
 */
import type { ResultAsync } from 'neverthrow';
import type { BackfillError } from '../errors.js';
import type { Logger } from '../_internals/logger.js';

/** One row on its way into a staging table. */
export interface StagingRow {
  /** The record's id, as text. */
  readonly id: string;
  /** The record's NDJSON line, unchanged: it becomes the stored document. */
  readonly raw: string;
  /** The line's number in its member, for reject reports. */
  readonly line?: number;
}

/**
 * Receives a row the target itself cannot store (for example a MongoDB
 * document over the 16 MiB BSON limit), so the import can reject that one
 * line instead of failing.
 *
 * @example
 * ```ts
 * const reject: StagingRowReject = (row, error) => console.warn(`line ${row.line}: ${error.code}`);
 * ```
 */
export type StagingRowReject = (row: StagingRow, error: BackfillError) => Promise<void> | void;

/**
 * How an import replaces the tables' contents.
 * - `truncate`: empty and refill the live tables in one transaction.
 * - `swap`: fill fresh tables, validate them, then swap them in at the end.
 */
export type StagingStrategy = 'truncate' | 'swap';

/** Options for {@link StagingTarget.begin}. */
export interface StagingSessionOptions {
  readonly strategy: StagingStrategy;
  /** Load into throwaway tables and never touch the live ones. */
  readonly dryRun: boolean;
  /** Tables (as named in the importer's config) this session will load. */
  readonly tables: readonly string[];
  /** Checked between batches; an aborted load fails with `ABORTED`. */
  readonly signal?: AbortSignal;
  /** For the target's own diagnostics. */
  readonly logger?: Logger;
}

/** What {@link StagingSession.commit} measured. */
export interface StagingCommitInfo {
  /** The lock the live tables were held under, e.g. `ACCESS EXCLUSIVE`. */
  readonly lockMode: string;
  /** How long readers of the live tables were blocked, in milliseconds. */
  readonly lockHeldMs: number;
  /**
   * Tables the session dropped, schema-qualified: the old tables a swap
   * replaced, and leftovers of earlier swap imports that the target
   * recognised as its own. Omitted by targets that drop nothing.
   */
  readonly dropped?: readonly string[];
}

/**
 * One atomic import: nothing it loads is visible until {@link commit}, and
 * {@link abort} (or a crash) leaves the live tables as they were.
 */
export interface StagingSession {
  /**
   * Loads one table from batches of rows and resolves with the rows loaded.
   * The caller may start the next table's load once this one has consumed
   * `batches`, before it resolves: a target may load tables side by side,
   * or one after another.
   * If `batches` throws, the load stops and fails with that error. A
   * duplicate id fails with `DUPLICATE_ID` carrying `context.id` when known,
   * and, from a target that defines {@link StagingTarget.idKey}, the
   * rows' shared key as `context.idKey`.
   * Rows the target cannot store go to `reject` when one is given (the
   * PostgreSQL target can store every row the importer sends).
   */
  load(table: string, batches: AsyncIterable<readonly StagingRow[]>, reject?: StagingRowReject): ResultAsync<number, BackfillError>;
  /** Rows `table` would hold after commit, counted inside the session. */
  count(table: string): ResultAsync<number, BackfillError>;
  /** Makes every load visible at once. */
  commit(): ResultAsync<StagingCommitInfo, BackfillError>;
  /** Discards everything the session did. Safe after a failure, and twice. */
  abort(): ResultAsync<void, BackfillError>;
}

/** Options of {@link StagingTarget.truncate} and the importer's `rollback`. */
export interface RollbackOptions {
  /**
   * Stops the rollback: once it has fired, nothing is emptied and the call
   * fails with `ABORTED`, even when it fires while the rollback waits for
   * the tables' lock (it is checked again before COMMIT).
   */
  readonly signal?: AbortSignal;
}

/**
 * A store that staging tables live in.
 *
 * @example
 * ```ts
 * const target: StagingTarget = new PgStagingTarget({ pg: pool, schema: 'lnm_raw', tables: ['linksets_raw'] });
 * const counts = await target.counts(); // ok({ linksets_raw: 340 })
 * ```
 */
export interface StagingTarget {
  /**
   * The longest id, in UTF-8 bytes, the target can store; the importer
   * rejects longer ids up front with `ID_TOO_LONG`, naming the line.
   * Omitted when there is no limit below the record size.
   */
  readonly maxIdBytes?: number;
  /**
   * How the target compares ids: two rows are one id, which it stores
   * once, exactly when their keys are equal. On a duplicate, the importer
   * reads the member again and names the lines whose key is the error's
   * `context.idKey`. MongoDB's `_id` index compares values, not their text
   * (`1` and `1.0` are one id, `1` and `"1"` two), so its target defines
   * this. Omitted, ids compare by their text (`row.id`), as a text primary
   * key does: the PostgreSQL target's way.
   */
  idKey?(row: StagingRow): string | PromiseLike<string>;
  /** Starts an import session. */
  begin(options: StagingSessionOptions): ResultAsync<StagingSession, BackfillError>;
  /** Row count of each configured table, keyed by table name. */
  counts(): ResultAsync<Readonly<Record<string, number>>, BackfillError>;
  /**
   * Empties every configured table, atomically. Once `options.signal` has
   * fired (before the tables are emptied, or while the target waits for
   * their lock) it commits nothing and fails with `ABORTED`.
   */
  truncate(options?: RollbackOptions): ResultAsync<void, BackfillError>;
  /** Releases what the target opened itself (never the caller's pool). */
  close(): Promise<void>;
}
