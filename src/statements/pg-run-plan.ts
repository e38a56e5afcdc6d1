/**
 * The plan of a distributed statement backfill in PostgreSQL: one row per
 * run (its options and size), one per key range (its bounds, when it was
 * the first range a worker took of the run, and the failure that stopped it
 * under `stopOnError`), and
 * one per worker process (a heartbeat, for "workers alive").
 *
 * @module
 */
import { err, ok, ResultAsync, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { inTransaction, type PgClientLike, type PgSource } from '../_internals/pg.js';
import { kitVersion } from '../_internals/package-json.js';
import type { QualifiedName } from '../_internals/sql-identifier.js';
import { DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT } from './defaults.js';
import type { BackfillFailure, DocumentCursor, KeyRange, RunLock } from './ports.js';
import { resolvePgStore, withStoreClient, type PgStore } from './pg-store.js';
import * as sql from './sql.js';

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
  /** Most bytes of claims one document may make; every worker normalizes with it. */
  readonly maxClaimBytesPerDocument: number;
}

/**
 * The tables of the store a run was planned against. Every worker backfills
 * the run's ranges in them, and its report reads them, whatever tables the
 * worker or reader was configured with: runs of several stores can share
 * one plan store and its job queue.
 */
export interface PlannedStoreTables {
  readonly raw: string;
  readonly statements: string;
  readonly documents: string;
  readonly checkpoints: string;
  readonly failures: string;
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
  /** `null` for a plan stored before plans recorded their tables: its workers use their own. */
  readonly tables: PlannedStoreTables | null;
  /**
   * The schema of the job tables its ranges' jobs were enqueued in; `null`
   * for a plan stored before plans recorded it (or by a caller that gave
   * none). Workers, reports and replans of the run must use the same.
   */
  readonly jobsSchema: string | null;
  /**
   * The version of backfill-kit that planned the run (as `backfill-kit
   * --version` prints it); `null` for a plan stored before plans recorded
   * it. Workers of another version refuse the run's jobs: their
   * normalizers may differ, and a run must hold one version's statements.
   */
  readonly kitVersion: string | null;
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

type Tables = Readonly<Record<'runs' | 'ranges' | 'workers', QualifiedName>>;

interface RunRow {
  retrieved_since: string | null;
  force: boolean;
  max_documents: string | null;
  stop_on_error: boolean;
  batch_size: number;
  range_size: number;
  documents: string;
  planned_at: Date;
  store_tables: PlannedStoreTables | null;
  jobs_schema: string | null;
  kit_version: string | null;
  max_claim_bytes: string | null;
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
  /** The connection and validated table names, or why the config is invalid (then every method returns that error). */
  readonly #store: Result<Readonly<PgStore<keyof Tables>>, BackfillError>;

