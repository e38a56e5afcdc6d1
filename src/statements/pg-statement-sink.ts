/**
 * The statements store in PostgreSQL: claims, backfilled documents, run
 * checkpoints and failures, written one transaction per batch.
 *
 * @module
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errAsync, Result, ResultAsync } from 'neverthrow';
import copyStreams from 'pg-copy-streams';
import type { BackfillError } from '../errors.js';
import { inTransaction, PgHandle, pgErrorToBackfill, type PgClientLike, type PgSource } from '../_internals/pg.js';
import { parseQualifiedName, quoteIdent, type QualifiedName } from '../_internals/sql-identifier.js';
import { DEFAULT_CHECKPOINTS_TABLE, DEFAULT_DOCUMENTS_TABLE, DEFAULT_FAILURES_TABLE, DEFAULT_STATEMENTS_TABLE } from './defaults.js';
import type { BackfillFailure, RunLock, StatementBatch, StatementBatchResult, StatementSink, StoredCheckpoint, VexClaim } from './ports.js';
import { lockPgRun } from './pg-run-lock.js';

const CLAIM_COLUMNS = 'document_digest, vulnerability_id, product_key, status, justification, statement, issued_at, format, run_id';

/** One value in COPY text format: `\N` for null, with backslash, tab, newline and carriage return escaped. */
function copyValue(value: string | undefined): string {
  if (value === undefined) return '\\N';
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
    : value;
}

/** The batch's claims as one COPY text-format buffer (one large write beats many small ones). */
function copyText(claims: readonly VexClaim[], runId: string): string {
  const run = copyValue(runId);
  let out = '';
  for (const c of claims) {
    out += `${copyValue(c.documentDigest)}\t${copyValue(c.vulnerabilityId)}\t${copyValue(c.productKey)}\t${c.status}\t${copyValue(c.justification)}\t${copyValue(c.statement)}\t${copyValue(c.issuedAt)}\t${copyValue(c.format)}\t${run}\n`;
  }
  return out;
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23505';
}

/** A COPY hit an existing claim: another writer raced this batch. */
class CopyConflict extends Error {
  constructor(cause: unknown) {
    super('COPY conflicted with an existing claim', { cause });
  }
}

/**
 * Where {@link PgStatementSink} writes.
 *
 * @example
 * ```ts
 * const config: PgStatementSinkConfig = { pg: pool, statementsTable: 'vex.statements' };
 * ```
 */
export interface PgStatementSinkConfig {
  /** The caller's `pg.Pool` or `pg.Client`, or a connection string. */
  readonly pg: PgSource;
  /** @defaultValue {@link DEFAULT_STATEMENTS_TABLE} (`vex.statements`) */
  readonly statementsTable?: string;
  /** @defaultValue {@link DEFAULT_DOCUMENTS_TABLE} (`vex.statement_documents`) */
  readonly documentsTable?: string;
  /** @defaultValue {@link DEFAULT_CHECKPOINTS_TABLE} (`vex.statement_backfill_checkpoints`) */
  readonly checkpointsTable?: string;
  /** @defaultValue {@link DEFAULT_FAILURES_TABLE} (`vex.statement_backfill_failures`) */
  readonly failuresTable?: string;
}

interface Tables {
  readonly statements: QualifiedName;
  readonly documents: QualifiedName;
  readonly checkpoints: QualifiedName;
  readonly failures: QualifiedName;
}

interface CheckpointRow {
  cursor_retrieved_at: string | null;
  cursor_digest: string | null;
  evaluated: string;
  backfilled: string;
  claims_written: string;
  skipped: string;
  failures: string;
  retrieved_since: string | null;
  force: boolean;
  max_documents: string | null;
  outcome_sha256: string;
  completed: boolean;
}

/**
 * A {@link StatementSink} (and checkpoint store) over PostgreSQL.
 *
 * - claims go to a table unique on `(document_digest, vulnerability_id, product_key)`;
 * - every batch is one transaction: claims, the list of backfilled documents,
 *   new failures and the run's checkpoint commit together or not at all;
 * - under `force`, a document's claims are deleted and re-inserted in that
 *   same transaction, so readers see either the old set or the new one.
 *
 * @example
 * ```ts
 * const sink = new PgStatementSink({ pg: pool });
 * await sink.prepare();
 * const rows = await pool.query('SELECT * FROM vex.statements WHERE vulnerability_id = $1', ['CVE-2021-44228']);
 * ```
 */
export class PgStatementSink implements StatementSink {
  readonly #pg: PgHandle;
  readonly #tables: Tables | BackfillError;

