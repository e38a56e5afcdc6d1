/**
 * exportDataset: staging tables back into a dataset tarball (the dataset
 * runbook's "export from Postgres" step), byte-for-byte deterministic.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { err, Result, ResultAsync } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { writeDataset, type WrittenDataset } from '../dataset/write-dataset.js';
import type { Compression } from '../dataset/types.js';
import { DEFAULT_MAX_LINE_BYTES } from '../dataset/defaults.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import { progressOf } from '../_internals/progress.js';
import { milliseconds } from '../_internals/milliseconds.js';
import { PgHandle, pgErrorToBackfill, type PgClientLike, type PgSource } from '../_internals/pg.js';
import { parseQualifiedName, type QualifiedName } from '../_internals/sql-identifier.js';
import { decodeCopyField } from './copy-text-encoding.js';
import { DEFAULT_STAGING_LOCK_TIMEOUT_MS, DEFAULT_STAGING_SCHEMA } from './defaults.js';
import { explainLockTimeout } from './pg-table-checks.js';
import {
  BEGIN_SNAPSHOT,
  COMMIT,
  copyOutRaw,
  exportRawTypes,
  lockableTables,
  lockTablesShared,
  query,
  ROLLBACK,
  setLockTimeout,
} from './sql.js';

/** Which tables to export, and where from. */
export interface ExportDatasetConfig {
  /** The caller's `pg.Pool` or `pg.Client`, or a connection string. */
  readonly pg: PgSource;
  /**
   * Schema for table names given without one.
   * @defaultValue `DEFAULT_STAGING_SCHEMA` (`"lnm_raw"`)
   */
  readonly schema?: string;
  /** Member → table, as for the importer: `{ 'linksets.ndjson': 'linksets_raw' }`. */
  readonly tables: Readonly<Record<string, string>>;
}

/** Progress of an export: rows written for the member being exported. */
export interface ExportProgress {
  readonly member: string;
  readonly table: string;
  readonly rows: number;
}

/** Options for {@link exportDataset}; the archive options go to `writeDataset`. */
export interface ExportDatasetOptions {
  /** @defaultValue `'zstd'` */
  readonly compression?: Compression;
  /** @defaultValue `writeDataset`'s level for the compression */
  readonly level?: number;
  /** @defaultValue `SOURCE_DATE_EPOCH` when set and not empty (decimal digits only; anything else is `INVALID_ARGUMENT` naming it), otherwise 0 */
  readonly mtime?: number;
  /** The manifest's `name`. @defaultValue the file name without its extensions */
  readonly name?: string;
  /** The manifest's `createdAt`. @defaultValue the `mtime` as an ISO-8601 UTC string */
  readonly createdAt?: string;
  /** Also write `<outPath>.sha256`, as `writeDataset`'s `sha256File` does. @defaultValue false */
  readonly sha256File?: boolean;
  /**
   * Rows between two progress reports: a positive whole number (anything
   * else is `INVALID_ARGUMENT`, before the export connects).
   * @defaultValue 50000
   */
  readonly progressEveryRows?: number;
  /** Called every `progressEveryRows` rows and once per table at the end. A callback that throws is ignored (logged once at warn). */
  readonly onProgress?: (progress: ExportProgress) => void;
  /**
   * How long the export waits to lock its tables (ACCESS SHARE) while a
   * session holds one of them in ACCESS EXCLUSIVE mode, such as a truncate
   * import for its whole load or a swap import while it swaps; then it
   * fails with `LOCK_TIMEOUT` naming that session, and writes no file.
   * @defaultValue `DEFAULT_STAGING_LOCK_TIMEOUT_MS` (5000), as for imports
   */
  readonly lockTimeoutMs?: number;
  /** Stops the export; no file appears at `outPath`. */
  readonly signal?: AbortSignal;
  /** Receives one line when the export is written. */
  readonly logger?: Logger;
}

/** What {@link exportDataset} wrote. */
export interface ExportReport extends WrittenDataset {
  readonly path: string;
  readonly tables: readonly { readonly member: string; readonly table: string; readonly rows: number }[];
  readonly durationMs: number;
}

