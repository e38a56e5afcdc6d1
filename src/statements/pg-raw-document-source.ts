/**
 * Raw VEX documents from a PostgreSQL table, keyset-paginated.
 *
 * @module
 */
import { constants } from 'node:buffer';
import { err, errAsync, ok, type Result, type ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { instantText, readInstant } from '../_internals/instant.js';
import { inTransaction, type PgClientLike, type PgSource } from '../_internals/pg.js';
import type { QualifiedName } from '../_internals/sql-identifier.js';
import { DEFAULT_RAW_DOCUMENTS_TABLE } from './defaults.js';
import type { KeyRange, KeyRangesQuery, RawDocument, RawDocumentCountQuery, RawDocumentPageQuery, RawDocumentSource } from './ports.js';
import { digestColumnRefusal, resolvePgStore, withStoreClient, type ColumnType, type PgStore } from './pg-store.js';
import * as sql from './sql.js';

/**
 * Where {@link PgRawDocumentSource} reads from. The table needs the columns
 * `digest text`, `retrieved_at timestamptz` (a `timestamp` without time
 * zone is refused), `content` (`text`, `jsonb` or `bytea`), plus an index
 * on `(retrieved_at, digest)` so each page is an index range scan.
 * Content larger than a JavaScript string can hold is not read; see
 * {@link PgRawDocumentSource.readPage}.
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
  /** A Date, or ISO-8601 text (UTC when it has no offset, whatever the host's or the session's time zone). */
  readonly retrievedAt: Date | string;
  /** JSON text (stored as-is, so malformed documents can be stored too). */
  readonly content: string;
}

interface RawRow {
  digest: string;
  retrieved_at: Date;
  cursor_at: string;
  /** Text, or a bytea's bytes: json and jsonb are selected as text (see sql.rawContentSql). */
  content: string | Buffer;
  content_bytes: number | null;
  /** The most bytes of this content that can be read (for a bytea, as the session's `bytea_output` sends it). */
  content_max: number;
  /** Its retrieved_at as text when it has no cursor text (±infinity, before year 1): stored since the table was checked. */
  unplaceable: string | null;
}

/**
 * The most characters a page passes on as one value: node-postgres turns
 * each value into a JavaScript string of at most `MAX_STRING_LENGTH`
 * (536,870,888 on 64-bit) UTF-16 units before anything else, and UTF-8 text
 * never has more units than bytes. The page query turns it into bytes per
 * column type (see sql.rawContentSql): a bytea arrives as hex, `\x` and 2
 * characters per byte, so it may have 268,435,443 bytes (134,217,722 under
 * `bytea_output = escape`, up to 4 per byte); jsonb is measured by its
 * text form.
 */
const MAX_STRING = constants.MAX_STRING_LENGTH;

/** PostgreSQL's types (internal names) of a `content` column (a domain's base type) whose values read as a document's text or UTF-8 bytes. */
const CONTENT_TYPES: ReadonlySet<string> = new Set(['text', 'varchar', 'bpchar', 'json', 'jsonb', 'bytea']);

/** Why documents whose retrieved_at has no place in keyset order are refused, and what to do. */
const unplaceable = (raw: QualifiedName, digest: string, shown: string, count: number): BackfillError =>
  new BackfillError(
    'DOCUMENT_INVALID',
    `${raw.sql}: ${count} raw document(s) have a retrieved_at that cannot be placed in (retrieved_at, digest) order, e.g. ${digest} (${shown}). They would end the run early with the rest unread; set retrieved_at to when each document was fetched and run again.`,
    { context: { table: raw.sql, digest, count } },
  );

