/**
 * Raw VEX documents from a PostgreSQL table, keyset-paginated.
 *
 * @module
 */
import { errAsync, ResultAsync } from 'neverthrow';
import type { BackfillError } from '../errors.js';
import { inTransaction, PgHandle, pgErrorToBackfill, type PgSource } from '../_internals/pg.js';
import { parseQualifiedName, quoteIdent, type QualifiedName } from '../_internals/sql-identifier.js';
import { DEFAULT_RAW_DOCUMENTS_TABLE } from './defaults.js';
import type { KeyRange, KeyRangesQuery, RawDocument, RawDocumentCountQuery, RawDocumentPageQuery, RawDocumentSource } from './ports.js';

/**
 * Where {@link PgRawDocumentSource} reads from. The table needs the columns
 * `digest text`, `retrieved_at timestamptz`, `content` (`text`, `jsonb` or
 * `bytea`), plus an index
 * on `(retrieved_at, digest)` so each page is an index range scan.
 *
 * @example
 * ```ts
 * const config: PgRawDocumentSourceConfig = { pg: pool, table: 'vex.raw_documents' };
 * ```
 */
export interface PgRawDocumentSourceConfig {
  /** The caller's `pg.Pool` or `pg.Client`, or a connection string. */
  readonly pg: PgSource;
  /** @defaultValue {@link DEFAULT_RAW_DOCUMENTS_TABLE} (`vex.raw_documents`) */
  readonly table?: string;
}

/**
 * A raw document to store with {@link PgRawDocumentSource.append}.
 *
 * @example
 * ```ts
 * await source.append([{ digest: 'sha256:ab…', retrievedAt: new Date(), content: text }]);
 * ```
 */
export interface NewRawDocument {
  readonly digest: string;
  readonly retrievedAt: Date | string;
  /** JSON text (stored as-is, so malformed documents can be stored too). */
  readonly content: string;
}

interface RawRow {
  digest: string;
  retrieved_at: Date;
  cursor_at: string;
  content: string | Buffer | Record<string, unknown>;
}

