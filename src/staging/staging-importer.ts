/**
 * StagingImporter: load a dataset tarball's NDJSON members into staging
 * tables atomically, check the counts against the manifest before commit,
 * roll back, and count.
 *
 * @module
 */
import { err, errAsync, ok, ResultAsync, type Result } from 'neverthrow';
import { BackfillError, toBackfillError, type BackfillErrorCode } from '../errors.js';
import { readDataset } from '../dataset/read-dataset.js';
import type { DatasetManifest, DatasetMember, DatasetStats } from '../dataset/types.js';
import type { Logger } from '../_internals/logger.js';
import { throwIfAborted } from '../_internals/logger.js';
import { parseRecordLine } from '../_internals/ndjson.js';
import type { PgSource } from '../_internals/pg.js';
import {
  DEFAULT_COPY_BATCH_BYTES,
  DEFAULT_MAX_DUPLICATE_RETRIES,
  DEFAULT_ON_INVALID,
  DEFAULT_STAGING_PROGRESS_EVERY_ROWS,
  DEFAULT_REJECT_SUFFIX,
  DEFAULT_STAGING_STRATEGY,
} from './defaults.js';
import { findJsonbProblem } from './jsonb-check.js';
import { PgStagingTarget } from './pg-staging-target.js';
import { extractRecordId } from './record-id.js';
import { RejectWriter } from './reject-writer.js';
import type { StagingCommitInfo, StagingRow, StagingSession, StagingStrategy, StagingTarget } from './staging-target.js';
import { isSha256Hex } from '../_internals/sha256-hex.js';

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
   * `lock_timeout` for the statements that lock the live tables.
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
   * writes each bad one, with its reason, to `rejectPath`.
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
   * pass each) before giving up.
   * @defaultValue `DEFAULT_MAX_DUPLICATE_RETRIES` (10)
   */
  readonly maxDuplicateRetries?: number;
  /** Passed to the dataset reader. */
  readonly maxLineBytes?: number;
  /** Passed to the dataset reader. */
  readonly maxDecompressedBytes?: number;
  /** Called every `progressEveryRows` rows and at each phase. */
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

/** What an import did. Also attached, partial, to a failure as `error.context.report`. */
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

interface MemberSpec {
  readonly member: string;
  readonly table: string;
}

interface TableState {
  loaded: number;
  rejected: number;
  expected: number | null;
}

/** Per-member lines to reject as duplicates, with their reasons. */
type SkipSet = Map<string, Map<number, string>>;

interface Resolved {
  readonly dryRun: boolean;
  readonly strategy: StagingStrategy;
  readonly onInvalid: OnInvalid;
  readonly rejectPath: string;
  readonly batchBytes: number;
  readonly progressEveryRows: number;
  readonly maxDuplicateRetries: number;
}

/** Mutable figures of the current pass, turned into the report. */
class PassState {
  readonly tables = new Map<string, TableState>();
  readonly checks: string[] = [];
  rows = 0;
  rejected = 0;
  rawChars = 0;
  committed = false;
  stats: DatasetStats | null = null;
  manifest: DatasetManifest | null = null;
  lock: StagingCommitInfo | null = null;
  dropped: readonly string[] = [];
  /** The first failed table load; stops the others between batches. */
  loadFailure: BackfillError | undefined;

  constructor(specs: readonly MemberSpec[]) {
    for (const s of specs) this.tables.set(s.member, { loaded: 0, rejected: 0, expected: null });
  }
}

function unwrap<T>(result: Result<T, BackfillError>): T {
  if (result.isErr()) throw result.error;
  return result.value;
}

function withReport(error: BackfillError, report: ImportReport): BackfillError {
  return new BackfillError(error.code, error.message, {
    cause: error.cause,
    context: { ...error.context, report },
    ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
    detail: error.detail,
  });
}

/** `source`, calling `done` once it ends, fails or is abandoned. */
async function* thenCall<T>(source: AsyncIterable<T>, done: () => void): AsyncGenerator<T> {
  try {
    yield* source;
  } finally {
    done();
  }
}

