/**
 * Every SQL statement the statements module sends, named once. Each function
 * takes validated table names ({@link QualifiedName}, quoted for SQL) and the
 * statement's arguments, and returns the text with its parameters in order,
 * so the `$n` numbering and the values sit side by side. The stores only
 * choose which statement to send, on which connection, and when.
 *
 * Functions, catalogs and types are named `pg_catalog.…`, and operators
 * `OPERATOR(pg_catalog.=)`: a session whose `search_path` puts a user's
 * schema before `pg_catalog` would otherwise use that schema's look-alikes
 * (a `hashtext` that gives two processes different run-lock keys, a `count`
 * that lies, a `text` domain that cuts run ids short, a `>=` that lets
 * documents retrieved before `retrievedSince` in). That holds for the operators syntax
 * implies too: `IN (…)` is written `OPERATOR(pg_catalog.=) ANY (…)`, and
 * `CASE x WHEN y` as `CASE WHEN x OPERATOR(pg_catalog.=) y`. An operator so
 * written binds tighter than a comparison but looser than arithmetic, and
 * all alike from the left, so mixed ones are parenthesized. The statements
 * leave the `search_path` as it is: table names the user gives without a
 * schema resolve through it, and the user's triggers and defaults run under
 * it. Syntax needs no prefix: `extract`, `coalesce`, `AT TIME ZONE`, type
 * keywords (`int`, `bigint`, `numeric`, `boolean`), and `unnest` with
 * several arrays in FROM, which PostgreSQL itself turns into calls of
 * `pg_catalog.unnest`; nor does what a unique index or `ORDER BY` compares
 * with (its operator class).
 *
 * @module
 */
import { quoteIdent, type QualifiedName } from '../_internals/sql-identifier.js';
import type { NewRawDocument } from './pg-raw-document-source.js';
import type { PlannedOptions, PlannedStoreTables } from './pg-run-plan.js';
import type {
  BackfillFailure,
  KeyRange,
  KeyRangesQuery,
  RawDocumentCountQuery,
  RawDocumentPageQuery,
  StatementBatch,
  VexClaim,
} from './ports.js';

/** A statement's text and its parameters (`$1`, `$2`, … in order); `pg` takes it as a query config. */
export interface SqlStatement {
  readonly text: string;
  readonly values: readonly unknown[];
}

const sql = (text: string, values: readonly unknown[] = []): SqlStatement => ({ text, values });

// ─── Shared ────────────────────────────────────────────────────────────────

/** Serializes table creation per store (keyed by one of its tables), so concurrent `prepare()` calls do not race. */
export const lockCreation = (key: QualifiedName): SqlStatement =>
  sql('SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1))', [key.sql]);

export const createSchema = (schema: string): SqlStatement => sql(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);

/** A read-only snapshot, so two reads see the same committed state. */
export const beginSnapshot = (): SqlStatement => sql('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');

export const endSnapshot = (): SqlStatement => sql('COMMIT');

// ─── Statements store (PgStatementSink) ────────────────────────────────────

export const createStatementsTable = (statements: QualifiedName): SqlStatement =>
  sql(`CREATE TABLE IF NOT EXISTS ${statements.sql} (
    document_digest pg_catalog.text NOT NULL,
    vulnerability_id pg_catalog.text NOT NULL,
    product_key pg_catalog.text NOT NULL,
    status pg_catalog.text NOT NULL CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['not_affected', 'affected', 'fixed', 'under_investigation']::pg_catalog.text[])),
    justification pg_catalog.text,
    statement pg_catalog.text,
    issued_at pg_catalog.timestamptz,
    format pg_catalog.text NOT NULL,
    run_id pg_catalog.text NOT NULL,
    inserted_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT ${quoteIdent(`${statements.name}_claim_key`)} UNIQUE (document_digest, vulnerability_id, product_key)
  )`);

export const createStatementsIndex = (statements: QualifiedName): SqlStatement =>
  sql(
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${statements.name}_vuln_product_idx`)} ON ${statements.sql} (vulnerability_id, product_key)`,
  );

export const createDocumentsTable = (documents: QualifiedName): SqlStatement =>
  sql(`CREATE TABLE IF NOT EXISTS ${documents.sql} (
    document_digest pg_catalog.text PRIMARY KEY,
    format pg_catalog.text NOT NULL,
    claims integer NOT NULL,
    run_id pg_catalog.text NOT NULL,
    backfilled_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
  )`);

export const createCheckpointsTable = (checkpoints: QualifiedName): SqlStatement =>
  sql(`CREATE TABLE IF NOT EXISTS ${checkpoints.sql} (
    run_id pg_catalog.text PRIMARY KEY,
    cursor_retrieved_at pg_catalog.text,
    cursor_digest pg_catalog.text,
    evaluated bigint NOT NULL,
    backfilled bigint NOT NULL,
    claims_written bigint NOT NULL,
    skipped bigint NOT NULL,
    failures bigint NOT NULL,
    retrieved_since pg_catalog.text,
    force boolean NOT NULL,
    max_documents bigint,
    outcome_sha256 text NOT NULL,
    completed boolean NOT NULL,
    updated_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
  )`);

export const createFailuresTable = (failures: QualifiedName): SqlStatement =>
  sql(`CREATE TABLE IF NOT EXISTS ${failures.sql} (
    run_id pg_catalog.text NOT NULL,
    seq bigint NOT NULL,
    digest pg_catalog.text NOT NULL,
    code pg_catalog.text NOT NULL,
    message pg_catalog.text NOT NULL,
    PRIMARY KEY (run_id, seq)
  )`);

/** Of `digests`, those recorded as backfilled. */
export const selectBackfilledDigests = (documents: QualifiedName, digests: readonly string[]): SqlStatement =>
  sql(`SELECT document_digest FROM ${documents.sql} WHERE document_digest OPERATOR(pg_catalog.=) ANY($1::pg_catalog.text[])`, [digests]);