const JSON_TYPES: Readonly<Record<string, string>> = {
  '"': 'a JSON string',
  '[': 'a JSON array',
  t: 'a JSON boolean',
  f: 'a JSON boolean',
  n: 'a JSON null',
};

/**
 * One COPY text field of `raw` as an NDJSON line. A dataset line is one JSON
 * object, so a NULL (`\N`) or a scalar or array `raw` (a row written by
 * hand into a `truncate` table) is refused, naming the row by its position.
 */
function rawLine(field: string, row: number, name: QualifiedName): string {
  if (field.startsWith('{')) return decodeCopyField(field);
  const what = field === '\\N' ? 'NULL' : (JSON_TYPES[field[0] ?? ''] ?? 'a JSON number');
  throw new BackfillError(
    'RECORD_NOT_OBJECT',
    `row ${row} of ${name.sql} (in id order) has raw ${what}, and a dataset line must be one JSON object; find such rows with SELECT id FROM ${name.sql} WHERE raw IS NULL OR jsonb_typeof(raw) <> 'object', and fix or delete them. No file was written.`,
    { context: { table: name.sql, row } },
  );
}

/**
 * The `raw` column of one table, in id order (`COLLATE "C"`), as NDJSON lines.
 * A row's text may span many chunks (a row of hundreds of MiB arrives in
 * 64 KiB pieces): the pieces are kept apart and joined once, and each chunk
 * is searched for the row's end only once, so a long row costs time linear
 * in its length.
 */
async function* tableLines(client: PgClientLike, name: QualifiedName, onRow: () => void, copy: CopyState): AsyncGenerator<string> {
  const stream = client.query(copyOutRaw(name.sql)) as Readable;
  copy.open.add(stream);
  const decoder = new StringDecoder('utf8');
  let pieces: string[] = [];
  let row = 0;
  try {
    // Not destroyed when the export stops mid-table: a caller's own client is then drained (see mayRollBack).
    for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      const text = decoder.write(chunk);
      let from = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', from)) {
        pieces.push(text.slice(from, end));
        const line = pieces.length === 1 ? pieces[0]! : pieces.join('');
        pieces = [];
        from = end + 1;
        onRow();
        row += 1;
        yield rawLine(line, row, name);
      }
      if (from < text.length) pieces.push(text.slice(from));
    }
    copy.open.delete(stream);
    const rest = pieces.join('') + decoder.end();
    if (rest.length > 0) {
      onRow();
      row += 1;
      yield rawLine(rest, row, name);
    }
  } catch (error) {
    // Coded here: writeDataset would otherwise report a database error as IO_ERROR.
    throw (error as { name?: unknown } | null)?.name === 'AbortError'
      ? toBackfillError(error)
      : pgErrorToBackfill(error, { table: name.name });
  } finally {
    if (!copy.open.has(stream) && !stream.destroyed) stream.destroy();
  }
}

/**
 * Whether the connection can still take the ROLLBACK. A COPY left half read
 * (the export stopped or failed mid-table) still holds the connection: a
 * ROLLBACK sent behind it would wait for ever, with the driver no longer
 * reading the socket, so the process would exit with nothing said. A
 * pooled connection is then destroyed by the caller instead (the server
 * ends its read-only transaction with it). The caller's own client is
 * not ours to end: the rest of the COPY is read and discarded, after which
 * the client takes the ROLLBACK and is idle again, outside any transaction.
 */
async function mayRollBack(copy: CopyState, pooled: boolean): Promise<boolean> {
  if (copy.open.size === 0) return true;
  const open = [...copy.open];
  copy.open.clear();
  // Nobody reads these streams any more: the error a dropped connection or the server gives them must not go unhandled.
  for (const stream of open) stream.on('error', () => undefined);
  if (pooled) {
    for (const stream of open) stream.destroy();
    return false;
  }
  await Promise.all(open.map(drain));
  return true;
}

/** Reads `stream` to its end (or its error), discarding what it gives. */
async function drain(stream: Readable): Promise<void> {
  if (stream.destroyed || stream.readableEnded) return;
  await new Promise<void>((resolve) => {
    const read = (): void => {
      while (stream.read() !== null) {
        // discarded
      }
    };
    stream.on('readable', read);
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.on('error', () => resolve());
    read();
  });
}

