/**
 * The statements store in PostgreSQL: claims, backfilled documents, run
 * checkpoints and failures, written one transaction per batch.
 *
 * @module
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errAsync, type Result, type ResultAsync } from 'neverthrow';
import copyStreams from 'pg-copy-streams';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import { inTransaction, type PgClientLike, type PgSource } from '../_internals/pg.js';
import type { QualifiedName } from '../_internals/sql-identifier.js';
import { DEFAULT_CHECKPOINTS_TABLE, DEFAULT_DOCUMENTS_TABLE, DEFAULT_FAILURES_TABLE, DEFAULT_STATEMENTS_TABLE } from './defaults.js';
import type { BackfillFailure, RunLock, StatementBatch, StatementBatchResult, StatementSink, StoredCheckpoint } from './ports.js';
import { lockPgRun, lockThenCheck, refusePlannedRun, type PgLockSession } from './pg-run-lock.js';
import { digestColumnRefusal, resolvePgStore, withStoreClient, type ColumnType, type PgStore } from './pg-store.js';
import * as sql from './sql.js';

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

type Tables = Readonly<Record<'statements' | 'documents' | 'checkpoints' | 'failures', QualifiedName>>;

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

/** The columns a failures table has, which each batch writes. */
const FAILURES_COLUMNS = ['run_id', 'seq', 'digest', 'code', 'message'] as const;

/**
 * Refuses, with `INVALID_ARGUMENT`, a failures table (created beforehand)
 * without the columns a batch writes into it: another table, named by
 * mistake. A run would otherwise commit its batches until the first one
 * with a failing document, and fail there (a planned run's ranges on
 * every retry).
 */