/** Clears the documents' claims before `force` writes them again. */
export const deleteClaims = (statements: QualifiedName, digests: readonly string[]): SqlStatement =>
  sql(`DELETE FROM ${statements.sql} WHERE document_digest OPERATOR(pg_catalog.=) ANY($1::pg_catalog.text[])`, [digests]);

const CLAIM_COLUMNS = 'document_digest, vulnerability_id, product_key, status, justification, statement, issued_at, format, run_id';

/** COPY of claims in text format; {@link claimsCopyChunks} encodes the rows, in {@link CLAIM_COLUMNS} order. */
export const copyClaims = (statements: QualifiedName): string => `COPY ${statements.sql} (${CLAIM_COLUMNS}) FROM STDIN`;

/** One value in COPY text format: `\N` for null, with backslash, tab, newline and carriage return escaped. */
function copyValue(value: string | undefined): string {
  if (value === undefined) return '\\N';
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
    : value;
}

/** Characters of COPY data per chunk {@link claimsCopyChunks} yields, at least (a row is never split). */
const COPY_CHUNK_CHARS = 1 << 20;

/**
 * The claims as COPY text-format buffers for {@link copyClaims}, about a
 * mebibyte each (few large writes beat many small ones). Never one string
 * for the batch: claims repeating a long statement text (a CSAF
 * remediation naming a group) can add up to more than a JavaScript string
 * holds.
 */
export function* claimsCopyChunks(claims: readonly VexClaim[], runId: string): Generator<Buffer> {
  const run = copyValue(runId);
  let out = '';
  for (const c of claims) {
    out += `${copyValue(c.documentDigest)}\t${copyValue(c.vulnerabilityId)}\t${copyValue(c.productKey)}\t${c.status}\t${copyValue(c.justification)}\t${copyValue(c.statement)}\t${copyValue(c.issuedAt)}\t${copyValue(c.format)}\t${run}\n`;
    if (out.length >= COPY_CHUNK_CHARS) {
      yield Buffer.from(out);
      out = '';
    }
  }
  if (out.length > 0) yield Buffer.from(out);
}

/** The claims, skipping any another writer already stored (the COPY path's fallback). */
export const insertClaims = (statements: QualifiedName, claims: readonly VexClaim[], runId: string): SqlStatement =>
  sql(
    `INSERT INTO ${statements.sql} (${CLAIM_COLUMNS})
     SELECT d, v, p, s, j, st, i, f, $9
       FROM unnest($1::pg_catalog.text[], $2::pg_catalog.text[], $3::pg_catalog.text[], $4::pg_catalog.text[], $5::pg_catalog.text[], $6::pg_catalog.text[], $7::pg_catalog.timestamptz[], $8::pg_catalog.text[])
         AS x(d, v, p, s, j, st, i, f)
     ON CONFLICT (document_digest, vulnerability_id, product_key) DO NOTHING`,
    [
      claims.map((x) => x.documentDigest),
      claims.map((x) => x.vulnerabilityId),
      claims.map((x) => x.productKey),
      claims.map((x) => x.status),
      claims.map((x) => x.justification ?? null),
      claims.map((x) => x.statement ?? null),
      claims.map((x) => x.issuedAt ?? null),
      claims.map((x) => x.format),
      runId,
    ],
  );

/**
 * A batch's documents, new failures and the run's checkpoint in one
 * statement (fewer round trips per batch). Failures are numbered on from
 * the failures the checkpoint counted before this batch.
 */
export function recordBatch(
  tables: { readonly documents: QualifiedName; readonly failures: QualifiedName; readonly checkpoints: QualifiedName },
  batch: StatementBatch,
): SqlStatement {
  const cp = batch.checkpoint;
  const firstFailure = cp.counters.failures - batch.failures.length + 1;
  return sql(
    `WITH docs AS (
       INSERT INTO ${tables.documents.sql} (document_digest, format, claims, run_id)
       SELECT d, f, n, $1 FROM unnest($2::pg_catalog.text[], $3::pg_catalog.text[], $4::int[]) AS x(d, f, n)
       ON CONFLICT (document_digest) DO UPDATE
         SET format = excluded.format, claims = excluded.claims, run_id = excluded.run_id, backfilled_at = pg_catalog.now()
     ), fails AS (
       INSERT INTO ${tables.failures.sql} (run_id, seq, digest, code, message)
       SELECT $1, s, d, c, m FROM unnest($5::bigint[], $6::pg_catalog.text[], $7::pg_catalog.text[], $8::pg_catalog.text[]) AS x(s, d, c, m)
       ON CONFLICT (run_id, seq) DO UPDATE SET digest = excluded.digest, code = excluded.code, message = excluded.message
     )
     INSERT INTO ${tables.checkpoints.sql}
       (run_id, cursor_retrieved_at, cursor_digest, evaluated, backfilled, claims_written, skipped, failures,
        retrieved_since, force, max_documents, outcome_sha256, completed, updated_at)
     VALUES ($1, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, pg_catalog.now())
     ON CONFLICT (run_id) DO UPDATE SET
       cursor_retrieved_at = excluded.cursor_retrieved_at, cursor_digest = excluded.cursor_digest,
       evaluated = excluded.evaluated, backfilled = excluded.backfilled, claims_written = excluded.claims_written,
       skipped = excluded.skipped, failures = excluded.failures, outcome_sha256 = excluded.outcome_sha256,
       completed = excluded.completed, updated_at = pg_catalog.now()`,
    [
      batch.runId,
      batch.documents.map((d) => d.digest),
      batch.documents.map((d) => d.format),
      batch.documents.map((d) => d.claims.length),
      batch.failures.map((_, i) => firstFailure + i),
      batch.failures.map((f) => f.digest),
      batch.failures.map((f) => f.code),
      batch.failures.map((f) => f.message),
      cp.cursor?.retrievedAt ?? null,
      cp.cursor?.digest ?? null,
      cp.counters.evaluated,
      cp.counters.backfilled,
      cp.counters.claimsWritten,
      cp.counters.skipped,
      cp.counters.failures,
      cp.options.retrievedSince,
      cp.options.force,
      cp.options.maxDocuments,
      cp.outcomeSha256,
      cp.completed,
    ],
  );
}