  constructor(config: { readonly pg: PgSource; readonly tables?: PgBackfillPlanTables }) {
    this.#store = resolvePgStore(config.pg, {
      runs: config.tables?.runs ?? 'vex.statement_backfill_runs',
      ranges: config.tables?.ranges ?? 'vex.statement_backfill_ranges',
      workers: config.tables?.workers ?? 'vex.statement_backfill_workers',
    });
  }

  /** The runs table's name, which also names the run's job queue (empty when the config is invalid). */
  get runsTable(): string {
    return this.#store.match(
      ({ tables }) => tables.runs.sql,
      () => '',
    );
  }

  /** Runs `work` on one connection; a failure becomes a BackfillError naming the runs table. */
  #withClient<T>(work: (c: PgClientLike, t: Tables) => Promise<T>): ResultAsync<T, BackfillError> {
    return withStoreClient(this.#store, (t) => ({ table: t.runs.sql }), work);
  }

  /** Sends one statement and returns its rows. */
  #rows<Row>(statement: (t: Tables) => sql.SqlStatement): ResultAsync<Row[], BackfillError> {
    return this.#withClient(async (c, t) => ((await c.query(statement(t))) as { rows: Row[] }).rows);
  }

  /**
   * Creates the three tables if missing, and gives an existing runs table
   * the columns later versions added. Refuses (`INVALID_ARGUMENT`, changing
   * nothing) a name that is another's of the three, or that names an
   * existing table of another shape (a mistyped flag naming an
   * application's table, or the store's own): it would be altered, or
   * taken for the plan table.
   */
  prepare(): ResultAsync<void, BackfillError> {
    return this.#withClient((c, t) =>
      inTransaction(c, async () => {
        await c.query(sql.lockCreation(t.runs));
        const refused = await misshapenIn(c, t);
        if (refused !== undefined) throw refused;
        for (const schema of new Set([t.runs.schema, t.ranges.schema, t.workers.schema])) await c.query(sql.createSchema(schema));
        await c.query(sql.createRunsTable(t.runs));
        await c.query(sql.addStoreTablesColumn(t.runs));
        await c.query(sql.addJobsSchemaColumn(t.runs));
        await c.query(sql.addKitVersionColumn(t.runs));
        await c.query(sql.addMaxClaimBytesColumn(t.runs));
        await c.query(sql.createRangesTable(t.ranges));
        await c.query(sql.createWorkersTable(t.workers));
      }),
    );
  }

  /**
   * Stores a plan, or returns the stored one when the run was planned
   * before with the same options (planning is idempotent per run id). A
   * replan also clears recorded stops, so stopped ranges are retried.
   *
   * @param lockRunId - taken before a new plan is stored (not for a replan),
   * after the planners of `runId` are serialised, and held until the plan is
   * committed: e.g. the store's run lock, which a single-process run holds
   * for as long as it runs (and which refuses an id whose key ranges have
   * checkpoints in the store), with the check that no such run has a
   * checkpoint under `runId`. Its error refuses the plan and stores nothing.
   * @param jobsSchema - the schema of the job tables the plan's jobs go to:
   * recorded with a new plan, and a replan naming another is refused (its
   * jobs would be queued a second time, where other workers take them).
   * A new plan records this kit's version ({@link BackfillPlan.kitVersion});
   * a replan keeps the version that planned the run.
   */
  savePlan(
    runId: string,
    options: PlannedOptions,
    tables: PlannedStoreTables,
    ranges: readonly KeyRange[],
    lockRunId?: () => ResultAsync<RunLock, BackfillError>,
    jobsSchema?: string,
  ): ResultAsync<BackfillPlan, BackfillError> {
    let held: RunLock | undefined;
    const saved = this.#withClient((c, t) =>
      inTransaction(c, async (): Promise<Result<BackfillPlan, BackfillError>> => {
        await c.query(sql.lockPlan(t.runs, runId));
        const existing = await loadPlan(c, t, runId);
        if (existing === null) {
          if (lockRunId !== undefined) {
            const lock = await lockRunId();
            if (lock.isErr()) return err(lock.error);
            held = lock.value;
          }
          await c.query(
            sql.insertRun(
              t.runs,
              runId,
              options,
              ranges.reduce((n, r) => n + r.documents, 0),
              tables,
              jobsSchema ?? null,
              kitVersion(),
            ),
          );
          await c.query(sql.insertRanges(t.ranges, runId, ranges));
          return ok((await loadPlan(c, t, runId)) as BackfillPlan);
        }
        const differ = [
          ...differing(existing.options, options),
          ...(existing.tables === null ? [] : differing(existing.tables, tables).map((k) => `${k} table`)),
          ...(existing.jobsSchema === null || jobsSchema === undefined || existing.jobsSchema === jobsSchema ? [] : ['jobs schema']),
        ];
        if (differ.length > 0) {
          const stored: Record<string, unknown> = { ...existing.options, 'jobs schema': existing.jobsSchema };
          for (const [k, v] of Object.entries(existing.tables ?? {})) stored[`${k} table`] = v;
          const was = differ.map((k) => `${k} ${JSON.stringify(stored[k])}`).join(', ');
          return err(
            new BackfillError(
              'INVALID_ARGUMENT',
              `run ${runId} was planned with ${was}; plan it again with the same ${differ.join(', ')}, or use a new run id.`,
              { context: { runId, options: differ, planned: Object.fromEntries(differ.map((k) => [k, stored[k]])) } },
            ),
          );
        }
        await c.query(sql.clearRangeStops(t.ranges, runId));
        return ok(existing);
      }),
    );
    // Let go only once the plan is committed (or rolled back): a run that takes the lock then finds it.
    return ResultAsync.fromSafePromise(
      Promise.resolve(saved).then(async (result) => {
        await held?.release();
        return result;
      }),
    ).andThen((result) => result.andThen((plan) => plan));
  }

  /**
   * Refuses (`INVALID_ARGUMENT`) plan table names that {@link prepare}
   * would refuse: two of them naming one table, or one naming an existing
   * table of another shape. Creates nothing.
   */
  checkShapes(): ResultAsync<void, BackfillError> {
    return this.#withClient(async (c, t) => {
      const refused = await misshapenIn(c, t);
      if (refused !== undefined) throw refused;
    });
  }

  /**
   * Which of the three tables exist in the database: only {@link prepare}
   * (a planner's) creates them, so without the runs table no run was
   * planned with these table names, and with it but without the others
   * they were mistyped. Creates nothing.
   */
  tablesExist(): ResultAsync<Readonly<Record<'runs' | 'ranges' | 'workers', boolean>>, BackfillError> {
    return this.#rows<Record<keyof Tables, boolean>>((t) => sql.selectPlanTablesExist(t.runs, t.ranges, t.workers)).map(([row]) => ({
      runs: row?.runs === true,
      ranges: row?.ranges === true,
      workers: row?.workers === true,
    }));
  }

  /**
   * Whether the runs table exists in the database: only {@link prepare}
   * (a planner's) creates it, so without it no run was planned with these
   * table names. Creates nothing.
   */
  runsTableExists(): ResultAsync<boolean, BackfillError> {
    return this.tablesExist().map((exist) => exist.runs);
  }

  /**
   * The other runs tables of this database that hold a plan of `runId`
   * (as `schema.table`), each with the store tables that plan recorded
   * (`null` for one that recorded none). A table this role may not read,
   * or not shaped like a runs table after all, is passed over.
   */
  plansElsewhere(runId: string): ResultAsync<readonly { runsTable: string; tables: PlannedStoreTables | null }[], BackfillError> {
    return this.#withClient(async (c, t) => {
      const candidates = ((await c.query(sql.selectRunsTableCandidates())) as { rows: { schema: string; name: string }[] }).rows;
      const found: { runsTable: string; tables: PlannedStoreTables | null }[] = [];
      for (const { schema, name } of candidates) {
        if (schema === t.runs.schema && name === t.runs.name) continue;
        const rows = await c.query(sql.selectPlanStoreTablesIn(schema, name, runId)).then(
          (r: unknown) => (r as { rows: { store_tables: PlannedStoreTables | null }[] }).rows,
          () => [],
        );
        for (const row of rows) found.push({ runsTable: `${schema}.${name}`, tables: row.store_tables });
      }
      return found;
    });
  }

  /** The three tables' names, quoted (empty when the config is invalid). */
  get tableNames(): Readonly<Record<'runs' | 'ranges' | 'workers', string>> {
    return this.#store.match(
      ({ tables }) => ({ runs: tables.runs.sql, ranges: tables.ranges.sql, workers: tables.workers.sql }),
      () => ({ runs: '', ranges: '', workers: '' }),
    );
  }

  /** The run's plan, or `null` if it was never planned. */
  loadPlan(runId: string): ResultAsync<BackfillPlan | null, BackfillError> {
    return this.#withClient((c, t) => loadPlan(c, t, runId));
  }

  /** Notes when a worker took the range, unless one did before (for the rate: workers note the first range they take of a run). */
  rangeStarted(runId: string, n: number): ResultAsync<void, BackfillError> {
    return this.#rows((t) => sql.markRangeStarted(t.ranges, runId, n)).map(() => undefined);
  }

  /** Records the failure that stopped range `n` under `stopOnError`; `null` clears it (the range got past it). */
  setStop(runId: string, n: number, failure: BackfillFailure | null): ResultAsync<void, BackfillError> {
    return this.#rows((t) => sql.setRangeStop(t.ranges, runId, n, failure)).map(() => undefined);
  }

  /** The earliest range (in keyspace order) stopped by a failure, if any. */
  firstStop(runId: string): ResultAsync<RangeStop | null, BackfillError> {
    return this.#rows<{ n: number; stop_digest: string; stop_code: string; stop_message: string }>((t) =>
      sql.selectFirstStop(t.ranges, runId),
    ).map(([row]) =>
      row === undefined
        ? null
        : { n: row.n, failure: { digest: row.stop_digest, code: row.stop_code as BackfillFailure['code'], message: row.stop_message } },
    );
  }

  /** When the run's first range was taken by a worker, if any was. */
  firstStarted(runId: string): ResultAsync<Date | null, BackfillError> {
    return this.#rows<{ at: Date | null }>((t) => sql.selectFirstStarted(t.ranges, runId)).map(([row]) => row?.at ?? null);
  }

  /** A worker's heartbeat: it is alive now. */
  heartbeat(workerId: string, host: string, pid: number): ResultAsync<void, BackfillError> {
    return this.#rows((t) => sql.upsertWorker(t.workers, workerId, host, pid)).map(() => undefined);
  }

  /** A worker that stops cleanly leaves the list. */
  leave(workerId: string): ResultAsync<void, BackfillError> {
    return this.#rows((t) => sql.deleteWorker(t.workers, workerId)).map(() => undefined);
  }

  /** Workers whose last heartbeat is at most `withinSeconds` old. */
  workersAlive(withinSeconds: number): ResultAsync<number, BackfillError> {
    return this.#rows<{ n: string }>((t) => sql.countWorkersAlive(t.workers, withinSeconds)).map(([row]) => Number(row?.n ?? 0));
  }

  /** Ends the pool when the store was built from a connection string. */
  async close(): Promise<void> {
    await this.#store.match(
      ({ pg }) => pg.close(),
      () => undefined,
    );
  }
}

