/**
 * StagingImporter: load a dataset tarball's NDJSON members into staging
 * tables atomically, check the counts against the manifest before commit,
 * roll back, and count.
 *
 * @module
 */
import { err, ok, type Result, type ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import type { DatasetManifest } from '../dataset/types.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import type { PgSource } from '../_internals/pg.js';
import { type ImporterContext, type MemberSpec, resolveRun } from './import-context.js';
import { runImport } from './import-run.js';
import { PgStagingTarget, type PgStagingTargetConfig, resolvePgStagingTarget } from './pg-staging-target.js';
import type { RollbackOptions, StagingCommitInfo, StagingRow, StagingStrategy, StagingTarget } from './staging-target.js';

/** Configuration of a {@link StagingImporter}; validated once, then frozen. */
export interface StagingImporterConfig {
  /** The caller's `pg.Pool` or `pg.Client`, or a connection string. Not needed with `target`. */
  readonly pg?: PgSource;
  /**
   * Schema of the staging tables.
   * @defaultValue `DEFAULT_STAGING_SCHEMA` (`"lnm_raw"`)
   */
  readonly schema?: string;
  /** Member → table, e.g. `{ 'linksets.ndjson': 'linksets_raw' }`. A table may be `schema.table`. */
  readonly tables: Readonly<Record<string, string>>;
  /**
   * Top-level field holding each record's id.
   * @defaultValue `DEFAULT_ID_FIELD` (`"_id"`)
   */
  readonly idField?: string;
  /**
   * `lock_timeout` for the statements that lock the live tables, in whole
   * milliseconds, at least 1 (PostgreSQL reads 0 as "wait forever").
   * @defaultValue `DEFAULT_STAGING_LOCK_TIMEOUT_MS` (5000)
   */
  readonly lockTimeoutMs?: number;
  /** Another store implementing the staging port (for example MongoDB); replaces `pg`. */
  readonly target?: StagingTarget;
  /** Receives one line per import (finished or failed) and retries. */
  readonly logger?: Logger;
}

/** What {@link StagingImporter.import} does with a line it cannot load. */
export type OnInvalid = 'fail' | 'reject';

/** Progress of an import, reported every `progressEveryRows` rows and at each phase. */
export interface ImportProgress {
  readonly phase: 'load' | 'verify' | 'commit' | 'done';
  readonly member?: string;
  readonly table?: string;
  /** Rows sent to the target so far, all members. */
  readonly rows: number;
  /** Lines rejected so far, all members. */
  readonly rejected: number;
  /** Raw NDJSON bytes (UTF-16 code units) processed so far. */
  readonly rawChars: number;
}

/** Options for {@link StagingImporter.import}. */
export interface ImportOptions {
  /**
   * Read and validate everything (including what only PostgreSQL can check:
   * duplicate ids, jsonb) in throwaway temporary tables, and write nothing.
   * @defaultValue false
   */
  readonly dryRun?: boolean;
  /**
   * `truncate`: TRUNCATE and COPY in one transaction (readers wait for the
   * whole load). `swap`: COPY into fresh tables, then swap them in at the
   * end (readers wait only for the swap).
   * @defaultValue `DEFAULT_STAGING_STRATEGY` (`"truncate"`)
   */
  readonly strategy?: StagingStrategy;
  /**
   * `fail` aborts on the first bad line. `reject` loads the good lines and
   * writes each bad one, with its reason, to `rejectPath`: lines that are
   * not UTF-8 (`ENCODING_INVALID`) or longer than `maxLineBytes`
   * (`LINE_TOO_LONG`) too. Such a line's entry keeps its exact bytes in
   * `rawBase64` when they are not UTF-8 (`raw` shows them with U+FFFD), and
   * an over-long line's `raw` holds only its first bytes (at most 4 KiB, and
   * at most `maxLineBytes`), with `truncated: true` and its length in
   * `bytes`; the rest of it is skipped as it is read, never held.
   * @defaultValue `DEFAULT_ON_INVALID` (`"fail"`)
   */
  readonly onInvalid?: OnInvalid;
  /**
   * The reject NDJSON file (written with `onInvalid: 'reject'`, also on dry runs).
   * @defaultValue the tarball path + `DEFAULT_REJECT_SUFFIX` (`".rejects.ndjson"`)
   */
  readonly rejectPath?: string;
  /** Fail with `CHECKSUM_MISMATCH` unless the tarball's SHA-256 is this. */
  readonly expectedSha256?: string;
  /**
   * Raw bytes gathered into one COPY write.
   * @defaultValue `DEFAULT_COPY_BATCH_BYTES` (128 KiB)
   */
  readonly batchBytes?: number;
  /**
   * Rows between two progress reports.
   * @defaultValue `DEFAULT_STAGING_PROGRESS_EVERY_ROWS` (50000)
   */
  readonly progressEveryRows?: number;
  /**
   * With `onInvalid: 'reject'`, distinct duplicate ids rejected (one extra
   * pass each) before giving up. Ids are distinct as the target tells them
   * apart (`StagingTarget.idKey`): for MongoDB, `1` and `"1"` repeated are
   * two duplicate ids, `1` and `1.0` one.
   * @defaultValue `DEFAULT_MAX_DUPLICATE_RETRIES` (10)
   */
  readonly maxDuplicateRetries?: number;
  /** Passed to the dataset reader, for every read of the archive (the second read that names a duplicate's lines too). */
  readonly maxLineBytes?: number;
  /** Passed to the dataset reader, for every read of the archive (the second read that names a duplicate's lines too). */
  readonly maxDecompressedBytes?: number;
  /** Passed to the dataset reader, for every read of the archive (the second read that names a duplicate's lines too). */
  readonly maxCompressionRatio?: number;
  /** Passed to the dataset reader, for every read of the archive (the second read that names a duplicate's lines too). */
  readonly maxEntries?: number;
  /** Called every `progressEveryRows` rows and at each phase. A callback that throws is ignored (logged once at warn). */
  readonly onProgress?: (progress: ImportProgress) => void;
  /** Aborts the import (`ABORTED`); nothing is committed. */
  readonly signal?: AbortSignal;
  /** Overrides the config's logger for this call. */
  readonly logger?: Logger;
}

/** One member/table pair of an {@link ImportReport}. */
export interface TableImportReport {
  readonly member: string;
  readonly table: string;
  /** Rows in the table after the load (counted inside the transaction). */
  readonly loaded: number;
  /** Lines written to the reject file. */
  readonly rejected: number;
  /** `records` of this member in the manifest; `null` until known. */
  readonly expected: number | null;
  /** `loaded + rejected === expected`. */
  readonly ok: boolean;
}

/** What an import did. Also attached, partial, to a failure as `error.partial`. */
export interface ImportReport {
  readonly path: string;
  /** SHA-256 of the tarball as stored; `null` if it was not read to the end. */
  readonly sha256: string | null;
  /** Size of the tarball as stored. */
  readonly bytes: number | null;
  /** Uncompressed tar bytes. */
  readonly tarBytes: number | null;
  readonly strategy: StagingStrategy;
  readonly dryRun: boolean;
  /** True once the new contents are visible. */
  readonly committed: boolean;
  readonly tables: readonly TableImportReport[];
  /** Rows loaded, all tables. */
  readonly rows: number;
  /** Lines rejected, all members. */
  readonly rejected: number;
  readonly rejectPath: string | null;
  /** Checks that ran before commit. */
  readonly checks: readonly string[];
  readonly durationMs: number;
  readonly rowsPerSecond: number;
  /** Stored (compressed) bytes per second. */
  readonly bytesPerSecond: number;
  /** The lock the live tables were held under, and for how long. */
  readonly lock: StagingCommitInfo | null;
  /**
   * Tables the import dropped, schema-qualified: with `swap`, the old
   * tables it replaced and leftovers of earlier swap imports (only tables
   * with the library's name and mark). Empty otherwise.
   */
  readonly dropped: readonly string[];
  /** Passes over the archive (more than 1 when duplicates were rejected). */
  readonly attempts: number;
  /** The manifest, echoed. */
  readonly manifest: DatasetManifest | null;
}

/**
 * Loads dataset tarballs into PostgreSQL staging tables
 * `(id text primary key, raw jsonb not null)`, all at once or not at all.
 *
 * One pass reads the archive, hashes it, validates every line (JSON, id,
 * what jsonb would refuse), and streams batched COPY text into the target.
 * When the archive ends, the row counts are checked against the manifest
 * (`loaded + rejected === records`) inside the transaction, and only then
 * does it commit. Any failure (bad line, duplicate id, count mismatch, lost
 * connection, abort, a killed process) leaves the tables as they were.
 *
 * @example
 * ```ts
 * const importer = new StagingImporter({
 *   pg: pool,
 *   schema: 'lnm_raw',
 *   tables: { 'linksets.ndjson': 'linksets_raw', 'advisory_chunks.ndjson': 'advisory_chunks_raw' },
 * });
 * const report = await importer.import('out/linksets/linksets-stage-backfill.tar.zst', { strategy: 'swap' });
 * if (report.isErr()) console.error(report.error.code, report.error.message);
 * else console.log(report.value.tables, report.value.manifest);
 * ```
 */
export class StagingImporter {
  readonly #context: Result<Readonly<ImporterContext>, BackfillError>;

  /**
   * Never throws: the config is checked once (a hostile schema or table
   * name is `INVALID_IDENTIFIER`), and a bad one is the error of every call.
   * Nothing connects until the first call.
   */
  constructor(config: StagingImporterConfig) {
    this.#context = resolveImporter(config);
    Object.freeze(this);
  }

  /**
   * Imports a dataset tarball. Resolves with the {@link ImportReport}; on
   * failure nothing was committed, and the error's `partial` holds the
   * report so far (none when the config or an option was refused).
   */
  import(path: string, options: ImportOptions = {}): ResultAsync<ImportReport, BackfillError<ImportReport>> {
    return this.#context
      .andThen((context) => resolveRun(context, path, options))
      .mapErr((e) => e.withoutPartial())
      .asyncAndThen(runImport);
  }

  /**
   * Empties every staging table in one transaction (the runbook's rollback).
   * Once `options.signal` has fired, even while the rollback waits for the
   * tables' lock, it commits nothing and fails with `ABORTED`.
   */
  rollback(options: RollbackOptions = {}): ResultAsync<void, BackfillError> {
    return this.#context.asyncAndThen(({ target }) => target.truncate(options));
  }

  /** Row count of each staging table, keyed by table name. */
  counts(): ResultAsync<Readonly<Record<string, number>>, BackfillError> {
    return this.#context.asyncAndThen(({ target }) => target.counts());
  }

  /** Closes the pool the importer opened from a connection string (never the caller's). */
  async close(): Promise<void> {
    if (this.#context.isOk()) await this.#context.value.target.close();
  }

  /** `await using importer = new StagingImporter(…)` closes it at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function invalid(message: string): BackfillError {
  return new BackfillError('INVALID_ARGUMENT', message);
}

/** How a target without {@link StagingTarget.idKey} compares ids: by their text. */
const idText = (row: StagingRow): string => row.id;

/**
 * Checks the config and resolves the target: the caller's, or a
 * {@link PgStagingTarget} over `pg`, whose config is checked here too so
 * that a bad name fails every call before any file is opened.
 */
function resolveImporter(config: StagingImporterConfig): Result<Readonly<ImporterContext>, BackfillError> {
  const entries = Object.entries(config.tables ?? {});
  if (entries.length === 0) return err(invalid('`tables` must map at least one member to a table.'));
  const unnamed = entries.find(([member, table]) => member.length === 0 || typeof table !== 'string');
  if (unnamed !== undefined) return err(invalid(`\`tables\` entry ${JSON.stringify(unnamed[0])} must map a member name to a table name.`));
  if (config.idField !== undefined && (typeof config.idField !== 'string' || config.idField.length === 0))
    return err(invalid('`idField` must be a non-empty field name.'));
  const specs: readonly MemberSpec[] = Object.freeze(entries.map(([member, table]) => Object.freeze({ member, table })));
  const context = (target: StagingTarget): Readonly<ImporterContext> =>
    Object.freeze({
      target,
      specs,
      idField: config.idField,
      maxIdBytes: target.maxIdBytes,
      idKey: target.idKey === undefined ? idText : (row: StagingRow) => target.idKey!(row),
      logger: loggerOf(config.logger),
    });
  if (config.target !== undefined) return ok(context(config.target));
  if (config.pg === undefined) return err(invalid('pass `pg` (a pg.Pool, pg.Client or connection string) or a `target`.'));
  const pgConfig: PgStagingTargetConfig = {
    pg: config.pg,
    tables: specs.map((s) => s.table),
    ...(config.schema === undefined ? {} : { schema: config.schema }),
    ...(config.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: config.lockTimeoutMs }),
  };
  return resolvePgStagingTarget(pgConfig).map(() => context(new PgStagingTarget(pgConfig)));
}