async function checkFailures(c: PgClientLike, failures: QualifiedName): Promise<void> {
  const found = (await c.query(sql.selectColumnTypes(failures, FAILURES_COLUMNS))) as { rows: ColumnType[] };
  const missing = FAILURES_COLUMNS.filter((column) => !found.rows.some((row) => row.name === column));
  if (missing.length === 0) return;
  throw new BackfillError(
    'INVALID_ARGUMENT',
    `${failures.sql} has no column ${missing.join(', ')}: a failures table has (run_id text, seq bigint, digest text, code text, message text), so this is another table. Check --failures-table (the sink's failuresTable) names the failures table, or name one that does not exist yet, to have it created.`,
    { context: { table: failures.sql, missingColumns: missing } },
  );
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
  /** The connection and validated table names, or why the config is invalid (then every method returns that error). */
  readonly #store: Result<Readonly<PgStore<keyof Tables>>, BackfillError>;
  /** The session (backend pid and start) holding each run lock this sink took, by run id, until it is released. */
  readonly #lockHolders = new Map<string, PgLockSession>();
  /** Whether the documents table's `document_digest` column was found to compare as text (by `prepare()` or a first `existingDigests` or `commitBatch`). */
  #documentsChecked = false;

  constructor(config: PgStatementSinkConfig) {
    this.#store = resolvePgStore(config.pg, {
      statements: config.statementsTable ?? DEFAULT_STATEMENTS_TABLE,
      documents: config.documentsTable ?? DEFAULT_DOCUMENTS_TABLE,
      checkpoints: config.checkpointsTable ?? DEFAULT_CHECKPOINTS_TABLE,
      failures: config.failuresTable ?? DEFAULT_FAILURES_TABLE,
    });
  }

  /** Runs `work` on one connection; a failure becomes a BackfillError located by `where`. */
  #withClient<T>(
    work: (c: PgClientLike, t: Tables) => Promise<T>,
    where: (t: Tables) => BackfillErrorContext = (t) => ({ table: t.statements.sql }),
  ): ResultAsync<T, BackfillError> {
    return withStoreClient(this.#store, where, work);
  }

  /**
   * Refuses, with `INVALID_ARGUMENT`, a documents table (created
   * beforehand) without a `document_digest` column (another table, named
   * by mistake), or whose `document_digest` column compares otherwise than
   * text: of a nondeterministic collation, it finds a digest differing
   * from a recorded one only in case already backfilled, so that document
   * would be skipped; of type `citext`, its primary key takes the two for
   * one, so one document's record would overwrite the other's.
   */
  async #checkDocuments(c: PgClientLike, documents: QualifiedName): Promise<void> {
    if (this.#documentsChecked) return;
    const found = (await c.query(sql.selectColumnTypes(documents, ['document_digest']))) as { rows: ColumnType[] };
    const refused = digestColumnRefusal(documents, 'document_digest', found.rows, {
      missing:
        "a documents table has (document_digest text PRIMARY KEY, format text, claims integer, run_id text, backfilled_at timestamptz), so this is another table. Check --documents-table (the sink's documentsTable) names the documents table, or name one that does not exist yet, to have it created.",
      type: "its primary key compares digests by the type's own comparison (citext ignores case), so a document whose digest differs from a recorded one only in case would overwrite that one's record and never be recorded itself.",
      collation: 'a document whose digest differs from a recorded one only in case would be found already backfilled and skipped.',
      convertTo: 'text COLLATE "C"',
    });
    if (refused !== undefined) throw refused;
    this.#documentsChecked = true;
  }

  /**
   * Creates the four tables (and their schemas) if missing. Safe to call
   * concurrently. Refuses a documents table created beforehand that has
   * no `document_digest` column (`INVALID_ARGUMENT`, naming the table and
   * the column), or whose `document_digest` is `citext` or of a
   * nondeterministic collation (`INVALID_ARGUMENT`, naming the ALTER that
   * fixes it), as a first `existingDigests` or `commitBatch` does on a sink
   * never prepared.
   */
  prepare(): ResultAsync<void, BackfillError> {
    return this.#withClient((c, t) =>
      inTransaction(c, async () => {
        await c.query(sql.lockCreation(t.statements));
        for (const schema of new Set([t.statements.schema, t.documents.schema, t.checkpoints.schema, t.failures.schema])) {
          await c.query(sql.createSchema(schema));
        }
        await c.query(sql.createStatementsTable(t.statements));
        await c.query(sql.createStatementsIndex(t.statements));
        await c.query(sql.createDocumentsTable(t.documents));
        await c.query(sql.createCheckpointsTable(t.checkpoints));
        await c.query(sql.createFailuresTable(t.failures));
        await this.#checkDocuments(c, t.documents);
        await checkFailures(c, t.failures);
      }),
    );
  }

  /** Of `digests`, those already recorded as backfilled. */
  existingDigests(digests: readonly string[]): ResultAsync<ReadonlySet<string>, BackfillError> {
    return this.#withClient(
      async (c, t) => {
        await this.#checkDocuments(c, t.documents);
        const found = (await c.query(sql.selectBackfilledDigests(t.documents, digests))) as { rows: { document_digest: string }[] };
        return new Set(found.rows.map((row) => row.document_digest));
      },
      (t) => ({ table: t.documents.sql }),
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
    return this.#withClient(async (c, t) => {
      await this.#checkDocuments(c, t.documents);
      try {
        return await inTransaction(c, () => this.#write(c, t, batch, true));
      } catch (error) {
        if (!(error instanceof CopyConflict)) throw error;
        return inTransaction(c, () => this.#write(c, t, batch, false));
      }
    });
  }

  /** The body of one batch transaction: four round trips on the COPY path. */
  async #write(c: PgClientLike, t: Tables, batch: StatementBatch, useCopy: boolean): Promise<StatementBatchResult> {
    const claims = batch.documents.flatMap((d) => d.claims);
    if (batch.force && batch.documents.length > 0) {
      await c.query(
        sql.deleteClaims(
          t.statements,
          batch.documents.map((d) => d.digest),
        ),
      );
    }
    let claimsWritten = 0;
    if (claims.length > 0 && useCopy) {
      try {
        const stream = c.query(copyStreams.from(sql.copyClaims(t.statements))) as ReturnType<typeof copyStreams.from>;
        await pipeline(Readable.from(sql.claimsCopyChunks(claims, batch.runId)), stream);
      } catch (error) {
        throw isUniqueViolation(error) ? new CopyConflict(error) : error;
      }
      claimsWritten = claims.length;
    } else if (claims.length > 0) {
      const inserted = (await c.query(sql.insertClaims(t.statements, claims, batch.runId))) as { rowCount: number | null };
      claimsWritten = inserted.rowCount ?? 0;
    }
    await this.#checkLockKept(c, t, batch.runId);
    await c.query(sql.recordBatch(t, batch));
    return { claimsWritten };
  }

  /**
   * Throws, so the batch is rolled back, when this sink took the run's lock
   * and its session no longer holds it: once the lock's connection is cut
   * off (pg_terminate_backend, `idle_session_timeout`, a proxy), another
   * process may take the run id, and the two would overwrite each other's
   * checkpoint.
   */
  async #checkLockKept(c: PgClientLike, t: Tables, runId: string): Promise<void> {
    const session = this.#lockHolders.get(runId);
    if (session === undefined) return;
    const { pid, started } = session;
    // Held until this transaction ends: a process that takes the run over once the check below has passed waits
    // for this batch to commit before it reads the checkpoint (see lockPgRun).
    await c.query(sql.lockRunCommit(t.checkpoints.sql, runId));
    const found = (await c.query(sql.selectRunLockKept(t.checkpoints.sql, runId, pid, started))) as { rows: { kept: boolean }[] };
    if (found.rows[0]?.kept === true) return;
    throw new BackfillError(
      'DB_CONNECTION',
      `run ${JSON.stringify(runId)} lost its run lock: the lock's connection (backend pid ${pid}) was closed, and another process may hold the run now, so this batch was not committed. Rerun with the same run id to resume from the last committed batch.`,
      { context: { runId, table: t.checkpoints.sql } },
    );
  }

  /**
   * Takes the run's advisory lock on a connection of its own (checked out of
   * the pool until `release()`), or fails with `LOCKED` naming the backend
   * that holds it: pid, application_name, client host.
   *
   * Once it holds the lock it refuses, with `INVALID_ARGUMENT`, the id of a
   * planned run any of whose key ranges has a checkpoint here
   * (`<runId>#range-<n>`): a single-process run would not resume that run,
   * and a new plan would take those ranges' checkpoints, cut with other
   * bounds, as its own. A plan none of whose ranges has committed a batch
   * has no checkpoint here, so this cannot see it: only its runs table
   * holds it (the CLI's `statements backfill --run-id` also reads that).
   */
  lockRun(runId: string): ResultAsync<RunLock, BackfillError> {
    return this.#store.asyncAndThen(({ pg, tables }) => {
      // A run of this sink still holds the id, though its lock's connection may be gone (then PostgreSQL would grant the
      // lock again): beside it, the two would write the run, and its commits would pass the check under the new lock.
      const holder = this.#lockHolders.get(runId);
      if (holder !== undefined) return errAsync(this.#heldHere(runId, holder));
      return lockThenCheck(lockPgRun(pg, tables.checkpoints.sql, runId), () => this.#refuseStartedPlan(runId)).map((lock) => {
        this.#lockHolders.set(runId, lock.session);
        return {
          release: () => {
            if (this.#lockHolders.get(runId) === lock.session) this.#lockHolders.delete(runId);
            return lock.release();
          },
        };
      });
    });
  }

  /** The refusal of a second run of `runId` on this sink while its first still runs. */
  #heldHere(runId: string, holder: PgLockSession): BackfillError {
    return new BackfillError(
      'LOCKED',
      `run ${JSON.stringify(runId)} is already running in this process (its run lock was taken on backend pid ${holder.pid}; if that connection was lost, the run stops at its next batch). Wait for it to stop, then rerun with the same run id to resume.`,
      { context: { runId, holderPid: holder.pid } },
    );
  }

  /** Refuses `runId` when a key range of a plan of it has a checkpoint. */
  #refuseStartedPlan(runId: string): ResultAsync<void, BackfillError> {
    const found = this.#withClient(
      async (c, t) => {
        const rows = (await c.query(sql.selectRangeCheckpointExists(t.checkpoints, runId))) as { rows: { planned: boolean }[] };
        return rows.rows[0]?.planned === true ? t.checkpoints.sql : null;
      },
      (t) => ({ table: t.checkpoints.sql, runId }),
    );
    return refusePlannedRun(runId, found, (table) => `its key ranges have checkpoints ${runId}#range-<n> in ${table}`);
  }

  /** The run's checkpoint with all of its recorded failures, or `null`. */
  loadCheckpoint(runId: string): ResultAsync<StoredCheckpoint | null, BackfillError> {
    return this.#loadCheckpoints([runId], { runId }).map((found) => found.get(runId) ?? null);
  }

  /**
   * The checkpoints (with their recorded failures) of several runs, such as
   * the ranges of a distributed run, in two queries rather than two per run;
   * runs without a checkpoint are absent. With `failures: false` the
   * failures are not read (each checkpoint's `failed` is empty; its
   * counters still count them): one query, for a caller polling where runs
   * stand, which would otherwise read every failure each time.
   */
  loadCheckpoints(
    runIds: readonly string[],
    options: { readonly failures?: boolean } = {},
  ): ResultAsync<ReadonlyMap<string, StoredCheckpoint>, BackfillError> {
    return this.#loadCheckpoints(runIds, { runs: runIds.length }, options.failures ?? true);
  }

  #loadCheckpoints(
    runIds: readonly string[],
    context: BackfillErrorContext,
    withFailures = true,
  ): ResultAsync<Map<string, StoredCheckpoint>, BackfillError> {
    return this.#withClient(
      async (c, t) => {
        // One snapshot for both reads, so the failures match the counters.
        await c.query(sql.beginSnapshot());
        try {
          const cps = (await c.query(sql.selectCheckpoints(t.checkpoints, runIds))) as { rows: (CheckpointRow & { run_id: string })[] };
          const found = new Map<string, StoredCheckpoint>();
          if (cps.rows.length === 0) return found;
          const failed = withFailures
            ? ((await c.query(sql.selectFailures(t.failures, runIds))) as { rows: (BackfillFailure & { run_id: string })[] })
            : { rows: [] };
          const failedOf = new Map<string, BackfillFailure[]>();
          for (const f of failed.rows) {
            const list = failedOf.get(f.run_id);
            if (list === undefined) failedOf.set(f.run_id, [f]);
            else list.push(f);
          }
          for (const row of cps.rows) found.set(row.run_id, storedCheckpoint(row.run_id, row, failedOf.get(row.run_id) ?? []));
          return found;
        } finally {
          await c.query(sql.endSnapshot());
        }
      },
      (t) => ({ table: t.checkpoints.sql, ...context }),
    );
  }

  /** Ends the pool when the sink was built from a connection string. */
  async close(): Promise<void> {
    await this.#store.match(
      ({ pg }) => pg.close(),
      () => undefined,
    );
  }
}

function storedCheckpoint(runId: string, row: CheckpointRow, failed: readonly BackfillFailure[]): StoredCheckpoint {
  return {
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
    failed: failed.map((f) => ({ digest: f.digest, code: f.code, message: f.message })),
  };
}