/** Why the plan tables named `t` cannot be prepared (see {@link misshapenPlanTable}), read on `c`. */
async function misshapenIn(c: PgClientLike, t: Tables): Promise<BackfillError | undefined> {
  const found = (await c.query(sql.selectExistingTableColumns(PLAN_TABLES.map((k) => t[k].sql)))) as { rows: TableColumns[] };
  return misshapenPlanTable(t, found.rows);
}

/** The plan tables, in the order they are named. */
const PLAN_TABLES = ['runs', 'ranges', 'workers'] as const;

/** The columns each plan table has had since the first version that planned runs (later ones were added to them). */
const PLAN_TABLE_COLUMNS: Readonly<Record<(typeof PLAN_TABLES)[number], readonly string[]>> = {
  runs: ['run_id', 'retrieved_since', 'force', 'max_documents', 'stop_on_error', 'batch_size', 'range_size', 'documents', 'planned_at'],
  ranges: [
    'run_id',
    'n',
    'after_at',
    'after_digest',
    'through_at',
    'through_digest',
    'documents',
    'started_at',
    'stop_digest',
    'stop_code',
    'stop_message',
  ],
  workers: ['worker_id', 'host', 'pid', 'started_at', 'seen_at'],
};

/** An existing table's columns, by its quoted name. */
interface TableColumns {
  readonly name: string;
  readonly columns: readonly string[];
}