/** Why a document over the content limit is not read, and what to do. */
const tooLarge = (raw: QualifiedName, bytes: number, max: number): string =>
  `its content is ${bytes} bytes, more than the ${max} bytes that can be read into a JavaScript string${max < MAX_STRING ? ` (a bytea arrives as text: 2 characters per byte with bytea_output = hex, up to 4 with escape, and a string holds at most ${MAX_STRING})` : ''}. Remove it from ${raw.sql} or split it into smaller documents.`;

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
  /** The connection and validated table name, or why the config is invalid (then every method returns that error). */
  readonly #store: Result<Readonly<PgStore<'raw'>>, BackfillError>;
  #contentSql: sql.RawContentSql | undefined;

  constructor(config: PgRawDocumentSourceConfig) {
    this.#store = resolvePgStore(config.pg, { raw: config.table ?? DEFAULT_RAW_DOCUMENTS_TABLE });
  }

  /** Runs `work` on one connection; a failure becomes a BackfillError naming the table. */
  #withClient<T>(work: (c: PgClientLike, raw: QualifiedName) => Promise<T>): ResultAsync<T, BackfillError> {
    return withStoreClient(
      this.#store,
      ({ raw }) => ({ table: raw.sql }),
      (c, { raw }) => work(c, raw),
    );
  }

  /** Creates the table (content as `text`) and its `(retrieved_at, digest)` index if missing. */
  prepare(): ResultAsync<void, BackfillError> {
    return this.#withClient((c, raw) =>
      inTransaction(c, async () => {
        await c.query(sql.lockCreation(raw));
        await c.query(sql.createSchema(raw.schema));
        await c.query(sql.createRawDocumentsTable(raw));
        await c.query(sql.createRawDocumentsIndex(raw));
      }),
    );
  }

  /** Stores documents (ingest, fixtures); an existing digest is left unchanged. Returns how many were new. */
  append(documents: readonly NewRawDocument[]): ResultAsync<number, BackfillError> {
    const times: string[] = [];
    for (const d of documents) {
      const time = retrievedAtText(d);
      if (time.isErr()) return errAsync(time.error);
      times.push(time.value);
    }
    return this.#withClient(async (c, raw) => {
      const inserted = (await c.query(sql.insertRawDocuments(raw, documents, times))) as { rowCount: number | null };
      return inserted.rowCount ?? 0;
    });
  }

  /**
   * Checks the table once, on a source's first page or plan, and returns
   * how the page query reads its content column. Refuses a `retrieved_at`
   * that is not `timestamptz`: a `timestamp` (without time zone) is read in
   * the session's TimeZone, so cursors written in UTC would be compared in
   * another zone and pages would start over hours back. Refuses a table
   * without a `digest`, `retrieved_at` or `content` column, or whose
   * `content` is of a type no document text can be read from (an integer,
   * an array): every document would fail on its own as unrecognised.
   * Refuses a `digest` column that is not `text`, `varchar` or `char`
   * (or a domain over one): `citext`, say, orders pages ignoring case
   * while the cursor compares as text, so pages would skip or repeat
   * documents. Refuses a `digest` column of a nondeterministic collation
   * (one that finds digests differing in case equal): keyset pages would
   * skip the documents equal to a page's last one. Refuses a table
   * holding a document whose `retrieved_at` is ±infinity or before year 1:
   * its cursor cannot be written down, so a run would end on it and report
   * "completed" with the documents after it unread.
   */
  async #checkTable(c: PgClientLike, raw: QualifiedName): Promise<sql.RawContentSql> {
    if (this.#contentSql !== undefined) return this.#contentSql;
    const columns = (await c.query(sql.selectColumnTypes(raw, ['digest', 'content', 'retrieved_at']))) as { rows: ColumnType[] };
    const typeOf = (name: string): string | undefined => columns.rows.find((column) => column.name === name)?.type;
    const retrievedAt = typeOf('retrieved_at');
    if (retrievedAt !== undefined && retrievedAt !== 'timestamp with time zone') {
      throw new BackfillError(
        'INVALID_ARGUMENT',
        `${raw.sql}: column retrieved_at is ${retrievedAt}, not timestamp with time zone: positions in (retrieved_at, digest) order are kept in UTC, so a run would read pages again and again. Convert it (if the times are UTC): ALTER TABLE ${raw.sql} ALTER COLUMN retrieved_at TYPE timestamptz USING retrieved_at AT TIME ZONE 'UTC'`,
        { context: { table: raw.sql, column: 'retrieved_at', type: retrievedAt } },
      );
    }
    const missing =
      "a raw documents table has (digest, retrieved_at timestamptz, content text | jsonb | bytea). Check --raw-table (the source's table) names that table.";
    const refused = digestColumnRefusal(raw, 'digest', columns.rows, {
      missing,
      type: "pages are ordered by the column's own comparison and continue after a page's last digest compared as text, so where the two orders differ (citext ignores case) a run would skip or repeat documents.",
      collation: 'a page that ends on one of them would skip the others retrieved at the same time.',
      convertTo: 'text',
    });
    if (refused !== undefined) throw refused;
    for (const column of ['retrieved_at', 'content']) {
      if (typeOf(column) === undefined) {
        throw new BackfillError('INVALID_ARGUMENT', `${raw.sql} has no column ${column}: ${missing}`, {
          context: { table: raw.sql, column },
        });
      }
    }
    // PostgreSQL's own type by its internal name (`varchar`, `bpchar`): a type of another schema named `text` is no text.
    const builtin = columns.rows.find((column) => column.name === 'content')?.builtin ?? '';
    const content = typeOf('content') as string;
    if (!CONTENT_TYPES.has(builtin)) {
      throw new BackfillError(
        'INVALID_ARGUMENT',
        `${raw.sql}: column content is ${content}, not text, varchar, json, jsonb or bytea, so no document in it could be read as JSON (each would fail as unrecognised). Check --raw-table (the source's table) names the raw documents table, or convert the column.`,
        { context: { table: raw.sql, column: 'content', type: content } },
      );
    }
    const found = (await c.query(sql.selectUnplaceableDocument(raw))) as { rows: { digest: string; shown: string; n: string }[] };
    const bad = found.rows[0];
    if (bad !== undefined) throw unplaceable(raw, bad.digest, bad.shown, Number(bad.n));
    this.#contentSql = sql.rawContentSql(builtin);
    return this.#contentSql;
  }

  /**
   * The next page after `query.after`, in `(retrieved_at, digest)` order.
   * A source's first page (or plan) refuses a `retrieved_at` column that is
   * not `timestamptz` with `INVALID_ARGUMENT`, and a table holding a
   * `retrieved_at` of ±infinity or before year 1 with `DOCUMENT_INVALID`. A document whose
   * content is over 536,870,888 bytes (a bytea over 268,435,443, or over
   * 134,217,722 under `bytea_output = escape`; jsonb measured as text),
   * more than node-postgres can turn into a string, is
   * not read: it comes with empty content and `unreadable` set, so it fails
   * on its own with `DOCUMENT_INVALID`. With `query.maxBytes` the page
   * ends before the document whose content would take it over that many
   * bytes, but holds at least one document; the sizes are read first (from
   * the TOAST header for `text` and `bytea`), and the content of documents
   * past the budget is neither decompressed nor sent.
   */
  readPage(query: RawDocumentPageQuery): ResultAsync<readonly RawDocument[], BackfillError> {
    return this.#withClient(async (c, raw) => {
      const content = await this.#checkTable(c, raw);
      const page = (await c.query(sql.selectRawPage(raw, query, content, MAX_STRING))) as { rows: RawRow[] };
      // Stored since the table was checked (this source's first page): its cursor would end the run here, the rest unread.
      const late = page.rows.find((row) => row.unplaceable !== null);
      if (late !== undefined) throw unplaceable(raw, late.digest, late.unplaceable as string, 1);
      return page.rows.map((row): RawDocument => {
        const doc = { digest: row.digest, retrievedAt: row.retrieved_at, cursor: { retrievedAt: row.cursor_at, digest: row.digest } };
        if (row.content_bytes !== null && row.content_bytes > row.content_max) {
          return { ...doc, content: '', unreadable: tooLarge(raw, row.content_bytes, row.content_max) };
        }
        if (Buffer.isBuffer(row.content)) {
          return { ...doc, content: new Uint8Array(row.content.buffer, row.content.byteOffset, row.content.byteLength) };
        }
        return { ...doc, content: row.content };
      });
    });
  }

  /** Documents remaining after `query.after` (for progress and ETA). */
  count(query: RawDocumentCountQuery): ResultAsync<number, BackfillError> {
    return this.#withClient(async (c, raw) => {
      const counted = (await c.query(sql.countRawDocuments(raw, query))) as { rows: { n: string }[] };
      return Number(counted.rows[0]?.n ?? 0);
    });
  }

  /**
   * Cuts the keyspace into ranges of `rangeSize` documents with one pass
   * over the `(retrieved_at, digest)` index, in the database's own order.
   */
  keyRanges(query: KeyRangesQuery): ResultAsync<readonly KeyRange[], BackfillError> {
    return this.#withClient(async (c, raw) => {
      await this.#checkTable(c, raw);
      const ends = (await c.query(sql.selectKeyRangeEnds(raw, query))) as { rows: { n: string; cursor_at: string; digest: string }[] };
      const ranges: KeyRange[] = [];
      let previous: KeyRange | null = null;
      let before = 0;
      for (const row of ends.rows) {
        const n = Number(row.n);
        const range: KeyRange = {
          after: previous?.through ?? query.after ?? null,
          through: { retrievedAt: row.cursor_at, digest: row.digest },
          documents: n - before,
        };
        ranges.push(range);
        previous = range;
        before = n;
      }
      return ranges;
    });
  }

  /**
   * Refuses, with `DOCUMENT_INVALID`, a keyspace (from `retrievedSince`,
   * the first `maxDocuments` documents) in which a digest occurs more than
   * once, as a table without a unique digest can hold. A single process
   * decides each copy after the one before it; key ranges backfilled at the
   * same time cannot, so a distributed run over such a keyspace could end
   * with other counts than a single-process run. Free for a table with a
   * valid unique index on `digest` alone (as {@link PgRawDocumentSource.prepare}
   * creates); otherwise one pass over the `(retrieved_at, digest)` index,
   * about 1 s per million documents.
   */
  refuseRepeatedDigests(query: Omit<KeyRangesQuery, 'rangeSize' | 'after'>): ResultAsync<void, BackfillError> {
    return this.#withClient(async (c, raw) => {
      // A table no run could read is refused as such first (a digest column that ignores case finds copies by case too).
      await this.#checkTable(c, raw);
      const unique = (await c.query(sql.selectDigestIsUnique(raw))) as { rows: { unique: boolean }[] };
      if (unique.rows[0]?.unique === true) return;
      const found = (await c.query(sql.selectRepeatedDigest(raw, query))) as {
        rows: { digest: string; copies: string; digests: string }[];
      };
      const first = found.rows[0];
      if (first === undefined) return;
      throw new BackfillError(
        'DOCUMENT_INVALID',
        `${raw.sql}: ${first.digests} digest(s) occur more than once among the documents this run would read, e.g. ${first.digest} (${first.copies} rows). Key ranges backfilled in parallel could not give such copies the outcomes a single process gives them; keep one row per digest (delete the later copies), or run a single-process backfill (statements backfill without --workers).`,
        { context: { table: raw.sql, digest: first.digest, copies: Number(first.copies), digests: Number(first.digests) } },
      );
    });
  }

  /** Ends the pool when the source was built from a connection string. */
  async close(): Promise<void> {
    await this.#store.match(
      ({ pg }) => pg.close(),
      () => undefined,
    );
  }
}

/**
 * `d.retrievedAt` as UTC text PostgreSQL reads as the same instant in any
 * session time zone: a valid Date, or text read as ISO-8601 (UTC when it
 * has no offset; never PostgreSQL's own reading, which takes such a time in
 * the session's zone and accepts `now`, `infinity` or `Jan 1 2024`).
 */
function retrievedAtText(d: NewRawDocument): Result<string, BackfillError> {
  const { retrievedAt } = d;
  if (retrievedAt instanceof Date && !Number.isNaN(retrievedAt.getTime())) {
    const text = readInstant(retrievedAt.toISOString());
    if (text.isOk()) return ok(instantText(text.value));
  }
  if (typeof retrievedAt === 'string') {
    const instant = readInstant(retrievedAt);
    if (instant.isOk()) return ok(instantText(instant.value));
  }
  return err(
    new BackfillError(
      'INVALID_ARGUMENT',
      `document ${d.digest}: retrievedAt ${JSON.stringify(String(retrievedAt))} is not a valid Date or an ISO-8601 time in the years 0001 to 9999 (one without an offset is UTC); nothing was stored.`,
      { context: { digest: d.digest } },
    ),
  );
}