  constructor(config: PgStatementSinkConfig) {
    this.#pg = new PgHandle(config.pg);
    const names = Result.combine([
      parseQualifiedName(config.statementsTable ?? DEFAULT_STATEMENTS_TABLE),
      parseQualifiedName(config.documentsTable ?? DEFAULT_DOCUMENTS_TABLE),
      parseQualifiedName(config.checkpointsTable ?? DEFAULT_CHECKPOINTS_TABLE),
      parseQualifiedName(config.failuresTable ?? DEFAULT_FAILURES_TABLE),
    ]);
    this.#tables = names.match(
      ([statements, documents, checkpoints, failures]) => ({ statements, documents, checkpoints, failures }),
      (error) => error,
    );
  }

  /** The validated table names, or the INVALID_IDENTIFIER error from the constructor. */
  #with<T>(fn: (t: Tables) => ResultAsync<T, BackfillError>): ResultAsync<T, BackfillError> {
    const t = this.#tables;
    return t instanceof Error ? errAsync(t) : fn(t);
  }

  #tx<T>(t: Tables, fn: (c: PgClientLike) => Promise<T>): ResultAsync<T, BackfillError> {
    return ResultAsync.fromPromise(
      this.#pg.withClient((c) => inTransaction(c, () => fn(c))),
      (e) => pgErrorToBackfill(e, { table: t.statements.sql }),
    );
  }

  /** Creates the four tables (and their schemas) if missing. Safe to call concurrently. */
  prepare(): ResultAsync<void, BackfillError> {
    return this.#with((t) =>
      this.#tx(t, async (c) => {
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [t.statements.sql]);
        for (const schema of new Set([t.statements.schema, t.documents.schema, t.checkpoints.schema, t.failures.schema])) {
          await c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
        }
        await c.query(`CREATE TABLE IF NOT EXISTS ${t.statements.sql} (
          document_digest text NOT NULL,
          vulnerability_id text NOT NULL,
          product_key text NOT NULL,
          status text NOT NULL CHECK (status IN ('not_affected', 'affected', 'fixed', 'under_investigation')),
          justification text,
          statement text,
          issued_at timestamptz,
          format text NOT NULL,
          run_id text NOT NULL,
          inserted_at timestamptz NOT NULL DEFAULT now(),
          CONSTRAINT ${quoteIdent(`${t.statements.name}_claim_key`)} UNIQUE (document_digest, vulnerability_id, product_key)
        )`);
        await c.query(
          `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${t.statements.name}_vuln_product_idx`)} ON ${t.statements.sql} (vulnerability_id, product_key)`,
        );
        await c.query(`CREATE TABLE IF NOT EXISTS ${t.documents.sql} (
          document_digest text PRIMARY KEY,
          format text NOT NULL,
          claims integer NOT NULL,
          run_id text NOT NULL,
          backfilled_at timestamptz NOT NULL DEFAULT now()
        )`);
        await c.query(`CREATE TABLE IF NOT EXISTS ${t.checkpoints.sql} (
          run_id text PRIMARY KEY,
          cursor_retrieved_at text,
          cursor_digest text,
          evaluated bigint NOT NULL,
          backfilled bigint NOT NULL,
          claims_written bigint NOT NULL,
          skipped bigint NOT NULL,
          failures bigint NOT NULL,
          retrieved_since text,
          force boolean NOT NULL,
          max_documents bigint,
          outcome_sha256 text NOT NULL,
          completed boolean NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now()
        )`);
        await c.query(`CREATE TABLE IF NOT EXISTS ${t.failures.sql} (
          run_id text NOT NULL,
          seq bigint NOT NULL,
          digest text NOT NULL,
          code text NOT NULL,
          message text NOT NULL,
          PRIMARY KEY (run_id, seq)
        )`);
      }),
    );
  }

  /** Of `digests`, those already recorded as backfilled. */
  existingDigests(digests: readonly string[]): ResultAsync<ReadonlySet<string>, BackfillError> {
    return this.#with((t) =>
      this.#pg
        .query<{ document_digest: string }>(
          `SELECT document_digest FROM ${t.documents.sql} WHERE document_digest = ANY($1::text[])`,
          [digests],
          {
            table: t.documents.sql,
          },
        )
        .map((r) => new Set(r.rows.map((row) => row.document_digest))),
    );
  }

  /**
   * Writes the batch's claims, documents, failures and checkpoint in one
   * transaction. Claims go in with COPY: the documents are new (or their old
   * claims were just deleted), so no row can conflict unless another writer
   * raced us. If one did, the transaction is rolled back and redone with
   * `INSERT … ON CONFLICT DO NOTHING`.
   */
  commitBatch(batch: StatementBatch): ResultAsync<StatementBatchResult, BackfillError> {
    return this.#with((t) =>
      ResultAsync.fromPromise(
        this.#pg.withClient(async (c) => {
          try {
            return await inTransaction(c, () => this.#write(c, t, batch, true));
          } catch (error) {
            if (!(error instanceof CopyConflict)) throw error;
            return inTransaction(c, () => this.#write(c, t, batch, false));
          }
        }),
        (e) => pgErrorToBackfill(e, { table: t.statements.sql }),
      ),
    );
  }

  /** The body of one batch transaction: four round trips on the COPY path. */
  async #write(c: PgClientLike, t: Tables, batch: StatementBatch, useCopy: boolean): Promise<StatementBatchResult> {
    const digests = batch.documents.map((d) => d.digest);
    const claims = batch.documents.flatMap((d) => d.claims);
    if (batch.force && digests.length > 0)
      await c.query(`DELETE FROM ${t.statements.sql} WHERE document_digest = ANY($1::text[])`, [digests]);
    let claimsWritten = 0;
    if (claims.length > 0 && useCopy) {
      try {
        const stream = c.query(copyStreams.from(`COPY ${t.statements.sql} (${CLAIM_COLUMNS}) FROM STDIN`)) as ReturnType<
          typeof copyStreams.from
        >;
        await pipeline(Readable.from([Buffer.from(copyText(claims, batch.runId))]), stream);
      } catch (error) {
        throw isUniqueViolation(error) ? new CopyConflict(error) : error;
      }
      claimsWritten = claims.length;
    } else if (claims.length > 0) {
      const inserted = (await c.query(
        `INSERT INTO ${t.statements.sql} (${CLAIM_COLUMNS})
         SELECT d, v, p, s, j, st, i, f, $9
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[])
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
          batch.runId,
        ],
      )) as { rowCount: number | null };
      claimsWritten = inserted.rowCount ?? 0;
    }
    const cp = batch.checkpoint;
    const firstFailure = cp.counters.failures - batch.failures.length + 1;
    // Documents, failures and the checkpoint in one statement: fewer round trips per batch.
    await c.query(
      `WITH docs AS (
         INSERT INTO ${t.documents.sql} (document_digest, format, claims, run_id)
         SELECT d, f, n, $1 FROM unnest($2::text[], $3::text[], $4::int[]) AS x(d, f, n)
         ON CONFLICT (document_digest) DO UPDATE
           SET format = excluded.format, claims = excluded.claims, run_id = excluded.run_id, backfilled_at = now()
       ), fails AS (
         INSERT INTO ${t.failures.sql} (run_id, seq, digest, code, message)
         SELECT $1, s, d, c, m FROM unnest($5::bigint[], $6::text[], $7::text[], $8::text[]) AS x(s, d, c, m)
         ON CONFLICT (run_id, seq) DO UPDATE SET digest = excluded.digest, code = excluded.code, message = excluded.message
       )
       INSERT INTO ${t.checkpoints.sql}
         (run_id, cursor_retrieved_at, cursor_digest, evaluated, backfilled, claims_written, skipped, failures,
          retrieved_since, force, max_documents, outcome_sha256, completed, updated_at)
       VALUES ($1, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, now())
       ON CONFLICT (run_id) DO UPDATE SET
         cursor_retrieved_at = excluded.cursor_retrieved_at, cursor_digest = excluded.cursor_digest,
         evaluated = excluded.evaluated, backfilled = excluded.backfilled, claims_written = excluded.claims_written,
         skipped = excluded.skipped, failures = excluded.failures, outcome_sha256 = excluded.outcome_sha256,
         completed = excluded.completed, updated_at = now()`,
      [
        batch.runId,
        digests,
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
    return { claimsWritten };
  }

  /**
   * Takes the run's advisory lock on a connection of its own (checked out of
   * the pool until `release()`), or fails with `LOCKED` naming the backend
   * that holds it: pid, application_name, client host.
   */
  lockRun(runId: string): ResultAsync<RunLock, BackfillError> {
    return this.#with((t) => lockPgRun(this.#pg, t.checkpoints.sql, runId));
  }

  /** The run's checkpoint with all of its recorded failures, or `null`. */
  loadCheckpoint(runId: string): ResultAsync<StoredCheckpoint | null, BackfillError> {
    return this.#with((t) =>
      ResultAsync.fromPromise(
        this.#pg.withClient(async (c) => {
          // One snapshot for both reads, so the failures match the counters.
          await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
          try {
            const cp = (await c.query(`SELECT * FROM ${t.checkpoints.sql} WHERE run_id = $1`, [runId])) as { rows: CheckpointRow[] };
            const row = cp.rows[0];
            if (row === undefined) return null;
            const failed = (await c.query(`SELECT digest, code, message FROM ${t.failures.sql} WHERE run_id = $1 ORDER BY seq`, [
              runId,
            ])) as {
              rows: BackfillFailure[];
            };
            const stored: StoredCheckpoint = {
              runId,
              cursor:
                row.cursor_retrieved_at === null || row.cursor_digest === null
                  ? null
                  : { retrievedAt: row.cursor_retrieved_at, digest: row.cursor_digest },
              counters: {
                evaluated: Number(row.evaluated),
                backfilled: Number(row.backfilled),
                claimsWritten: Number(row.claims_written),
                skipped: Number(row.skipped),
                failures: Number(row.failures),
              },
              options: {
                retrievedSince: row.retrieved_since,
                force: row.force,
                maxDocuments: row.max_documents === null ? null : Number(row.max_documents),
              },
              outcomeSha256: row.outcome_sha256,
              completed: row.completed,
              failed: failed.rows.map((f) => ({ digest: f.digest, code: f.code, message: f.message })),
            };
            return stored;
          } finally {
            await c.query('COMMIT');
          }
        }),
        (e) => pgErrorToBackfill(e, { table: t.checkpoints.sql, runId }),
      ),
    );
  }

  /** Ends the pool when the sink was built from a connection string. */
  async close(): Promise<void> {
    await this.#pg.close();
  }
}