/**
 * Why the plan tables named `t` cannot be prepared, or `undefined`: two of
 * them name one table, or one names an existing table without the columns
 * of its kind (`existing`, the columns of those that exist).
 */
function misshapenPlanTable(t: Tables, existing: readonly TableColumns[]): BackfillError | undefined {
  const flag = (kind: (typeof PLAN_TABLES)[number]): string => `--${kind}-table (tables.${kind})`;
  for (const [i, kind] of PLAN_TABLES.entries()) {
    const same = PLAN_TABLES.slice(0, i).find((other) => t[other].sql === t[kind].sql);
    if (same !== undefined)
      return new BackfillError(
        'INVALID_ARGUMENT',
        `${flag(kind)} and ${flag(same)} both name ${t[kind].sql}: a run's plan needs three tables of its own; name another. No plan table was created or changed.`,
        { context: { table: t[kind].sql } },
      );
  }
  for (const kind of PLAN_TABLES) {
    const found = existing.find((e) => e.name === t[kind].sql);
    const missing = found === undefined ? [] : PLAN_TABLE_COLUMNS[kind].filter((column) => !found.columns.includes(column));
    if (missing.length > 0)
      return new BackfillError(
        'INVALID_ARGUMENT',
        `${flag(kind)} names ${t[kind].sql}, a table that exists and is no ${kind} table of a plan (it has no column ${missing.join(', ')}): check the flag, or name a table that does not exist yet, which the planner creates. No plan table was created or changed.`,
        { context: { table: t[kind].sql, missingColumns: missing } },
      );
  }
  return undefined;
}

/** What a replan asks for differently from the stored plan: every option and table counts (the ranges were cut and the batches sized by them). */
function differing<T extends object>(stored: T, asked: T): string[] {
  return (Object.keys(asked) as (keyof T & string)[]).filter((k) => stored[k] !== asked[k]);
}

/** The run's plan and its ranges in keyspace order, or `null`. */
async function loadPlan(c: PgClientLike, t: Tables, runId: string): Promise<BackfillPlan | null> {
  const run = (await c.query(sql.selectRun(t.runs, runId))) as { rows: RunRow[] };
  const r = run.rows[0];
  if (r === undefined) return null;
  const ranges = (await c.query(sql.selectRanges(t.ranges, runId))) as { rows: RangeRow[] };
  return {
    runId,
    options: {
      retrievedSince: r.retrieved_since,
      force: r.force,
      maxDocuments: r.max_documents === null ? null : Number(r.max_documents),
      stopOnError: r.stop_on_error,
      batchSize: r.batch_size,
      rangeSize: r.range_size,
      // A plan stored before plans recorded it was worked with the default.
      maxClaimBytesPerDocument: r.max_claim_bytes === null ? DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT : Number(r.max_claim_bytes),
    },
    tables: r.store_tables,
    jobsSchema: r.jobs_schema ?? null,
    kitVersion: r.kit_version ?? null,
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