/**
 * Refuses a table whose `raw` is not `jsonb` (`text`, `json`, …), before
 * anything is written: its text is whatever was stored, so lines that are
 * not one JSON object, or more than one, or JSON that names a key twice,
 * would be exported as they are, into a dataset the importer refuses.
 */
async function refuseRawNotJsonb(client: PgClientLike, specs: readonly ExportSpec[]): Promise<void> {
  const types = await query<{ name: string; type: string; jsonb: boolean }>(client, exportRawTypes(specs.map((s) => s.name.sql)));
  const odd = types.find((t) => !t.jsonb);
  if (odd === undefined) return;
  throw new BackfillError(
    'TABLE_SHAPE_MISMATCH',
    `${odd.name} has raw of type ${odd.type}, not jsonb: its text is not sure to be one JSON object per row, and a dataset line must be; export a table (or view) whose raw is jsonb, such as one that casts it (raw::jsonb). No file was written.`,
    { context: { table: odd.name } },
  );
}

/**
 * The writer's `LINE_TOO_LONG` names a line of the member; an export names
 * the row of the table it came from (one line per row, in id order) and the
 * query that finds such rows.
 */
function rowTooLong(error: BackfillError, specs: readonly ExportSpec[]): BackfillError {
  if (error.code !== 'LINE_TOO_LONG') return error;
  const spec = specs.find((s) => s.member === error.context['member']);
  const row = error.context['line'];
  if (spec === undefined || typeof row !== 'number') return error;
  const table = spec.name.sql;
  return new BackfillError(
    'LINE_TOO_LONG',
    `row ${row} of ${table} (in id order) is longer than ${DEFAULT_MAX_LINE_BYTES} bytes as JSON text, the longest line dataset readers take by default, so the dataset would not import; find such rows with SELECT id FROM ${table} WHERE octet_length(raw::text) > ${DEFAULT_MAX_LINE_BYTES}, and shorten or split them. No file was written.`,
    { cause: error, context: { table, row } },
  );
}

/** The COPY … TO STDOUT streams the export started and has not read to the end. */
interface CopyState {
  readonly open: Set<Readable>;
}

interface ExportSpec {
  readonly member: string;
  readonly table: string;
  readonly name: QualifiedName;
}

/** An export's config and options, checked. */
interface ExportContext {
  readonly specs: readonly ExportSpec[];
  readonly lockTimeoutMs: number;
}

/** Checks the config, the output path and the options before anything connects. */
function resolveExport(config: ExportDatasetConfig, outPath: string, options: ExportDatasetOptions): Result<ExportContext, BackfillError> {
  const entries = Object.entries(config.tables ?? {});
  if (entries.length === 0) return err(new BackfillError('INVALID_ARGUMENT', '`tables` must map at least one member to a table.'));
  const schema = config.schema ?? DEFAULT_STAGING_SCHEMA;
  const specs = Result.combine(
    entries.map(([member, table]) => parseQualifiedName(table, schema).map((name) => ({ member, table, name }))),
  );
  if (typeof outPath !== 'string' || outPath.length === 0)
    return specs.andThen(() => err(new BackfillError('INVALID_ARGUMENT', 'pass the path of the tarball to write.')));
  const every = options.progressEveryRows;
  // Reported when the count is a multiple of it: 0 or NaN would report no count, -2 every 2 rows.
  if (every !== undefined && !(Number.isSafeInteger(every) && every > 0)) {
    return specs.andThen(() =>
      err(new BackfillError('INVALID_ARGUMENT', `progressEveryRows must be a positive whole number of rows; got ${String(every)}.`)),
    );
  }
  return specs.andThen((s) =>
    milliseconds(options.lockTimeoutMs, 'lockTimeoutMs', DEFAULT_STAGING_LOCK_TIMEOUT_MS).map((lockTimeoutMs) => ({
      specs: s,
      lockTimeoutMs,
    })),
  );
}

