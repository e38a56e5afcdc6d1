/**
 * exportDataset: staging tables back into a dataset tarball (the dataset
 * runbook's "export from Postgres" step), byte-for-byte deterministic.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { err, errAsync, ok, ResultAsync, type Result } from 'neverthrow';
import copyStreams from 'pg-copy-streams';
import { BackfillError, toBackfillError } from '../errors.js';
import { writeDataset, type WrittenDataset } from '../dataset/write-dataset.js';
import type { Compression } from '../dataset/types.js';
import type { Logger } from '../_internals/logger.js';
import { PgHandle, pgErrorToBackfill, type PgClientLike, type PgSource } from '../_internals/pg.js';
import { parseQualifiedName, type QualifiedName } from '../_internals/sql-identifier.js';
import { decodeCopyField } from './copy-text-encoding.js';
import { DEFAULT_STAGING_SCHEMA } from './defaults.js';

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
  /** @defaultValue `SOURCE_DATE_EPOCH` when set, otherwise 0 */
  readonly mtime?: number;
  /** The manifest's `name`. @defaultValue the file name without its extensions */
  readonly name?: string;
  /** The manifest's `createdAt`. @defaultValue the `mtime` as an ISO-8601 UTC string */
  readonly createdAt?: string;
  /**
   * Rows between two progress reports.
   * @defaultValue 50000
   */
  readonly progressEveryRows?: number;
  /** Called every `progressEveryRows` rows and once per table at the end. */
  readonly onProgress?: (progress: ExportProgress) => void;
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

/** The `raw` column of one table, in id order (`COLLATE "C"`), as NDJSON lines. */
async function* tableLines(client: PgClientLike, name: QualifiedName, onRow: () => void): AsyncGenerator<string> {
  const stream = client.query(copyStreams.to(`COPY (SELECT raw FROM ${name.sql} ORDER BY id COLLATE "C") TO STDOUT`)) as Readable;
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const lines = (rest + decoder.write(chunk)).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        onRow();
        yield decodeCopyField(line);
      }
    }
    rest += decoder.end();
    if (rest.length > 0) {
      onRow();
      yield decodeCopyField(rest);
    }
  } catch (error) {
    // Coded here: writeDataset would otherwise report a database error as IO_ERROR.
    throw (error as { name?: unknown } | null)?.name === 'AbortError'
      ? toBackfillError(error)
      : pgErrorToBackfill(error, { table: name.name });
  } finally {
    if (!stream.destroyed) stream.destroy();
  }
}

function validate(config: ExportDatasetConfig): Result<{ member: string; table: string; name: QualifiedName }[], BackfillError> {
  const entries = Object.entries(config.tables ?? {});
  if (entries.length === 0) return err(new BackfillError('INVALID_ARGUMENT', '`tables` must map at least one member to a table.'));
  const out: { member: string; table: string; name: QualifiedName }[] = [];
  for (const [member, table] of entries) {
    const name = parseQualifiedName(table, config.schema ?? DEFAULT_STAGING_SCHEMA);
    if (name.isErr()) return err(name.error);
    out.push({ member, table, name: name.value });
  }
  return ok(out);
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
  const specs = validate(config);
  if (specs.isErr()) return errAsync(specs.error);
  if (typeof outPath !== 'string' || outPath.length === 0)
    return errAsync(new BackfillError('INVALID_ARGUMENT', 'pass the path of the tarball to write.'));
  const started = process.hrtime.bigint();
  const every = options.progressEveryRows ?? 50_000;
  const handle = new PgHandle(config.pg);
  const run = handle.withClient(async (client) => {
    const counts = specs.value.map(() => 0);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const members = Object.fromEntries(
        specs.value.map((s, i) => [
          s.member,
          tableLines(client, s.name, () => {
            counts[i] = (counts[i] ?? 0) + 1;
            if (counts[i] % every === 0) options.onProgress?.({ member: s.member, table: s.table, rows: counts[i] });
          }),
        ]),
      );
      const written = await writeDataset(outPath, {
        members,
        ...(options.compression === undefined ? {} : { compression: options.compression }),
        ...(options.level === undefined ? {} : { level: options.level }),
        ...(options.mtime === undefined ? {} : { mtime: options.mtime }),
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.createdAt === undefined ? {} : { createdAt: options.createdAt }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      if (written.isErr()) throw written.error;
      await client.query('COMMIT');
      for (const [i, s] of specs.value.entries()) options.onProgress?.({ member: s.member, table: s.table, rows: counts[i] ?? 0 });
      options.logger?.info('staging tables exported', { path: outPath, sha256: written.value.sha256 });
      return {
        ...written.value,
        path: outPath,
        tables: specs.value.map((s, i) => ({ member: s.member, table: s.table, rows: counts[i] ?? 0 })),
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      };
    } catch (error) {
      await Promise.resolve(client.query('ROLLBACK')).catch(() => undefined);
      throw error;
    }
  });
  return ResultAsync.fromPromise(
    run.finally(() => handle.close()),
    (e) => ((e as { name?: unknown } | null)?.name === 'AbortError' ? toBackfillError(e) : pgErrorToBackfill(e)),
  );
}
