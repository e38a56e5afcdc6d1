/**
 * The plan of a distributed statement backfill in PostgreSQL: one row per
 * run (its options and size), one per key range (its bounds, when a worker
 * first took it, and the failure that stopped it under `stopOnError`), and
 * one per worker process (a heartbeat, for "workers alive").
 *
 * @module
 */
import { errAsync, Result, ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { inTransaction, PgHandle, pgErrorToBackfill, type PgClientLike, type PgSource } from '../_internals/pg.js';
import { parseQualifiedName, quoteIdent, type QualifiedName } from '../_internals/sql-identifier.js';
import type { BackfillFailure, DocumentCursor, KeyRange } from './ports.js';

/** Table names of a {@link PgBackfillPlanStore}. */
export interface PgBackfillPlanTables {
  /** @defaultValue `vex.statement_backfill_runs` */
  readonly runs?: string;
  /** @defaultValue `vex.statement_backfill_ranges` */
  readonly ranges?: string;
  /** @defaultValue `vex.statement_backfill_workers` */
  readonly workers?: string;
}

/** The options a distributed run was planned with; every worker uses them. */
export interface PlannedOptions {
  readonly retrievedSince: string | null;
  readonly force: boolean;
  readonly maxDocuments: number | null;
  readonly stopOnError: boolean;
  readonly batchSize: number;
  readonly rangeSize: number;
}

/** One key range of a plan. */
export interface PlannedRange extends KeyRange {
  /** 1-based position in keyspace order. */
  readonly n: number;
}

/** A run's plan, as stored. */
export interface BackfillPlan {
  readonly runId: string;
  readonly options: PlannedOptions;
  /** Documents in the run when it was planned. */
  readonly documents: number;
  readonly ranges: readonly PlannedRange[];
  readonly plannedAt: Date;
}

/** The failure that stopped a range under `stopOnError`. */
export interface RangeStop {
  readonly n: number;
  readonly failure: BackfillFailure;
}

interface RangeRow {
  n: number;
  after_at: string | null;
  after_digest: string | null;
  through_at: string;
  through_digest: string;
  documents: number;
}

interface Tables {
  readonly runs: QualifiedName;
  readonly ranges: QualifiedName;
  readonly workers: QualifiedName;
}

const cursorOf = (at: string | null, digest: string | null): DocumentCursor | null =>
  at === null || digest === null ? null : { retrievedAt: at, digest };

/**
 * Plans, range stops and worker heartbeats of distributed runs, in PostgreSQL.
 *
 * @example
 * ```ts
 * const plans = new PgBackfillPlanStore({ pg: pool });
 * await plans.prepare();
 * const plan = await plans.loadPlan('nightly');
 * ```
 */
export class PgBackfillPlanStore {
  readonly #pg: PgHandle;
  readonly #tables: Tables | BackfillError;

  constructor(config: { readonly pg: PgSource; readonly tables?: PgBackfillPlanTables }) {
    this.#pg = new PgHandle(config.pg);
    this.#tables = Result.combine([
      parseQualifiedName(config.tables?.runs ?? 'vex.statement_backfill_runs'),
      parseQualifiedName(config.tables?.ranges ?? 'vex.statement_backfill_ranges'),
      parseQualifiedName(config.tables?.workers ?? 'vex.statement_backfill_workers'),
    ]).match(
      ([runs, ranges, workers]) => ({ runs, ranges, workers }),
      (error) => error,
    );
  }

  /** The runs table's name, which also names the run's job queue. */
  get runsTable(): string {
    return this.#tables instanceof Error ? '' : this.#tables.runs.sql;
  }

  #do<T>(fn: (c: PgClientLike, t: Tables) => Promise<T>, transaction = false): ResultAsync<T, BackfillError> {
    const t = this.#tables;
    if (t instanceof Error) return errAsync(t);
    return ResultAsync.fromPromise(
      this.#pg.withClient((c) => (transaction ? inTransaction(c, () => fn(c, t)) : fn(c, t))),
      (e) => pgErrorToBackfill(e, { table: t.runs.sql }),
    );
  }

  /** Creates the three tables if missing. */
  prepare(): ResultAsync<void, BackfillError> {
    return this.#do(async (c, t) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [t.runs.sql]);
      for (const schema of new Set([t.runs.schema, t.ranges.schema, t.workers.schema]))
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${t.runs.sql} (
        run_id text PRIMARY KEY,
        retrieved_since text,
        force boolean NOT NULL,
        max_documents bigint,
        stop_on_error boolean NOT NULL,
        batch_size integer NOT NULL,
        range_size integer NOT NULL,
        documents bigint NOT NULL,
        planned_at timestamptz NOT NULL DEFAULT now()
      )`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${t.ranges.sql} (
        run_id text NOT NULL,
        n integer NOT NULL,
        after_at text,
        after_digest text,
        through_at text NOT NULL,
        through_digest text NOT NULL,
        documents integer NOT NULL,
        started_at timestamptz,
        stop_digest text,
        stop_code text,
        stop_message text,
        PRIMARY KEY (run_id, n)
      )`);
      await c.query(`CREATE TABLE IF NOT EXISTS ${t.workers.sql} (
        worker_id text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        seen_at timestamptz NOT NULL DEFAULT now()
      )`);
    }, true);
  }

  /**
   * Stores a plan, or returns the stored one when the run was planned
   * before with the same options (planning is idempotent per run id). A
   * replan also clears recorded stops, so stopped ranges are retried.
   */
  savePlan(runId: string, options: PlannedOptions, ranges: readonly KeyRange[]): ResultAsync<BackfillPlan, BackfillError> {
    return this.#do(async (c, t) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [t.runs.sql, runId]);
      const existing = await this.#load(c, t, runId);
      if (existing !== null) {
        const a = existing.options;
        const same =
          a.retrievedSince === options.retrievedSince &&
          a.force === options.force &&
          a.maxDocuments === options.maxDocuments &&
          a.stopOnError === options.stopOnError;
        if (!same) {
          throw new BackfillError(
            'INVALID_ARGUMENT',
            `run ${runId} was planned with ${JSON.stringify(a)}; plan it again with the same retrievedSince, force, maxDocuments and stopOnError, or use a new run id.`,
            { context: { runId } },
          );
        }
        await c.query(`UPDATE ${t.ranges.sql} SET stop_digest = NULL, stop_code = NULL, stop_message = NULL WHERE run_id = $1`, [runId]);
        return existing;
      }
      await c.query(
        `INSERT INTO ${t.runs.sql} (run_id, retrieved_since, force, max_documents, stop_on_error, batch_size, range_size, documents)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          runId,
          options.retrievedSince,
          options.force,
          options.maxDocuments,
          options.stopOnError,
          options.batchSize,
          options.rangeSize,
          ranges.reduce((n, r) => n + r.documents, 0),
        ],
      );
      await c.query(
        `INSERT INTO ${t.ranges.sql} (run_id, n, after_at, after_digest, through_at, through_digest, documents)
         SELECT $1, n, a, ad, th, td, d FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[]) AS x(n, a, ad, th, td, d)`,
        [
          runId,
          ranges.map((_, i) => i + 1),
          ranges.map((r) => r.after?.retrievedAt ?? null),
          ranges.map((r) => r.after?.digest ?? null),
          ranges.map((r) => r.through.retrievedAt),
          ranges.map((r) => r.through.digest),
          ranges.map((r) => r.documents),
        ],
      );
      return (await this.#load(c, t, runId)) as BackfillPlan;
    }, true);
  }

  /** The run's plan, or `null` if it was never planned. */
  loadPlan(runId: string): ResultAsync<BackfillPlan | null, BackfillError> {
    return this.#do((c, t) => this.#load(c, t, runId));
  }

  async #load(c: PgClientLike, t: Tables, runId: string): Promise<BackfillPlan | null> {
    const run = (await c.query(`SELECT * FROM ${t.runs.sql} WHERE run_id = $1`, [runId])) as {
      rows: {
        retrieved_since: string | null;
        force: boolean;
        max_documents: string | null;
        stop_on_error: boolean;
        batch_size: number;
        range_size: number;
        documents: string;
        planned_at: Date;
      }[];
    };
    const r = run.rows[0];
    if (r === undefined) return null;
    const ranges = (await c.query(
      `SELECT n, after_at, after_digest, through_at, through_digest, documents FROM ${t.ranges.sql} WHERE run_id = $1 ORDER BY n`,
      [runId],
    )) as { rows: RangeRow[] };
    return {
      runId,
      options: {
        retrievedSince: r.retrieved_since,
        force: r.force,
        maxDocuments: r.max_documents === null ? null : Number(r.max_documents),
        stopOnError: r.stop_on_error,
        batchSize: r.batch_size,
        rangeSize: r.range_size,
      },
      documents: Number(r.documents),
      ranges: ranges.rows.map((row) => ({
        n: row.n,
        after: cursorOf(row.after_at, row.after_digest),
        through: { retrievedAt: row.through_at, digest: row.through_digest },
        documents: row.documents,
      })),
      plannedAt: r.planned_at,
    };
  }

  /** Notes when a worker first took the range (for the rate). */
  rangeStarted(runId: string, n: number): ResultAsync<void, BackfillError> {
    return this.#do(async (c, t) => {
      await c.query(`UPDATE ${t.ranges.sql} SET started_at = coalesce(started_at, now()) WHERE run_id = $1 AND n = $2`, [runId, n]);
    });
  }

  /** Records the failure that stopped range `n` under `stopOnError`; `null` clears it (the range got past it). */
  setStop(runId: string, n: number, failure: BackfillFailure | null): ResultAsync<void, BackfillError> {
    return this.#do(async (c, t) => {
      await c.query(`UPDATE ${t.ranges.sql} SET stop_digest = $3, stop_code = $4, stop_message = $5 WHERE run_id = $1 AND n = $2`, [
        runId,
        n,
        failure?.digest ?? null,
        failure?.code ?? null,
        failure?.message ?? null,
      ]);
    });
  }

  /** The earliest range (in keyspace order) stopped by a failure, if any. */
  firstStop(runId: string): ResultAsync<RangeStop | null, BackfillError> {
    return this.#do(async (c, t) => {
      const r = (await c.query(
        `SELECT n, stop_digest, stop_code, stop_message FROM ${t.ranges.sql} WHERE run_id = $1 AND stop_digest IS NOT NULL ORDER BY n LIMIT 1`,
        [runId],
      )) as {
        rows: { n: number; stop_digest: string; stop_code: string; stop_message: string }[];
      };
      const row = r.rows[0];
      return row === undefined
        ? null
        : { n: row.n, failure: { digest: row.stop_digest, code: row.stop_code as BackfillFailure['code'], message: row.stop_message } };
    });
  }

  /** When the run's first range was taken by a worker, if any was. */
  firstStarted(runId: string): ResultAsync<Date | null, BackfillError> {
    return this.#do(async (c, t) => {
      const r = (await c.query(`SELECT min(started_at) AS at FROM ${t.ranges.sql} WHERE run_id = $1`, [runId])) as {
        rows: { at: Date | null }[];
      };
      return r.rows[0]?.at ?? null;
    });
  }

  /** A worker's heartbeat: it is alive now. */
  heartbeat(workerId: string, host: string, pid: number): ResultAsync<void, BackfillError> {
    return this.#do(async (c, t) => {
      await c.query(
        `INSERT INTO ${t.workers.sql} (worker_id, host, pid) VALUES ($1, $2, $3) ON CONFLICT (worker_id) DO UPDATE SET seen_at = now()`,
        [workerId, host, pid],
      );
    });
  }

  /** A worker that stops cleanly leaves the list. */
  leave(workerId: string): ResultAsync<void, BackfillError> {
    return this.#do(async (c, t) => {
      await c.query(`DELETE FROM ${t.workers.sql} WHERE worker_id = $1`, [workerId]);
    });
  }

  /** Workers whose last heartbeat is at most `withinSeconds` old. */
  workersAlive(withinSeconds: number): ResultAsync<number, BackfillError> {
    return this.#do(async (c, t) => {
      const r = (await c.query(`SELECT count(*) AS n FROM ${t.workers.sql} WHERE seen_at > now() - make_interval(secs => $1)`, [
        withinSeconds,
      ])) as { rows: { n: string }[] };
      return Number(r.rows[0]?.n ?? 0);
    });
  }

  /** Ends the pool when the store was built from a connection string. */
  async close(): Promise<void> {
    await this.#pg.close();
  }
}