/** Microsecond-exact UTC text of a timestamptz, for cursors. */
const CURSOR_TEXT = `to_char(retrieved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * A {@link RawDocumentSource} over a PostgreSQL table. Pages are read with
 * `WHERE (retrieved_at, digest) > ($cursor) ORDER BY retrieved_at, digest LIMIT n`
 * (keyset, never OFFSET), so each page costs the same however deep the run is.
 *
 * @example
 * ```ts
 * const source = new PgRawDocumentSource({ pg: pool });
 * await source.prepare(); // creates vex.raw_documents if it is missing
 * const page = await source.readPage({ limit: 100 });
 * ```
 */
export class PgRawDocumentSource implements RawDocumentSource {
  readonly #pg: PgHandle;
  readonly #table: QualifiedName | BackfillError;

  constructor(config: PgRawDocumentSourceConfig) {
    this.#pg = new PgHandle(config.pg);
    const parsed = parseQualifiedName(config.table ?? DEFAULT_RAW_DOCUMENTS_TABLE);
    this.#table = parsed.isOk() ? parsed.value : parsed.error;
  }

  #name(): ResultAsync<QualifiedName, BackfillError> {
    const t = this.#table;
    return t instanceof Error ? errAsync(t) : ResultAsync.fromSafePromise(Promise.resolve(t));
  }

  /** Creates the table (content as `text`) and its `(retrieved_at, digest)` index if missing. */
  prepare(): ResultAsync<void, BackfillError> {
    return this.#name().andThen((t) =>
      ResultAsync.fromPromise(
        this.#pg.withClient((c) =>
          inTransaction(c, async () => {
            await c.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [t.sql]);
            await c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(t.schema)}`);
            await c.query(
              `CREATE TABLE IF NOT EXISTS ${t.sql} (digest text PRIMARY KEY, retrieved_at timestamptz NOT NULL, content text NOT NULL)`,
            );
            await c.query(
              `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${t.name}_retrieved_at_digest_idx`)} ON ${t.sql} (retrieved_at, digest)`,
            );
          }),
        ),
        (e) => pgErrorToBackfill(e, { table: t.sql }),
      ),
    );
  }

  /** Stores documents (ingest, fixtures); an existing digest is left unchanged. Returns how many were new. */
  append(documents: readonly NewRawDocument[]): ResultAsync<number, BackfillError> {
    return this.#name().andThen((t) =>
      this.#pg
        .query(
          `INSERT INTO ${t.sql} (digest, retrieved_at, content)
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[])
           ON CONFLICT (digest) DO NOTHING`,
          [
            documents.map((d) => d.digest),
            documents.map((d) => (d.retrievedAt instanceof Date ? d.retrievedAt.toISOString() : d.retrievedAt)),
            documents.map((d) => d.content),
          ],
          { table: t.sql },
        )
        .map((r) => r.rowCount ?? 0),
    );
  }

  /** Builds the WHERE clause shared by pages and counts. */
  #where(query: RawDocumentCountQuery, values: unknown[]): string {
    const clauses: string[] = [];
    if (query.retrievedSince !== undefined) {
      values.push(query.retrievedSince.toISOString());
      clauses.push(`retrieved_at >= $${values.length}::timestamptz`);
    }
    if (query.after !== undefined) {
      values.push(query.after.retrievedAt, query.after.digest);
      clauses.push(`(retrieved_at, digest) > ($${values.length - 1}::timestamptz, $${values.length}::text)`);
    }
    if (query.until !== undefined) {
      values.push(query.until.retrievedAt, query.until.digest);
      clauses.push(`(retrieved_at, digest) <= ($${values.length - 1}::timestamptz, $${values.length}::text)`);
    }
    return clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
  }

  /** The next page after `query.after`, in `(retrieved_at, digest)` order. */
  readPage(query: RawDocumentPageQuery): ResultAsync<readonly RawDocument[], BackfillError> {
    return this.#name().andThen((t) => {
      const values: unknown[] = [];
      const where = this.#where(query, values);
      values.push(query.limit);
      const sql = `SELECT digest, retrieved_at, ${CURSOR_TEXT} AS cursor_at, content
        FROM ${t.sql} ${where} ORDER BY retrieved_at, digest LIMIT $${values.length}`;
      return this.#pg.query<RawRow>(sql, values, { table: t.sql }).map((r) =>
        r.rows.map(
          (row): RawDocument => ({
            digest: row.digest,
            retrievedAt: row.retrieved_at,
            cursor: { retrievedAt: row.cursor_at, digest: row.digest },
            content: Buffer.isBuffer(row.content)
              ? new Uint8Array(row.content.buffer, row.content.byteOffset, row.content.byteLength)
              : row.content,
          }),
        ),
      );
    });
  }

  /** Documents remaining after `query.after` (for progress and ETA). */
  count(query: RawDocumentCountQuery): ResultAsync<number, BackfillError> {
    return this.#name().andThen((t) => {
      const values: unknown[] = [];
      const where = this.#where(query, values);
      return this.#pg
        .query<{ n: string }>(`SELECT count(*) AS n FROM ${t.sql} ${where}`, values, { table: t.sql })
        .map((r) => Number(r.rows[0]?.n ?? 0));
    });
  }

  /**
   * Cuts the keyspace into ranges of `rangeSize` documents with one pass
   * over the `(retrieved_at, digest)` index, in the database's own order.
   */
  keyRanges(query: KeyRangesQuery): ResultAsync<readonly KeyRange[], BackfillError> {
    return this.#name().andThen((t) => {
      const values: unknown[] = [];
      const where = this.#where(query.retrievedSince === undefined ? {} : { retrievedSince: query.retrievedSince }, values);
      values.push(query.maxDocuments ?? null, query.rangeSize);
      const sql = `WITH docs AS (
          SELECT retrieved_at, digest FROM ${t.sql} ${where} ORDER BY retrieved_at, digest LIMIT $${values.length - 1}
        ), numbered AS (
          SELECT retrieved_at, digest, row_number() OVER (ORDER BY retrieved_at, digest) AS n, count(*) OVER () AS total FROM docs
        )
        SELECT n, ${CURSOR_TEXT} AS cursor_at, digest FROM numbered WHERE n % $${values.length} = 0 OR n = total ORDER BY n`;
      return this.#pg.query<{ n: string; cursor_at: string; digest: string }>(sql, values, { table: t.sql }).map((r) => {
        const ranges: KeyRange[] = [];
        let previous: KeyRange | null = null;
        let before = 0;
        for (const row of r.rows) {
          const n = Number(row.n);
          const range: KeyRange = {
            after: previous?.through ?? null,
            through: { retrievedAt: row.cursor_at, digest: row.digest },
            documents: n - before,
          };
          ranges.push(range);
          previous = range;
          before = n;
        }
        return ranges;
      });
    });
  }

  /** Ends the pool when the source was built from a connection string. */
  async close(): Promise<void> {
    await this.#pg.close();
  }
}