/** The checkpoints of the runs `runIds` (one run, or every range of a distributed run, in one round trip). */
export const selectCheckpoints = (checkpoints: QualifiedName, runIds: readonly string[]): SqlStatement =>
  sql(`SELECT * FROM ${checkpoints.sql} WHERE run_id OPERATOR(pg_catalog.=) ANY($1::pg_catalog.text[])`, [runIds]);

/** The recorded failures of the runs `runIds`, each run's in the order they were recorded. */
export const selectFailures = (failures: QualifiedName, runIds: readonly string[]): SqlStatement =>
  sql(
    `SELECT run_id, digest, code, message FROM ${failures.sql} WHERE run_id OPERATOR(pg_catalog.=) ANY($1::pg_catalog.text[]) ORDER BY run_id, seq`,
    [runIds],
  );

/**
 * Whether a key range of the planned run `runId` has a checkpoint: a run id
 * `<runId>#range-<n>` (see `rangeCheckpointId`), which only a plan's ranges take.
 */
export const selectRangeCheckpointExists = (checkpoints: QualifiedName, runId: string): SqlStatement =>
  sql(
    `SELECT EXISTS (SELECT 1 FROM ${checkpoints.sql}
                     WHERE pg_catalog.starts_with(run_id, $1::pg_catalog.text OPERATOR(pg_catalog.||) '#range-')
                       AND pg_catalog.substr(run_id, pg_catalog.length($1::pg_catalog.text) OPERATOR(pg_catalog.+) 8) OPERATOR(pg_catalog.~) '^[0-9]+$') AS planned`,
    [runId],
  );

// ─── Run lock (lockPgRun) ──────────────────────────────────────────────────

/**
 * The two 32-bit keys of a run's lock: the checkpoints table (so two stores
 * in one database never block each other) and the run id.
 */
const RUN_LOCK_KEYS = 'pg_catalog.hashtext($1), pg_catalog.hashtext($2)';

/**
 * Takes the lock, saying which session holds it now (see {@link selectRunLockKept}):
 * its backend pid, and when that backend started (exact, as text), since a
 * later session may be given the same pid.
 */
export const tryRunLock = (namespace: string, runId: string): SqlStatement =>
  sql(
    `SELECT pg_catalog.pg_try_advisory_lock(${RUN_LOCK_KEYS}) AS ok, pg_catalog.pg_backend_pid() AS pid,
            (SELECT extract(epoch FROM backend_start)::pg_catalog.text FROM pg_catalog.pg_stat_activity WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()) AS started`,
    [namespace, runId],
  );

export const releaseRunLock = (namespace: string, runId: string): SqlStatement =>
  sql(`SELECT pg_catalog.pg_advisory_unlock(${RUN_LOCK_KEYS})`, [namespace, runId]);

/**
 * The namespace of a run's commit lock, beside its run lock: a batch holds it
 * (transaction-level) from its lock check to its commit, and a new holder of
 * the run waits for it before reading the checkpoint, so a batch that passed
 * its check just before its lock's connection was cut off ends first.
 */
export const runCommitNamespace = (namespace: string): string => `${namespace}#commit`;

/** Takes the run's commit lock until the end of the transaction (see {@link runCommitNamespace}). */
export const lockRunCommit = (namespace: string, runId: string): SqlStatement =>
  sql(`SELECT pg_catalog.pg_advisory_xact_lock(${RUN_LOCK_KEYS})`, [runCommitNamespace(namespace), runId]);

/** How long a new holder of a run waits for the batch of its previous holder to end. */
export const RUN_COMMIT_WAIT_MS = 60_000;

/** Bounds the wait for the run's commit lock (`ms`, a whole number) in the current transaction. */
export const setRunCommitWait = (ms: number): SqlStatement => sql(`SET LOCAL lock_timeout = ${Math.trunc(ms)}`);

/** The rows of pg_locks `l` that hold the lock `(namespace $1, runId $2)`. */
const RUN_LOCK_HELD = `l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted AND l.objsubid OPERATOR(pg_catalog.=) 2
        AND l.database OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
        AND l.classid::bigint OPERATOR(pg_catalog.=) (pg_catalog.hashtext($1)::bigint OPERATOR(pg_catalog.&) 4294967295)
        AND l.objid::bigint OPERATOR(pg_catalog.=) (pg_catalog.hashtext($2)::bigint OPERATOR(pg_catalog.&) 4294967295)`;

/** The session holding the lock `(namespace, runId)`, from pg_locks and pg_stat_activity. */
export const selectRunLockHolder = (namespace: string, runId: string): SqlStatement =>
  sql(
    `SELECT a.pid, a.application_name, pg_catalog.host(a.client_addr) AS client_addr, a.client_hostname, a.backend_start
       FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
      WHERE ${RUN_LOCK_HELD}`,
    [namespace, runId],
  );

/**
 * Whether the session that took the lock `(namespace, runId)` (backend `pid`,
 * started at `started`, from {@link tryRunLock}) still holds it: it may have
 * been cut off since, and a new session given the same pid may hold it now.
 * A role that could not read its own session's start (`started` null)
 * compares the pid alone.
 */