/**
 * Writes staging tables back into a dataset tarball with its manifest: one
 * NDJSON member per table, rows ordered by id with `COLLATE "C"` (so the
 * order does not depend on the server's locale), all read from one
 * REPEATABLE READ snapshot, and archived with `writeDataset` (fixed mtime,
 * fixed level). The same tables give the same bytes, and importing the
 * export gives back the same rows. Each line is the stored jsonb's text
 * (PostgreSQL's normalised form, not necessarily the originally imported
 * bytes).
 *
 * With the caller's own `pg.Client` as `pg` (never ended here), an export
 * that stops part-way through a table (`options.signal`, a refused row)
 * reads and discards the rest of that table's COPY, then rolls back: the
 * client is left idle, outside any transaction, holding no lock. A pooled
 * connection is dropped instead.
 *
 * @example
 * ```ts
 * const out = await exportDataset(
 *   { pg: pool, schema: 'lnm_raw', tables: { 'linksets.ndjson': 'linksets_raw', 'advisory_chunks.ndjson': 'advisory_chunks_raw' } },
 *   'out/linksets/linksets-stage-backfill.tar.zst',
 * );
 * if (out.isOk()) console.log(out.value.sha256);
 * ```
 */
export function exportDataset(
  config: ExportDatasetConfig,
  outPath: string,
  options: ExportDatasetOptions = {},
): ResultAsync<ExportReport, BackfillError> {
  return resolveExport(config, outPath, options).asyncAndThen((context) => exportTables(config.pg, context, outPath, options));
}

function exportTables(
  pg: PgSource,
  { specs, lockTimeoutMs }: ExportContext,
  outPath: string,
  options: ExportDatasetOptions,
): ResultAsync<ExportReport, BackfillError> {
  const started = process.hrtime.bigint();
  const every = options.progressEveryRows ?? 50_000;
  const logger = loggerOf(options.logger);
  const onProgress = progressOf(options.onProgress, logger, 'staging export');
  const handle = new PgHandle(pg);
  const run = handle.withClient(async (client) => {
    const counts = specs.map(() => 0);
    const copy: CopyState = { open: new Set() };
    const tables = [...new Map(specs.map((s) => [s.name.sql, s.name])).values()];
    const lockable = await query<{ name: string }>(client, lockableTables(tables.map((n) => n.sql)));
    await query(client, BEGIN_SNAPSHOT);
    try {
      // Lock, then snapshot: every table as one import committed it, or as it was before.
      await query(client, setLockTimeout(lockTimeoutMs));
      if (lockable.length > 0) await query(client, lockTablesShared(lockable.map((t) => t.name)));
      await refuseRawNotJsonb(client, specs);
      const members = Object.fromEntries(
        specs.map((s, i) => [
          s.member,
          tableLines(
            client,
            s.name,
            () => {
              counts[i] = (counts[i] ?? 0) + 1;
              if (counts[i] % every === 0) onProgress({ member: s.member, table: s.table, rows: counts[i] });
            },
            copy,
          ),
        ]),
      );
      const written = await writeDataset(outPath, {
        members,
        ...(options.compression === undefined ? {} : { compression: options.compression }),
        ...(options.level === undefined ? {} : { level: options.level }),
        ...(options.mtime === undefined ? {} : { mtime: options.mtime }),
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.createdAt === undefined ? {} : { createdAt: options.createdAt }),
        ...(options.sha256File === undefined ? {} : { sha256File: options.sha256File }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      // Thrown, not returned: withClient then destroys the connection (its COPY may be half read) instead of pooling it.
      if (written.isErr()) throw rowTooLong(written.error, specs);
      await query(client, COMMIT);
      for (const [i, s] of specs.entries()) onProgress({ member: s.member, table: s.table, rows: counts[i] ?? 0 });
      logger.info('staging tables exported', { path: outPath, sha256: written.value.sha256 });
      return {
        ...written.value,
        path: outPath,
        tables: specs.map((s, i) => ({ member: s.member, table: s.table, rows: counts[i] ?? 0 })),
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      };
    } catch (error) {
      if (!(await mayRollBack(copy, handle.pooled))) throw error;
      await query(client, ROLLBACK).catch(() => undefined);
      throw await explainLockTimeout(client, error, tables, lockTimeoutMs, { shared: true, outcome: 'No file was written.' });
    }
  });
  return ResultAsync.fromPromise(
    run.finally(() => handle.close()),
    (e) => ((e as { name?: unknown } | null)?.name === 'AbortError' ? toBackfillError(e) : pgErrorToBackfill(e)),
  );
}