type LineVerdict = { readonly id: string } | { readonly code: BackfillErrorCode; readonly error: BackfillError };

/** Everything the library checks on one line before PostgreSQL sees it. */
function checkLine(raw: string, member: string, line: number, idField: string | undefined, maxIdBytes: number | undefined): LineVerdict {
  let value: Record<string, unknown>;
  try {
    value = parseRecordLine(raw, member, line);
  } catch (error) {
    const e = toBackfillError(error, 'JSON_MALFORMED', { member, line });
    return { code: e.code, error: e };
  }
  const jsonb = findJsonbProblem(raw);
  if (jsonb !== undefined) {
    const error = new BackfillError(
      'JSONB_UNSUPPORTED',
      `${member} line ${line}, column ${jsonb.index + 1}: ${jsonb.reason}; remove it, or import with onInvalid: 'reject'.`,
      {
        context: { member, line, column: jsonb.index + 1 },
      },
    );
    return { code: 'JSONB_UNSUPPORTED', error };
  }
  const id = extractRecordId(value, { member, line, ...(idField === undefined ? {} : { idField }) });
  if (id.isErr()) return { code: id.error.code, error: id.error };
  // Only ids that might be too long pay for the byte count (UTF-8 takes at most 3 bytes per UTF-16 unit).
  if (maxIdBytes !== undefined && id.value.length * 3 > maxIdBytes) {
    const bytes = Buffer.byteLength(id.value);
    if (bytes > maxIdBytes) {
      const error = new BackfillError(
        'ID_TOO_LONG',
        `${member} line ${line}: the id is ${bytes} bytes (it starts ${JSON.stringify(id.value.slice(0, 40))}), longer than the ${maxIdBytes} bytes the staging table's primary key can index; shorten it, or import with onInvalid: 'reject'.`,
        { context: { member, line, bytes, limit: maxIdBytes } },
      );
      return { code: 'ID_TOO_LONG', error };
    }
  }
  return { id: id.value };
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
  readonly #init: Result<{ target: StagingTarget; specs: readonly MemberSpec[] }, BackfillError>;
  readonly #idField: string | undefined;
  readonly #maxIdBytes: number | undefined;
  readonly #logger: Logger | undefined;

  /** Never throws: a bad config is returned as the error of every call (see {@link StagingImporter.create}). */
  constructor(config: StagingImporterConfig) {
    this.#idField = config.idField;
    this.#logger = config.logger;
    this.#init = StagingImporter.#validate(config);
    this.#maxIdBytes = this.#init.isOk() ? this.#init.value.target.maxIdBytes : undefined;
    Object.freeze(this);
  }

  /**
   * Validates the config up front; a hostile schema or table name is
   * `INVALID_IDENTIFIER`.
   *
   * @example
   * ```ts
   * const made = StagingImporter.create({ pg: url, tables: { 'linksets.ndjson': 'linksets_raw' } });
   * if (made.isErr()) throw made.error;
   * ```
   */
  static create(config: StagingImporterConfig): Result<StagingImporter, BackfillError> {
    const importer = new StagingImporter(config);
    return importer.#init.map(() => importer);
  }

  static #validate(config: StagingImporterConfig): Result<{ target: StagingTarget; specs: readonly MemberSpec[] }, BackfillError> {
    const entries = Object.entries(config.tables ?? {});
    if (entries.length === 0) return err(new BackfillError('INVALID_ARGUMENT', '`tables` must map at least one member to a table.'));
    for (const [member, table] of entries) {
      if (member.length === 0 || typeof table !== 'string') {
        return err(
          new BackfillError('INVALID_ARGUMENT', `\`tables\` entry ${JSON.stringify(member)} must map a member name to a table name.`),
        );
      }
    }
    if (config.idField !== undefined && (typeof config.idField !== 'string' || config.idField.length === 0)) {
      return err(new BackfillError('INVALID_ARGUMENT', '`idField` must be a non-empty field name.'));
    }
    const specs = entries.map(([member, table]) => ({ member, table }));
    if (config.target !== undefined) return ok({ target: config.target, specs });
    if (config.pg === undefined)
      return err(new BackfillError('INVALID_ARGUMENT', 'pass `pg` (a pg.Pool, pg.Client or connection string) or a `target`.'));
    return PgStagingTarget.create({
      pg: config.pg,
      tables: specs.map((s) => s.table),
      ...(config.schema === undefined ? {} : { schema: config.schema }),
      ...(config.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: config.lockTimeoutMs }),
    }).map((target) => ({ target, specs }));
  }

  /**
   * Imports a dataset tarball. Resolves with the {@link ImportReport}; on
   * failure the error's `context.report` holds the partial report and
   * nothing was committed.
   */
  import(path: string, options: ImportOptions = {}): ResultAsync<ImportReport, BackfillError> {
    if (this.#init.isErr()) return errAsync(this.#init.error);
    const { target, specs } = this.#init.value;
    const resolved = this.#resolve(path, options);
    if (resolved.isErr()) return errAsync(resolved.error);
    return ResultAsync.fromPromise(this.#run(target, specs, path, options, resolved.value), (e) => toBackfillError(e));
  }

  /** Empties every staging table in one transaction (the runbook's rollback). */
  rollback(): ResultAsync<void, BackfillError> {
    return this.#init.asyncAndThen(({ target }) => target.truncate());
  }

  /** Row count of each staging table, keyed by table name. */
  counts(): ResultAsync<Readonly<Record<string, number>>, BackfillError> {
    return this.#init.asyncAndThen(({ target }) => target.counts());
  }

  /** Closes the pool the importer opened from a connection string (never the caller's). */
  async close(): Promise<void> {
    if (this.#init.isOk()) await this.#init.value.target.close();
  }

  /** `await using importer = new StagingImporter(…)` closes it at scope end. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #resolve(path: string, o: ImportOptions): Result<Resolved, BackfillError> {
    if (typeof path !== 'string' || path.length === 0)
      return err(new BackfillError('INVALID_ARGUMENT', 'pass the path of a dataset tarball.'));
    const strategy = o.strategy ?? DEFAULT_STAGING_STRATEGY;
    if (strategy !== 'truncate' && strategy !== 'swap')
      return err(new BackfillError('INVALID_ARGUMENT', `strategy must be "truncate" or "swap", not ${JSON.stringify(strategy)}.`));
    const onInvalid = o.onInvalid ?? DEFAULT_ON_INVALID;
    if (onInvalid !== 'fail' && onInvalid !== 'reject')
      return err(new BackfillError('INVALID_ARGUMENT', `onInvalid must be "fail" or "reject", not ${JSON.stringify(onInvalid)}.`));
    const bad = (name: string): Result<Resolved, BackfillError> =>
      err(new BackfillError('INVALID_ARGUMENT', `${name} must be a positive number.`));
    const batchBytes = o.batchBytes ?? DEFAULT_COPY_BATCH_BYTES;
    const progressEveryRows = o.progressEveryRows ?? DEFAULT_STAGING_PROGRESS_EVERY_ROWS;
    const maxDuplicateRetries = o.maxDuplicateRetries ?? DEFAULT_MAX_DUPLICATE_RETRIES;
    if (!(batchBytes > 0)) return bad('batchBytes');
    if (!(progressEveryRows > 0)) return bad('progressEveryRows');
    if (!(maxDuplicateRetries >= 0)) return err(new BackfillError('INVALID_ARGUMENT', 'maxDuplicateRetries must be zero or more.'));
    // Checked now, not after a whole import that could never match.
    if (o.expectedSha256 !== undefined && !isSha256Hex(o.expectedSha256)) {
      return err(
        new BackfillError('INVALID_ARGUMENT', `expectedSha256 must be 64 hexadecimal digits, got ${JSON.stringify(o.expectedSha256)}.`),
      );
    }
    return ok({
      dryRun: o.dryRun === true,
      strategy,
      onInvalid,
      rejectPath: o.rejectPath ?? `${path}${DEFAULT_REJECT_SUFFIX}`,
      batchBytes,
      progressEveryRows,
      maxDuplicateRetries,
    });
  }

  async #run(target: StagingTarget, specs: readonly MemberSpec[], path: string, o: ImportOptions, r: Resolved): Promise<ImportReport> {
    const started = process.hrtime.bigint();
    const logger = o.logger ?? this.#logger;
    const skip: SkipSet = new Map();
    for (let attempt = 1; ; attempt += 1) {
      const state = new PassState(specs);
      const report = (): ImportReport => this.#report(path, specs, r, state, started, attempt);
      const rejects = r.onInvalid === 'reject' ? unwrap(await RejectWriter.open(r.rejectPath)) : undefined;
      try {
        await this.#pass(target, specs, path, o, r, state, skip, rejects);
        if (rejects !== undefined) unwrap(await rejects.close());
        const done = report();
        logger?.info('staging import finished', {
          path,
          rows: done.rows,
          rejected: done.rejected,
          committed: done.committed,
          dryRun: done.dryRun,
        });
        o.onProgress?.({ phase: 'done', rows: state.rows, rejected: state.rejected, rawChars: state.rawChars });
        return done;
      } catch (thrown) {
        if (rejects !== undefined) await rejects.close();
        let error = toBackfillError(thrown, 'IO_ERROR');
        if (error.code === 'DUPLICATE_ID' && typeof error.context.table === 'string' && typeof error.context.id === 'string') {
          const spec = specs.find((s) => s.table === error.context.table);
          if (spec !== undefined) {
            const lines = await this.#locate(path, spec.member, error.context.id, skip, o);
            if (r.onInvalid === 'reject' && lines.length > 1 && attempt <= r.maxDuplicateRetries) {
              const memberSkip = skip.get(spec.member) ?? new Map<number, string>();
              for (const line of lines.slice(1))
                memberSkip.set(line, `${spec.member} line ${line}: id ${JSON.stringify(error.context.id)} duplicates line ${lines[0]}`);
              skip.set(spec.member, memberSkip);
              logger?.warn('duplicate id rejected; importing again', { member: spec.member, id: error.context.id, lines });
              continue;
            }
            error = this.#duplicateError(error, spec, lines, r.onInvalid === 'reject' && lines.length > 1);
          }
        }
        const copyRow = typeof error.context.where === 'string' ? /^COPY \S+, line (\d+)/.exec(error.context.where) : null;
        const rowSpec = specs.find((s) => s.table === error.context.table);
        if (error.code !== 'DUPLICATE_ID' && copyRow !== null && rowSpec !== undefined && error.context.line === undefined) {
          const line = await this.#lineOfRow(path, rowSpec.member, Number(copyRow[1]), skip, o);
          if (line !== undefined) {
            error = new BackfillError(error.code, `${rowSpec.member} line ${line}: ${error.message}`, {
              cause: error,
              context: { ...error.context, member: rowSpec.member, line },
              ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
            });
          }
        }
        logger?.error('staging import failed; nothing was committed', { path, code: error.code });
        throw withReport(error, report());
      }
    }
  }

  #duplicateError(error: BackfillError, spec: MemberSpec, lines: readonly number[], retriesExhausted: boolean): BackfillError {
    const id = String(error.context.id);
    const where = lines.length >= 2 ? `lines ${lines[0]} and ${lines[1]}` : 'two lines (not located on a second read)';
    const extra = retriesExhausted ? ' (maxDuplicateRetries reached)' : '';
    return new BackfillError(
      'DUPLICATE_ID',
      `${spec.member}: id ${JSON.stringify(id)} appears on ${where}${extra}; remove one of them. Nothing was committed.`,
      {
        cause: error,
        context: {
          ...error.context,
          member: spec.member,
          table: spec.table,
          id,
          lines: lines.slice(0, 2),
          ...(lines[1] === undefined ? {} : { line: lines[1] }),
        },
        ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
      },
    );
  }

  /** Reads one member again, handing each line's verdict to `visit` until it returns true. */
  async #rescan(
    path: string,
    member: string,
    skip: SkipSet,
    o: ImportOptions,
    visit: (line: number, verdict: LineVerdict) => boolean,
  ): Promise<void> {
    const skipped = skip.get(member);
    try {
      const ds = readDataset(path, { ...(o.signal === undefined ? {} : { signal: o.signal }) });
      for await (const m of ds) {
        if (m.name !== member) continue;
        for await (const batch of m.lineBatches()) {
          for (const { line, raw } of batch) {
            if (skipped?.has(line) === true) continue;
            if (visit(line, checkLine(raw, member, line, this.#idField, this.#maxIdBytes))) return;
          }
        }
        return;
      }
    } catch {
      // The first failure is what the caller needs to see; the lines stay unknown.
    }
  }

  /**
   * PostgreSQL names the duplicate id but not the lines, and remembering
   * every id's line would grow with the dataset. So on the (rare) unique
   * violation, a second cheap read of that one member finds the lines.
   */
  async #locate(path: string, member: string, id: string, skip: SkipSet, o: ImportOptions): Promise<number[]> {
    const lines: number[] = [];
    await this.#rescan(path, member, skip, o, (line, verdict) => {
      if ('id' in verdict && verdict.id === id) lines.push(line);
      return false;
    });
    return lines;
  }

  /**
   * A row PostgreSQL refused is named by its COPY row number, which counts
   * only the rows sent; a second read maps it to the member's line.
   */
  async #lineOfRow(path: string, member: string, row: number, skip: SkipSet, o: ImportOptions): Promise<number | undefined> {
    let sent = 0;
    let found: number | undefined;
    await this.#rescan(path, member, skip, o, (line, verdict) => {
      if ('id' in verdict) sent += 1;
      if (sent === row) found = line;
      return found !== undefined;
    });
    return found;
  }

  async #pass(
    target: StagingTarget,
    specs: readonly MemberSpec[],
    path: string,
    o: ImportOptions,
    r: Resolved,
    state: PassState,
    skip: SkipSet,
    rejects: RejectWriter | undefined,
  ): Promise<void> {
    throwIfAborted(o.signal);
    const bySpec = new Map(specs.map((s) => [s.member, s]));
    const ds = readDataset(path, {
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      ...(o.maxLineBytes === undefined ? {} : { maxLineBytes: o.maxLineBytes }),
      ...(o.maxDecompressedBytes === undefined ? {} : { maxDecompressedBytes: o.maxDecompressedBytes }),
    });
    const session = unwrap(
      await target.begin({
        strategy: r.strategy,
        dryRun: r.dryRun,
        tables: specs.map((s) => s.table),
        ...(o.signal === undefined ? {} : { signal: o.signal }),
        ...(o.logger === undefined ? {} : { logger: o.logger }),
      }),
    );
    // The archive is read once, member after member. A member's load may
    // still be finishing (its COPY draining, its primary key being built)
    // while the next member is read into the next table's load.
    const loads: Promise<void>[] = [];
    try {
      const seen = new Set<string>();
      for await (const member of ds) {
        const spec = bySpec.get(member.name);
        if (spec === undefined) continue;
        seen.add(member.name);
        const table = state.tables.get(member.name)!;
        const rejectRow =
          rejects &&
          (async (row: StagingRow, error: BackfillError): Promise<void> => {
            await rejects.write({ member: member.name, line: row.line ?? 0, code: error.code, reason: error.message, raw: row.raw });
            table.rejected += 1;
            state.rejected += 1;
            state.rows -= 1;
          });
        let consumed!: () => void;
        const read = new Promise<void>((resolve) => {
          consumed = resolve;
        });
        const batches = thenCall(this.#batches(member, spec, table, o, r, state, skip, rejects), consumed);
        const load = (async (): Promise<void> => {
          const loaded = await session.load(spec.table, batches, rejectRow);
          if (loaded.isOk()) table.loaded = loaded.value;
          else state.loadFailure ??= loaded.error;
          consumed();
        })();
        loads.push(load);
        await read;
        if (state.loadFailure !== undefined) break;
      }
      await Promise.all(loads);
      if (state.loadFailure !== undefined) throw state.loadFailure;
      await this.#verify(session, specs, seen, o, state, unwrap(await ds.stats()), unwrap(await ds.manifest()));
      if (r.dryRun) {
        unwrap(await session.abort());
        return;
      }
      o.onProgress?.({ phase: 'commit', rows: state.rows, rejected: state.rejected, rawChars: state.rawChars });
      const { dropped, ...lock } = unwrap(await session.commit());
      state.lock = lock;
      state.dropped = dropped ?? [];
      state.committed = true;
    } finally {
      await Promise.all(loads);
      if (!state.committed) await session.abort();
    }
  }

  async *#batches(
    member: DatasetMember,
    spec: MemberSpec,
    table: TableState,
    o: ImportOptions,
    r: Resolved,
    state: PassState,
    skip: SkipSet,
    rejects: RejectWriter | undefined,
  ): AsyncGenerator<StagingRow[]> {
    const skipped = skip.get(member.name);
    const progress = (): void =>
      o.onProgress?.({
        phase: 'load',
        member: member.name,
        table: spec.table,
        rows: state.rows,
        rejected: state.rejected,
        rawChars: state.rawChars,
      });
    let nextProgress = state.rows + r.progressEveryRows;
    let batch: StagingRow[] = [];
    let size = 0;
    progress();
    // One await per decompressed chunk of lines, not per line.
    for await (const lines of member.lineBatches()) {
      // Another table's load failed: stop reading, the import fails with that.
      if (state.loadFailure !== undefined) return;
      for (const { line, raw } of lines) {
        state.rawChars += raw.length;
        const dupReason = skipped?.get(line);
        const verdict: LineVerdict =
          dupReason === undefined
            ? checkLine(raw, member.name, line, this.#idField, this.#maxIdBytes)
            : { code: 'DUPLICATE_ID', error: new BackfillError('DUPLICATE_ID', dupReason, { context: { member: member.name, line } }) };
        if (!('id' in verdict)) {
          if (rejects === undefined) throw verdict.error;
          await rejects.write({ member: member.name, line, code: verdict.code, reason: verdict.error.message, raw });
          table.rejected += 1;
          state.rejected += 1;
          continue;
        }
        batch.push({ id: verdict.id, raw, line });
        size += raw.length;
        state.rows += 1;
        if (size >= r.batchBytes) {
          yield batch;
          batch = [];
          size = 0;
          if (state.rows >= nextProgress) {
            nextProgress = state.rows + r.progressEveryRows;
            progress();
          }
        }
      }
    }
    if (batch.length > 0) yield batch;
    progress();
  }

  async #verify(
    session: StagingSession,
    specs: readonly MemberSpec[],
    seen: ReadonlySet<string>,
    o: ImportOptions,
    state: PassState,
    stats: DatasetStats,
    manifest: DatasetManifest,
  ): Promise<void> {
    state.stats = stats;
    state.manifest = manifest;
    o.onProgress?.({ phase: 'verify', rows: state.rows, rejected: state.rejected, rawChars: state.rawChars });
    if (o.expectedSha256 !== undefined) {
      if (stats.sha256 !== o.expectedSha256.toLowerCase()) {
        throw new BackfillError(
          'CHECKSUM_MISMATCH',
          `the tarball's SHA-256 is ${stats.sha256}, not the expected ${o.expectedSha256}; fetch it again. Nothing was committed.`,
          {
            context: { digest: stats.sha256 },
          },
        );
      }
      state.checks.push('tarball sha256');
    }
    const ran = new Set<string>();
    for (const spec of specs) {
      const entry = manifest.members.find((m) => m.name === spec.member);
      const measured = stats.members.find((m) => m.name === spec.member);
      if (!seen.has(spec.member) || measured === undefined) {
        throw new BackfillError(
          'MANIFEST_MISMATCH',
          `the archive has no member ${spec.member}, which is configured for table ${spec.table}. Nothing was committed.`,
          {
            context: { member: spec.member, table: spec.table },
          },
        );
      }
      if (entry === undefined) {
        throw new BackfillError(
          'MANIFEST_MISMATCH',
          `manifest.json does not list ${spec.member}, so its row count cannot be checked. Nothing was committed.`,
          {
            context: { member: spec.member, table: spec.table },
          },
        );
      }
      if (entry.bytes !== undefined && entry.bytes !== measured.bytes) {
        throw new BackfillError(
          'MANIFEST_MISMATCH',
          `${spec.member} is ${measured.bytes} bytes but the manifest says ${entry.bytes}. Nothing was committed.`,
          {
            context: { member: spec.member, expected: entry.bytes, actual: measured.bytes },
          },
        );
      }
      if (entry.bytes !== undefined) ran.add('member bytes');
      if (entry.sha256 !== undefined && entry.sha256.toLowerCase() !== measured.sha256) {
        throw new BackfillError(
          'CHECKSUM_MISMATCH',
          `${spec.member} has SHA-256 ${measured.sha256} but the manifest says ${entry.sha256}. Nothing was committed.`,
          {
            context: { member: spec.member, digest: measured.sha256 },
          },
        );
      }
      if (entry.sha256 !== undefined) ran.add('member sha256');
      const table = state.tables.get(spec.member)!;
      table.expected = entry.records;
      const count = unwrap(await session.count(spec.table));
      if (count !== table.loaded || count + table.rejected !== entry.records) {
        throw new BackfillError(
          'COUNT_MISMATCH',
          `${spec.member}: the manifest says ${entry.records} records, but ${count} rows were loaded into ${spec.table}${table.rejected > 0 ? ` and ${table.rejected} lines rejected` : ''}. Nothing was committed.`,
          { context: { member: spec.member, table: spec.table, expected: entry.records, loaded: count, rejected: table.rejected } },
        );
      }
      table.loaded = count;
    }
    state.checks.push(...ran, 'row counts');
  }

  #report(path: string, specs: readonly MemberSpec[], r: Resolved, state: PassState, started: bigint, attempts: number): ImportReport {
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    const tables = specs.map((s) => {
      const t = state.tables.get(s.member) ?? { loaded: 0, rejected: 0, expected: null };
      return {
        member: s.member,
        table: s.table,
        loaded: t.loaded,
        rejected: t.rejected,
        expected: t.expected,
        ok: t.expected !== null && t.loaded + t.rejected === t.expected,
      };
    });
    const rows = tables.reduce((n, t) => n + t.loaded, 0);
    const seconds = Math.max(durationMs / 1000, 1e-9);
    return {
      path,
      sha256: state.stats?.sha256 ?? null,
      bytes: state.stats?.bytes ?? null,
      tarBytes: state.stats?.tarBytes ?? null,
      strategy: r.strategy,
      dryRun: r.dryRun,
      committed: state.committed,
      tables,
      rows,
      rejected: state.rejected,
      rejectPath: r.onInvalid === 'reject' ? r.rejectPath : null,
      checks: [...state.checks],
      durationMs,
      rowsPerSecond: rows / seconds,
      bytesPerSecond: (state.stats?.bytes ?? 0) / seconds,
      lock: state.lock,
      dropped: [...state.dropped],
      attempts,
      manifest: state.manifest,
    };
  }
}