export const selectRunLockKept = (namespace: string, runId: string, pid: number, started: string | null): SqlStatement =>
  sql(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
                     WHERE ${RUN_LOCK_HELD} AND l.pid OPERATOR(pg_catalog.=) $3
                       AND ($4::numeric IS NULL OR extract(epoch FROM a.backend_start) OPERATOR(pg_catalog.=) $4::numeric)) AS kept`,
    [namespace, runId, pid, started],
  );

// ─── Raw documents (PgRawDocumentSource) ───────────────────────────────────

export const createRawDocumentsTable = (raw: QualifiedName): SqlStatement =>
  sql(
    `CREATE TABLE IF NOT EXISTS ${raw.sql} (digest pg_catalog.text PRIMARY KEY, retrieved_at pg_catalog.timestamptz NOT NULL, content pg_catalog.text NOT NULL)`,
  );

export const createRawDocumentsIndex = (raw: QualifiedName): SqlStatement =>
  sql(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${raw.name}_retrieved_at_digest_idx`)} ON ${raw.sql} (retrieved_at, digest)`);

/** New documents; an existing digest is left unchanged. */
/** `times`: each document's `retrievedAt` as UTC ISO-8601 text, in order. */
export const insertRawDocuments = (raw: QualifiedName, documents: readonly NewRawDocument[], times: readonly string[]): SqlStatement =>
  sql(
    `INSERT INTO ${raw.sql} (digest, retrieved_at, content)
     SELECT * FROM unnest($1::pg_catalog.text[], $2::pg_catalog.timestamptz[], $3::pg_catalog.text[])
     ON CONFLICT (digest) DO NOTHING`,
    [documents.map((d) => d.digest), times, documents.map((d) => d.content)],
  );

/** Microsecond-exact UTC text of a timestamptz, for cursors. */
const CURSOR_TEXT = `pg_catalog.to_char(retrieved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Times CURSOR_TEXT cannot write down: to_char gives NULL for ±infinity and drops the era of years BC. */
const UNPLACEABLE = `(NOT pg_catalog.isfinite(retrieved_at) OR retrieved_at OPERATOR(pg_catalog.<) '0001-01-01 00:00:00+00'::pg_catalog.timestamptz)`;

/**
 * A raw document with such a time, if there is one: such times sort first or
 * last, so reading the two ends of the `(retrieved_at, digest)` index finds
 * one without a scan; only then are they counted.
 */
export const selectUnplaceableDocument = (raw: QualifiedName): SqlStatement =>
  sql(
    `WITH edges AS (
       (SELECT digest, retrieved_at FROM ${raw.sql} ORDER BY retrieved_at, digest LIMIT 1)
       UNION ALL
       (SELECT digest, retrieved_at FROM ${raw.sql} ORDER BY retrieved_at DESC, digest DESC LIMIT 1))
     SELECT digest, retrieved_at::pg_catalog.text AS shown, (SELECT pg_catalog.count(*) FROM ${raw.sql} WHERE ${UNPLACEABLE}) AS n
       FROM edges WHERE ${UNPLACEABLE} LIMIT 1`,
  );

/** The WHERE clause shared by pages, counts and key ranges; pushes its parameters onto `values`. */
function rawDocumentsWhere(query: RawDocumentCountQuery, values: unknown[]): string {
  const clauses: string[] = [];
  if (query.retrievedSince !== undefined) {
    values.push(query.retrievedSince.toISOString());
    clauses.push(`retrieved_at OPERATOR(pg_catalog.>=) $${values.length}::pg_catalog.timestamptz`);
  }
  if (query.after !== undefined) {
    values.push(query.after.retrievedAt, query.after.digest);
    clauses.push(
      `(retrieved_at, digest) OPERATOR(pg_catalog.>) ($${values.length - 1}::pg_catalog.timestamptz, $${values.length}::pg_catalog.text)`,
    );
  }
  if (query.until !== undefined) {
    values.push(query.until.retrievedAt, query.until.digest);
    clauses.push(
      `(retrieved_at, digest) OPERATOR(pg_catalog.<=) ($${values.length - 1}::pg_catalog.timestamptz, $${values.length}::pg_catalog.text)`,
    );
  }
  return clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
}

/** The `columns` of `table` (the raw table's `digest`, `content` and `retrieved_at`, a documents table's `document_digest`): each one's type (a domain's base type) as shown, its internal name when it is PostgreSQL's own (`text`, `varchar`, `jsonb`), whatever the search_path, and its collation when that is nondeterministic (one that finds `A` and `a` equal). */
export const selectColumnTypes = (table: QualifiedName, columns: readonly string[]): SqlStatement =>
  sql(
    `SELECT a.attname AS name, b.oid::pg_catalog.regtype::pg_catalog.text AS type,
            CASE WHEN b.typnamespace OPERATOR(pg_catalog.=) 'pg_catalog'::pg_catalog.regnamespace THEN b.typname::pg_catalog.text END AS builtin,
            CASE WHEN NOT co.collisdeterministic THEN co.oid::pg_catalog.regcollation::pg_catalog.text END AS nondeterministic
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
       LEFT JOIN pg_catalog.pg_collation co ON co.oid OPERATOR(pg_catalog.=) a.attcollation
       JOIN pg_catalog.pg_type b ON b.oid OPERATOR(pg_catalog.=) (CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN t.typbasetype ELSE t.oid END)
      WHERE a.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND a.attname OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.name[]) AND NOT a.attisdropped`,
    [table.sql, columns],
  );

/**
 * How the page query reads a `content` column: what it selects, how it
 * measures that in bytes, and the most bytes node-postgres can receive as
 * one string (an SQL expression of the string limit `$max`).
 */
export interface RawContentSql {
  readonly select: string;
  readonly bytes: string;
  readonly maxBytes: (max: string) => string;
}

/**
 * How the page query reads a `content` column of `type`, measured as
 * node-postgres receives it. For text and bytea PostgreSQL reads the length
 * from the TOAST header without decompressing. A bytea arrives as text: with
 * `bytea_output = hex` (the default) `\x` and 2 characters per byte; with
 * `escape` up to 4 per byte, so its limit follows the session's setting.
 * jsonb has no stored text length, so it is selected as text (serialized
 * once, as its output would be anyway) and measured in memory. json and
 * jsonb arrive as text, so they are parsed where they are normalized (on a
 * thread, if any), not by node-postgres on the reading thread.
 */
export const rawContentSql = (type: string | undefined): RawContentSql => {
  if (type === 'bytea') {
    return {
      select: 'content',
      bytes: 'pg_catalog.octet_length(content)',
      maxBytes: (max) =>
        `CASE WHEN pg_catalog.current_setting('bytea_output') OPERATOR(pg_catalog.=) 'hex' THEN (${max} OPERATOR(pg_catalog.-) 2) OPERATOR(pg_catalog./) 2 ELSE ${max} OPERATOR(pg_catalog./) 4 END`,
    };
  }
  const maxBytes = (max: string): string => max;
  if (type === 'jsonb' || type === 'json')
    return { select: 'content::pg_catalog.text', bytes: 'pg_catalog.octet_length(content)', maxBytes };
  return { select: 'content', bytes: 'pg_catalog.octet_length(content::pg_catalog.text)', maxBytes };
};

/**
 * The next page in `(retrieved_at, digest)` order: keyset, never OFFSET.
 * Each document comes with its `content_bytes` and the `content_max` it was
 * held to; content over that (at most `maxString` characters as it
 * arrives) is sent as NULL, never read. With `query.maxBytes`, the page
 * ends before the document whose content would take the page's readable
 * content over it, but always holds its first document: the sizes come
 * from the page's keys (a text's or bytea's length is in its TOAST header),
 * a running sum in keyset order keeps the documents within the budget, and
 * only their content is sent. Content passes through the window as a TOAST
 * pointer, so a document past the budget is not decompressed or read
 * (a jsonb one is serialized to be measured, as it always was).
 */
export function selectRawPage(raw: QualifiedName, query: RawDocumentPageQuery, content: RawContentSql, maxString: number): SqlStatement {
  const values: unknown[] = [];
  const where = rawDocumentsWhere(query, values);
  values.push(query.limit, maxString, query.maxBytes ?? null);
  const [limit, budget] = [`$${values.length - 2}`, `$${values.length}::bigint`];
  const maxBytes = content.maxBytes(`$${values.length - 1}::int`);
  const keyOrder = 'ORDER BY retrieved_at, digest ROWS UNBOUNDED PRECEDING';
  return sql(
    `SELECT digest, retrieved_at, cursor_at, CASE WHEN content_bytes OPERATOR(pg_catalog.<=) content_max THEN content END AS content,
            content_bytes, content_max, unplaceable
       FROM (SELECT page.*,
                    pg_catalog.row_number() OVER (${keyOrder}) AS n,
                    pg_catalog.sum(CASE WHEN content_bytes OPERATOR(pg_catalog.<=) content_max THEN content_bytes ELSE 0 END) OVER (${keyOrder}) AS running
               FROM (SELECT raw_page.*, ${content.bytes} AS content_bytes, ${maxBytes} AS content_max
                       FROM (SELECT digest, retrieved_at, ${CURSOR_TEXT} AS cursor_at, ${content.select} AS content,
                                    CASE WHEN ${UNPLACEABLE} THEN retrieved_at::pg_catalog.text END AS unplaceable
                               FROM ${raw.sql} ${where} ORDER BY retrieved_at, digest LIMIT ${limit}) raw_page) page) sized
      WHERE n OPERATOR(pg_catalog.=) 1 OR ${budget} IS NULL OR running OPERATOR(pg_catalog.<=) ${budget}
      ORDER BY retrieved_at, digest`,
    values,
  );
}

export function countRawDocuments(raw: QualifiedName, query: RawDocumentCountQuery): SqlStatement {
  const values: unknown[] = [];
  const where = rawDocumentsWhere(query, values);
  return sql(`SELECT pg_catalog.count(*) AS n FROM ${raw.sql} ${where}`, values);
}

/** The last document of every `rangeSize` (and the very last), numbered, in one pass over the index. */
export function selectKeyRangeEnds(raw: QualifiedName, query: KeyRangesQuery): SqlStatement {
  const values: unknown[] = [];
  const where = rawDocumentsWhere(
    {
      ...(query.retrievedSince === undefined ? {} : { retrievedSince: query.retrievedSince }),
      ...(query.after === undefined ? {} : { after: query.after }),
      ...(query.until === undefined ? {} : { until: query.until }),
    },
    values,
  );
  values.push(query.maxDocuments ?? null, query.rangeSize);
  return sql(
    `WITH docs AS (
       SELECT retrieved_at, digest FROM ${raw.sql} ${where} ORDER BY retrieved_at, digest LIMIT $${values.length - 1}
     ), numbered AS (
       SELECT retrieved_at, digest, pg_catalog.row_number() OVER (ORDER BY retrieved_at, digest) AS n, pg_catalog.count(*) OVER () AS total FROM docs
     )
     SELECT n, ${CURSOR_TEXT} AS cursor_at, digest FROM numbered
      WHERE (n OPERATOR(pg_catalog.%) $${values.length}) OPERATOR(pg_catalog.=) 0 OR n OPERATOR(pg_catalog.=) total ORDER BY n`,
    values,
  );
}

/**
 * Whether no digest can repeat in the table: it has a unique index on
 * `digest` alone that is whole (no WHERE), valid and ready (a failed
 * `CREATE UNIQUE INDEX CONCURRENTLY` leaves an invalid one that vouches for
 * nothing), and no table inherits from it (a child's rows are read too, but
 * the parent's index does not cover them; a partitioned table's index does).
 */
export const selectDigestIsUnique = (raw: QualifiedName): SqlStatement =>
  sql(
    `SELECT EXISTS (
       SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0]
        WHERE i.indrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND i.indisunique AND i.indisvalid AND i.indisready AND i.indpred IS NULL
          AND i.indnkeyatts OPERATOR(pg_catalog.=) 1 AND a.attname OPERATOR(pg_catalog.=) 'digest'
     ) AND NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) h.inhparent
        WHERE h.inhparent OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND c.relkind OPERATOR(pg_catalog.<>) 'p'
     ) AS "unique"`,
    [raw.sql],
  );

/**
 * A digest that occurs more than once among the documents a run would read
 * (the first in digest order), with its number of copies and how many
 * digests repeat: one pass over the `(retrieved_at, digest)` index.
 */
export function selectRepeatedDigest(raw: QualifiedName, query: Omit<KeyRangesQuery, 'rangeSize' | 'after'>): SqlStatement {
  const values: unknown[] = [];
  const where = rawDocumentsWhere(query.retrievedSince === undefined ? {} : { retrievedSince: query.retrievedSince }, values);
  values.push(query.maxDocuments ?? null);
  return sql(
    `WITH docs AS (
       SELECT digest FROM ${raw.sql} ${where} ORDER BY retrieved_at, digest LIMIT $${values.length}
     ), repeated AS (
       SELECT digest, pg_catalog.count(*) AS copies FROM docs GROUP BY digest HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1
     )
     SELECT digest, copies, pg_catalog.count(*) OVER () AS digests FROM repeated ORDER BY digest LIMIT 1`,
    values,
  );
}

// ─── Distributed run plans (PgBackfillPlanStore) ───────────────────────────

export const createRunsTable = (runs: QualifiedName): SqlStatement =>
  sql(`CREATE TABLE IF NOT EXISTS ${runs.sql} (
    run_id pg_catalog.text PRIMARY KEY,
    retrieved_since pg_catalog.text,
    force boolean NOT NULL,
    max_documents bigint,
    stop_on_error boolean NOT NULL,
    batch_size integer NOT NULL,
    range_size integer NOT NULL,
    documents bigint NOT NULL,
    planned_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    store_tables pg_catalog.jsonb,
    jobs_schema pg_catalog.text,
    kit_version pg_catalog.text,
    max_claim_bytes bigint
  )`);

/** A runs table created before plans recorded their store's tables gets the column (its old plans keep NULL). */
export const addStoreTablesColumn = (runs: QualifiedName): SqlStatement =>
  sql(`ALTER TABLE ${runs.sql} ADD COLUMN IF NOT EXISTS store_tables pg_catalog.jsonb`);

/** A runs table created before plans recorded their jobs schema gets the column (its old plans keep NULL). */
export const addJobsSchemaColumn = (runs: QualifiedName): SqlStatement =>
  sql(`ALTER TABLE ${runs.sql} ADD COLUMN IF NOT EXISTS jobs_schema pg_catalog.text`);

/** A runs table created before plans recorded the kit version that planned them gets the column (its old plans keep NULL). */
export const addKitVersionColumn = (runs: QualifiedName): SqlStatement =>
  sql(`ALTER TABLE ${runs.sql} ADD COLUMN IF NOT EXISTS kit_version pg_catalog.text`);

/** A runs table created before plans recorded their cap on a document's claim bytes gets the column (its old plans keep NULL, the default). */
export const addMaxClaimBytesColumn = (runs: QualifiedName): SqlStatement =>
  sql(`ALTER TABLE ${runs.sql} ADD COLUMN IF NOT EXISTS max_claim_bytes bigint`);

export const createRangesTable = (ranges: QualifiedName): SqlStatement =>
  sql(`CREATE TABLE IF NOT EXISTS ${ranges.sql} (
    run_id pg_catalog.text NOT NULL,
    n integer NOT NULL,
    after_at pg_catalog.text,
    after_digest pg_catalog.text,
    through_at pg_catalog.text NOT NULL,
    through_digest pg_catalog.text NOT NULL,
    documents integer NOT NULL,
    started_at pg_catalog.timestamptz,
    stop_digest pg_catalog.text,
    stop_code pg_catalog.text,
    stop_message pg_catalog.text,
    PRIMARY KEY (run_id, n)
  )`);

export const createWorkersTable = (workers: QualifiedName): SqlStatement =>
  sql(`CREATE TABLE IF NOT EXISTS ${workers.sql} (
    worker_id pg_catalog.text PRIMARY KEY,
    host pg_catalog.text NOT NULL,
    pid integer NOT NULL,
    started_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    seen_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
  )`);

/** The columns of each of `tables` (quoted names) that exists, by its name as given. */
export const selectExistingTableColumns = (tables: readonly string[]): SqlStatement =>
  sql(
    `SELECT t.name, pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY a.attnum) AS columns
       FROM pg_catalog.unnest($1::pg_catalog.text[]) AS t(name)
       JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(t.name)
      WHERE a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
      GROUP BY t.name`,
    [tables],
  );

/** Whether each plan table exists (`to_regclass`: no error, and no lock, when one does not). */
export const selectPlanTablesExist = (runs: QualifiedName, ranges: QualifiedName, workers: QualifiedName): SqlStatement =>
  sql(
    'SELECT pg_catalog.to_regclass($1) IS NOT NULL AS runs, pg_catalog.to_regclass($2) IS NOT NULL AS ranges, pg_catalog.to_regclass($3) IS NOT NULL AS workers',
    [runs.sql, ranges.sql, workers.sql],
  );

/** One planner per run id at a time (transaction-scoped). */
export const lockPlan = (runs: QualifiedName, runId: string): SqlStatement =>
  sql('SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1), pg_catalog.hashtext($2))', [runs.sql, runId]);

export const insertRun = (
  runs: QualifiedName,
  runId: string,
  options: PlannedOptions,
  documents: number,
  tables: PlannedStoreTables,
  jobsSchema: string | null,
  kitVersion: string,
): SqlStatement =>
  sql(
    `INSERT INTO ${runs.sql} (run_id, retrieved_since, force, max_documents, stop_on_error, batch_size, range_size, documents, store_tables, jobs_schema, kit_version, max_claim_bytes)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      runId,
      options.retrievedSince,
      options.force,
      options.maxDocuments,
      options.stopOnError,
      options.batchSize,
      options.rangeSize,
      documents,
      JSON.stringify(tables),
      jobsSchema,
      kitVersion,
      options.maxClaimBytesPerDocument,
    ],
  );

/** The ranges, numbered from 1 in keyspace order. */
export const insertRanges = (ranges: QualifiedName, runId: string, list: readonly KeyRange[]): SqlStatement =>
  sql(
    `INSERT INTO ${ranges.sql} (run_id, n, after_at, after_digest, through_at, through_digest, documents)
     SELECT $1, n, a, ad, th, td, d FROM unnest($2::int[], $3::pg_catalog.text[], $4::pg_catalog.text[], $5::pg_catalog.text[], $6::pg_catalog.text[], $7::int[]) AS x(n, a, ad, th, td, d)`,
    [
      runId,
      list.map((_, i) => i + 1),
      list.map((r) => r.after?.retrievedAt ?? null),
      list.map((r) => r.after?.digest ?? null),
      list.map((r) => r.through.retrievedAt),
      list.map((r) => r.through.digest),
      list.map((r) => r.documents),
    ],
  );

export const selectRun = (runs: QualifiedName, runId: string): SqlStatement =>
  sql(`SELECT * FROM ${runs.sql} WHERE run_id OPERATOR(pg_catalog.=) $1`, [runId]);

export const selectRanges = (ranges: QualifiedName, runId: string): SqlStatement =>
  sql(
    `SELECT n, after_at, after_digest, through_at, through_digest, documents FROM ${ranges.sql} WHERE run_id OPERATOR(pg_catalog.=) $1 ORDER BY n`,
    [runId],
  );

/** A replan retries stopped ranges: their recorded stops are cleared. */
export const clearRangeStops = (ranges: QualifiedName, runId: string): SqlStatement =>
  sql(`UPDATE ${ranges.sql} SET stop_digest = NULL, stop_code = NULL, stop_message = NULL WHERE run_id OPERATOR(pg_catalog.=) $1`, [runId]);

/** Notes when a worker took the range (the first it takes of a run), unless one did before. */
export const markRangeStarted = (ranges: QualifiedName, runId: string, n: number): SqlStatement =>
  sql(
    `UPDATE ${ranges.sql} SET started_at = coalesce(started_at, pg_catalog.now()) WHERE run_id OPERATOR(pg_catalog.=) $1 AND n OPERATOR(pg_catalog.=) $2`,
    [runId, n],
  );

export const setRangeStop = (ranges: QualifiedName, runId: string, n: number, failure: BackfillFailure | null): SqlStatement =>
  sql(
    `UPDATE ${ranges.sql} SET stop_digest = $3, stop_code = $4, stop_message = $5 WHERE run_id OPERATOR(pg_catalog.=) $1 AND n OPERATOR(pg_catalog.=) $2`,
    [runId, n, failure?.digest ?? null, failure?.code ?? null, failure?.message ?? null],
  );

export const selectFirstStop = (ranges: QualifiedName, runId: string): SqlStatement =>
  sql(
    `SELECT n, stop_digest, stop_code, stop_message FROM ${ranges.sql} WHERE run_id OPERATOR(pg_catalog.=) $1 AND stop_digest IS NOT NULL ORDER BY n LIMIT 1`,
    [runId],
  );

export const selectFirstStarted = (ranges: QualifiedName, runId: string): SqlStatement =>
  sql(`SELECT pg_catalog.min(started_at) AS at FROM ${ranges.sql} WHERE run_id OPERATOR(pg_catalog.=) $1`, [runId]);

/** A worker's heartbeat. */
export const upsertWorker = (workers: QualifiedName, workerId: string, host: string, pid: number): SqlStatement =>
  sql(
    `INSERT INTO ${workers.sql} (worker_id, host, pid) VALUES ($1, $2, $3) ON CONFLICT (worker_id) DO UPDATE SET seen_at = pg_catalog.now()`,
    [workerId, host, pid],
  );

export const deleteWorker = (workers: QualifiedName, workerId: string): SqlStatement =>
  sql(`DELETE FROM ${workers.sql} WHERE worker_id OPERATOR(pg_catalog.=) $1`, [workerId]);

export const countWorkersAlive = (workers: QualifiedName, withinSeconds: number): SqlStatement =>
  sql(
    `SELECT pg_catalog.count(*) AS n FROM ${workers.sql} WHERE seen_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))`,
    [withinSeconds],
  );

// ─── Job engine (RangeJobQueue, on pg-boss's tables) ───────────────────────

/** Jobs of `queue` (of run `runId`, unless `null`) still queued, waiting for a retry, or running (pg-boss's job states before `completed`). */
export const countPendingJobs = (schema: string, queue: string, runId: string | null): SqlStatement =>
  sql(
    `SELECT pg_catalog.count(*)::int AS n FROM ${quoteIdent(schema)}.job
      WHERE name OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.<) 'completed' AND ($2::pg_catalog.text IS NULL OR (data OPERATOR(pg_catalog.->>) 'runId') OPERATOR(pg_catalog.=) $2)`,
    [queue, runId],
  );

/**
 * Jobs of `queue` still queued, waiting for a retry, or running, counted
 * by their run (`runId` null for a job that names none): a whole-queue
 * worker tells apart the runs it may work.
 */
export const countPendingJobsByRun = (schema: string, queue: string): SqlStatement =>
  sql(
    `SELECT data OPERATOR(pg_catalog.->>) 'runId' AS "runId", pg_catalog.count(*)::int AS n FROM ${quoteIdent(schema)}.job
      WHERE name OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.<) 'completed'
      GROUP BY 1`,
    [queue],
  );

/**
 * The runs with jobs still queued, waiting for a retry or running in the
 * other statement range queues of `schema` than `queue` (`prefix`, the
 * start of every such queue's name): runs planned with another runs
 * table (run `runId` only, unless `null`). Each queue (at most 5) with its
 * run ids (at most 10).
 */
export const selectPendingRunsOfOtherQueues = (schema: string, queue: string, prefix: string, runId: string | null): SqlStatement =>
  sql(
    `SELECT name AS queue,
            (pg_catalog.array_agg(DISTINCT data OPERATOR(pg_catalog.->>) 'runId' ORDER BY data OPERATOR(pg_catalog.->>) 'runId'))[1:10] AS "runIds"
       FROM ${quoteIdent(schema)}.job
      WHERE pg_catalog.starts_with(name, $2::pg_catalog.text) AND name OPERATOR(pg_catalog.<>) $1 AND state OPERATOR(pg_catalog.<) 'completed'
        AND ($3::pg_catalog.text IS NULL OR (data OPERATOR(pg_catalog.->>) 'runId') OPERATOR(pg_catalog.=) $3)
      GROUP BY name ORDER BY name LIMIT 5`,
    [queue, prefix, runId],
  );

/**
 * The tables of this database shaped like a runs table (their `run_id`,
 * `batch_size` and `range_size` columns), as schema and name: the tables a
 * range queue's name can be made from.
 */
export const selectRunsTableCandidates = (): SqlStatement =>
  sql(
    `SELECT n.nspname AS schema, c.relname AS name
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::pg_catalog."char"[])
        AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute a
              WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND NOT a.attisdropped
                AND a.attname OPERATOR(pg_catalog.=) ANY (ARRAY['run_id', 'batch_size', 'range_size']::pg_catalog.name[])) OPERATOR(pg_catalog.=) 3`,
    [],
  );

/**
 * The store tables recorded by the plan of `runId` in `runs`, a table of
 * {@link selectRunsTableCandidates} (schema and name as the catalog gives
 * them): one row when it holds a plan of the run, with `store_tables` null
 * for a plan that recorded none (read through `to_jsonb`, so a runs table
 * created before plans recorded them answers too).
 */
export const selectPlanStoreTablesIn = (schema: string, name: string, runId: string): SqlStatement =>
  sql(
    `SELECT pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.->) 'store_tables' AS store_tables FROM ${quoteIdent(schema)}.${quoteIdent(name)} r
      WHERE r.run_id OPERATOR(pg_catalog.=) $1`,
    [runId],
  );

/**
 * Lets the jobs of `queue` run as long as they need: pg-boss fails a job
 * that has been active longer than its `expire_seconds` (at most 24 hours
 * through its API) even while its worker still sends heartbeats, so a key
 * range that took longer was retried under the live worker's run lock and
 * could fail for good. Heartbeats already hand a dead worker's job on. The
 * jobs already enqueued and not settled get the same.
 */
export const unlimitedJobTime = (schema: string, queue: string): SqlStatement =>
  sql(
    `WITH q AS (
       UPDATE ${quoteIdent(schema)}.queue SET expire_seconds = $2
        WHERE name OPERATOR(pg_catalog.=) $1 AND expire_seconds OPERATOR(pg_catalog.<) $2 RETURNING name
     )
     UPDATE ${quoteIdent(schema)}.job SET expire_seconds = $2
      WHERE name OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.<) 'completed' AND expire_seconds OPERATOR(pg_catalog.<) $2`,
    [queue, MAX_JOB_SECONDS],
  );

/** The longest time a range job may run: PostgreSQL's largest `integer` of seconds (68 years). */
export const MAX_JOB_SECONDS = 2_147_483_647;

/**
 * Puts a job claimed at attempt `retryCount` back in `queue` as if it was
 * never claimed, as pg-boss's own `restore` does for a job its worker
 * could not start: with no `started_on`, its next claim is not counted as
 * a retry. Fenced to the claim, as pg-boss fences settling a job. With
 * `behindOthers`, it goes behind the jobs of the default priority (pg-boss
 * hands out higher priorities first) while staying ready for any worker at
 * once: a worker that leaves a run's jobs to others then reaches other
 * runs' jobs first, and the workers that take that run get it without
 * delay.
 */
export const releaseClaimedJob = (schema: string, queue: string, id: string, retryCount: number, behindOthers = false): SqlStatement =>
  sql(
    `UPDATE ${quoteIdent(schema)}.job SET state = 'created', started_on = NULL, heartbeat_on = NULL,
            priority = CASE WHEN $4::pg_catalog.bool THEN LEAST(priority, -1) ELSE priority END
      WHERE name OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2::pg_catalog.uuid AND state OPERATOR(pg_catalog.=) 'active' AND retry_count OPERATOR(pg_catalog.=) $3`,
    [queue, id, retryCount, behindOthers],
  );

/** Whether `queue` holds any job (of run `runId`, unless `null`), in any state: planning enqueues a run's jobs in one statement. */
export const selectRunHasJobs = (schema: string, queue: string, runId: string | null): SqlStatement =>
  sql(
    `SELECT EXISTS (SELECT 1 FROM ${quoteIdent(schema)}.job
                     WHERE name OPERATOR(pg_catalog.=) $1 AND ($2::pg_catalog.text IS NULL OR (data OPERATOR(pg_catalog.->>) 'runId') OPERATOR(pg_catalog.=) $2)) AS found`,
    [queue, runId],
  );

/**
 * The ranges of run `runId` whose latest job in `queue` failed: for good
 * (`failed`, its retries ran out) or for now (waiting for a retry, or
 * running again after a failure), with the attempts failed so far, the
 * attempts allowed, and the last error. A replan enqueues a newer job for
 * the range, which then is its latest. pg-boss counts a job's claims after
 * the first in `retry_count`, so an active job (or one a stopping worker
 * handed back untried, `created` again) has failed `retry_count` times, a
 * failed or retrying one once more.
 */
export const selectFailingRangeJobs = (schema: string, queue: string, runId: string): SqlStatement =>
  sql(
    `SELECT n, state, failed_attempts AS "failedAttempts", attempts, message FROM (
       SELECT DISTINCT ON (data OPERATOR(pg_catalog.->>) 'n') (data OPERATOR(pg_catalog.->>) 'n')::int AS n, state::pg_catalog.text AS state,
         retry_count OPERATOR(pg_catalog.+) CASE WHEN state::pg_catalog.text OPERATOR(pg_catalog.=) ANY (ARRAY['active', 'created']) THEN 0 ELSE 1 END AS failed_attempts,
         retry_limit OPERATOR(pg_catalog.+) 1 AS attempts,
         coalesce(output OPERATOR(pg_catalog.->>) 'message', (output OPERATOR(pg_catalog.->) 'value') OPERATOR(pg_catalog.->>) 'message', output::pg_catalog.text, '') AS message
       FROM ${quoteIdent(schema)}.job WHERE name OPERATOR(pg_catalog.=) $1 AND (data OPERATOR(pg_catalog.->>) 'runId') OPERATOR(pg_catalog.=) $2
       ORDER BY data OPERATOR(pg_catalog.->>) 'n', created_on DESC
     ) latest
      WHERE state OPERATOR(pg_catalog.=) ANY (ARRAY['failed', 'retry']) OR (state OPERATOR(pg_catalog.=) ANY (ARRAY['active', 'created']) AND failed_attempts OPERATOR(pg_catalog.>) 0) ORDER BY n`,
    [queue, runId],
  );
