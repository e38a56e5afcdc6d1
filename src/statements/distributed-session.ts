/**
 * The statement backfill across worker processes and hosts, on pg-boss:
 * what every process of a distributed run (planner, workers on any host,
 * report, progress) shares. The run's configuration
 * ({@link DistributedBackfillConfig}), its adapters on one pool, and the
 * sessions that prepare them and start the job engine.
 *
 * @module
 */
import { err, errAsync, ok, okAsync, Result, ResultAsync } from 'neverthrow';
import pg from 'pg';
import { BackfillError, toBackfillError } from '../errors.js';
import { validateIdentifier } from '../_internals/sql-identifier.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import {
  DEFAULT_CHECKPOINTS_TABLE,
  DEFAULT_DOCUMENTS_TABLE,
  DEFAULT_FAILURES_TABLE,
  DEFAULT_RAW_DOCUMENTS_TABLE,
  DEFAULT_STATEMENTS_TABLE,
} from './defaults.js';
import { pendingRunsOfOtherQueues, rangeQueueName, RangeJobQueue, type OtherQueueRuns } from './job-queue.js';
import { pgPoolSettings, type PgConnectOptions } from '../_internals/pg.js';
import { PgRawDocumentSource } from './pg-raw-document-source.js';
import { PgStatementSink } from './pg-statement-sink.js';
import { PgBackfillPlanStore, type BackfillPlan, type PgBackfillPlanTables, type PlannedStoreTables } from './pg-run-plan.js';
import type { StatementSink, VexNormalizer } from './ports.js';
import { waitingOut, type Outage } from './distributed-outage.js';

/** The range of `heartbeatSeconds`: pg-boss's minimum, and an hour. */
const MIN_HEARTBEAT_SECONDS = 10;
const MAX_HEARTBEAT_SECONDS = 3600;

/**
 * Where a distributed run lives. Every process of a run (planner, workers on
 * any host, report) is given the same configuration.
 *
 * @example
 * ```ts
 * const cluster: DistributedBackfillConfig = { connectionString: process.env.PGURI!, logger: console };
 * ```
 */
export interface DistributedBackfillConfig {
  /**
   * The PostgreSQL that holds the documents, the statements, the plan and
   * the job queue. The kit's own SQL names every function, type and
   * operator with its schema, but the job engine's (pg-boss's) looks its
   * operators up in the `search_path`: connect as a role whose
   * `search_path` lists no schema of look-alike operators before
   * `pg_catalog`.
   */
  readonly connectionString: string;
  /**
   * The driver's `ssl` option for every connection of the run (its pool's
   * and the job engine's), in place of its own reading of `sslmode` and
   * `PGSSLMODE`; `connectionString` must then carry no SSL parameter
   * (`sslmode`, `sslrootcert`, …), which the driver would read over it.
   * The CLI gives what libpq's `sslmode` comes to for the server.
   * @defaultValue what the driver reads from `connectionString` and `PGSSLMODE`
   */
  readonly ssl?: pg.ClientConfig['ssl'];
  /**
   * How long each connection of the run (its pool's and the job engine's)
   * may take to open, in ms; 0 waits forever. The CLI gives
   * `PGCONNECT_TIMEOUT`.
   * @defaultValue none: the run's pool waits as long as the network does, the job engine 10 s (pg-boss's default)
   */
  readonly connectTimeoutMs?: number;
  /**
   * The driver's `password` option for every connection of the run (its
   * pool's and the job engine's), over `connectionString`'s: a string, or
   * a function the driver calls with the connection's parameters when the
   * server asks for a password. The CLI gives its pool's: the password file
   * (`~/.pgpass`) read as libpq reads it, when neither the URL nor
   * `PGPASSWORD` gives one.
   * @defaultValue the driver's: the string's, else `PGPASSWORD`, else its own reading of `~/.pgpass`
   */
  readonly password?: NonNullable<pg.ClientConfig['password']>;
  /** @defaultValue {@link defaultVexNormalizers} */
  readonly normalizers?: readonly VexNormalizer[];
  /**
   * Table names; defaults as in `PgRawDocumentSource`, `PgStatementSink` and {@link PgBackfillPlanStore}.
   * The plan records the store's tables (`raw` … `failures`) it was planned with: workers backfill each
   * run in its plan's tables, and reports read them, whatever tables they are given here.
   */
  readonly tables?: PgBackfillPlanTables & {
    readonly raw?: string;
    readonly statements?: string;
    readonly documents?: string;
    readonly checkpoints?: string;
    readonly failures?: string;
  };
  /** Schema of pg-boss's tables. @defaultValue `pgboss` */
  readonly jobsSchema?: string;
  /** Seconds without a heartbeat before a dead worker's job is retried elsewhere (an integer from 10 to 3600). @defaultValue 10 */
  readonly heartbeatSeconds?: number;
  /** @defaultValue a logger that discards everything */
  readonly logger?: Logger;
}

/**
 * The checkpoint id (and run-lock id) of range `n` of `runId`.
 *
 * @example
 * ```ts
 * const id = rangeCheckpointId('nightly', 3); // the checkpoint a worker resumes range 3 from
 * ```
 */
export function rangeCheckpointId(runId: string, n: number): string {
  return `${runId}#range-${n}`;
}

/** Where a run's documents are read and its statements, checkpoints and failures written. */
export interface Store {
  readonly source: PgRawDocumentSource;
  readonly sink: PgStatementSink;
}

export interface Parts extends Store {
  readonly pool: pg.Pool;
  /** Where the run's jobs are: pg-boss's schema and queue name. */
  readonly jobs: { readonly schema: string; readonly queue: string };
  /** The store tables this process was configured with (a plan records the planner's). */
  readonly tables: PlannedStoreTables;
  /** The store of a run's plan, on this pool (the configured one for a plan that names no tables). */
  storeOf(plan: BackfillPlan): Store;
  readonly plans: PgBackfillPlanStore;
  readonly logger: Logger;
  close(): Promise<void>;
}

/** How every connection of the run opens (its pool's and the job engine's), from the config. */
function connectOptionsOf(config: DistributedBackfillConfig): PgConnectOptions {
  return {
    connectionString: config.connectionString,
    ...(config.ssl === undefined ? {} : { ssl: config.ssl }),
    ...(config.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: config.connectTimeoutMs }),
    ...(config.password === undefined ? {} : { password: config.password }),
  };
}

/**
 * Connections a range being backfilled can hold at once: its run lock's,
 * a page read (its own, or the next range's read ahead) and a batch commit.
 */
const CONNECTIONS_PER_RANGE = 3;

/**
 * The run's adapters on one pool (which connects on first use), large
 * enough for `ranges` backfilled at once and the worker's own queries: a
 * smaller one would let the run locks take every connection and leave no
 * range one to read with.
 */
export function partsOf(config: DistributedBackfillConfig, ranges = 1): Parts {
  const pool = new pg.Pool({ ...pgPoolSettings(connectOptionsOf(config)), max: CONNECTIONS_PER_RANGE * ranges + 3 });
  pool.on('error', () => undefined);
  const t = config.tables ?? {};
  const tables: PlannedStoreTables = {
    raw: t.raw ?? DEFAULT_RAW_DOCUMENTS_TABLE,
    statements: t.statements ?? DEFAULT_STATEMENTS_TABLE,
    documents: t.documents ?? DEFAULT_DOCUMENTS_TABLE,
    checkpoints: t.checkpoints ?? DEFAULT_CHECKPOINTS_TABLE,
    failures: t.failures ?? DEFAULT_FAILURES_TABLE,
  };
  const storeIn = (s: PlannedStoreTables): Store => ({
    source: new PgRawDocumentSource({ pg: pool, table: s.raw }),
    sink: new PgStatementSink({
      pg: pool,
      statementsTable: s.statements,
      documentsTable: s.documents,
      checkpointsTable: s.checkpoints,
      failuresTable: s.failures,
    }),
  });
  const own = storeIn(tables);
  const stores = new Map<string, Store>([[JSON.stringify(tables), own]]);
  const storeOf = (plan: BackfillPlan): Store => {
    const key = JSON.stringify(plan.tables ?? tables);
    const store = stores.get(key) ?? storeIn(plan.tables ?? tables);
    stores.set(key, store);
    return store;
  };
  const plans = new PgBackfillPlanStore({ pg: pool, tables: t });
  const jobs = { schema: config.jobsSchema ?? 'pgboss', queue: plans.runsTable };
  return { pool, jobs, ...own, tables, storeOf, plans, logger: loggerOf(config.logger), close: () => pool.end() };
}

function openQueue(config: DistributedBackfillConfig, parts: Parts): ResultAsync<RangeJobQueue, BackfillError> {
  return RangeJobQueue.open({
    ...connectOptionsOf(config),
    queue: parts.jobs.queue,
    schema: parts.jobs.schema,
    ...(config.heartbeatSeconds === undefined ? {} : { heartbeatSeconds: config.heartbeatSeconds }),
  });
}

/** Runs `fn` with the run's parts, closing them afterwards; throws become Results. */
export function withParts<T>(
  config: DistributedBackfillConfig,
  fn: (parts: Parts) => Promise<Result<T, BackfillError>>,
): ResultAsync<T, BackfillError> {
  return ResultAsync.fromPromise(
    (async () => {
      const parts = partsOf(config);
      try {
        return await fn(parts);
      } finally {
        await parts.close();
      }
    })(),
    (e) => toBackfillError(e, 'DB_ERROR'),
  ).andThen((r) => r);
}

/** The run's prepared parts and a started job queue: what planning and working need. */
export interface Session {
  readonly parts: Parts;
  readonly queue: RangeJobQueue;
}

/** Says that no run was planned with the runs table of `parts` (it does not exist), and how to fix that. */
export const noRunsTableWords = (parts: Parts): string =>
  `no run was planned with runs table ${parts.plans.runsTable} (it does not exist in this database)`;

/** The runs with jobs pending in the other statement range queues of the jobs schema (of `runId` only, unless `null`), read from pg-boss's table without starting pg-boss; none when that table cannot be read. */
export async function pendingElsewhere(parts: Parts, runId: string | null): Promise<readonly OtherQueueRuns[]> {
  const execute = ({ text, values }: { text: string; values: readonly unknown[] }) => parts.pool.query(text, [...values]);
  const found = await ResultAsync.fromPromise(
    pendingRunsOfOtherQueues(execute, parts.jobs.schema, rangeQueueName(parts.jobs.queue), runId),
    (e) => e,
  );
  return found.isOk() ? found.value : [];
}

/** The runs of `others` and the runs table each was planned with, for a message. */
export function pendingRunsWords(others: readonly OtherQueueRuns[]): string {
  return others
    .map(
      (o) =>
        `${o.runIds.length === 1 ? 'run' : 'runs'} ${o.runIds.join(', ')} of ${o.runsTable === null ? `the runs table of pg-boss queue ${o.queue}` : `runs table ${o.runsTable}`}`,
    )
    .join('; ');
}

/**
 * A worker's refusal of a runs table that does not exist: it would create
 * it empty and find no job in its queue. Names the runs with jobs pending
 * under another runs table of the jobs schema, if any (a mistyped
 * `--runs-table`).
 */
async function noRunsTable(parts: Parts): Promise<BackfillError> {
  const none = noRunsTableWords(parts);
  const context = { runsTable: parts.plans.runsTable, jobsSchema: parts.jobs.schema };
  const others = await pendingElsewhere(parts, null);
  if (others.length === 0)
    return new BackfillError(
      'INVALID_ARGUMENT',
      `${none}: check --runs-table (tables.runs) against the planner's, or plan a run first (statements plan --run-id <id>).`,
      { context },
    );
  return new BackfillError(
    'INVALID_ARGUMENT',
    `${none}, but jobs schema "${parts.jobs.schema}" holds pending jobs of ${pendingRunsWords(others)}: give the --runs-table (tables.runs) those runs were planned with.`,
    { context: { ...context, pendingElsewhere: others } },
  );
}

/** The plan tables besides the runs table, with the flag (and option) that names each. */
const OTHER_PLAN_TABLES = [
  { kind: 'ranges', flag: '--ranges-table (tables.ranges)' },
  { kind: 'workers', flag: '--workers-table (tables.workers)' },
] as const;

/**
 * The refusal of a ranges or workers table that does not exist beside a
 * runs table that does (a mistyped `--ranges-table` or `--workers-table`):
 * only a planner creates the plan's tables, together, so a worker would
 * create it empty (and find none of its runs' ranges, or beat its heart
 * where nobody looks), and a report or progress read would fail on it.
 * `undefined` when both exist.
 */
export function missingPlanTables(
  parts: Parts,
  exist: Readonly<Record<'ranges' | 'workers', boolean>>,
  planner = false,
): BackfillError | undefined {
  const names = parts.plans.tableNames;
  const missing = OTHER_PLAN_TABLES.filter(({ kind }) => !exist[kind]);
  if (missing.length === 0) return undefined;
  const tables = missing.map(({ kind }) => `${kind} table ${names[kind]}`).join(' and ');
  const flags = missing.map(({ flag }) => flag).join(' and ');
  // A planner creates the three at once: one missing beside the runs table is not the one its runs were planned with.
  const check = planner
    ? `a planner creates a run's tables together with its runs table; check ${flags} against the one${missing.length === 1 ? '' : 's'} the runs of ${names.runs} were planned with (nothing was created)`
    : `only a planner (statements plan) creates a run's tables; check ${flags} against the planner's`;
  return new BackfillError(
    'INVALID_ARGUMENT',
    `${tables} ${missing.length === 1 ? 'does' : 'do'} not exist in this database, though runs table ${names.runs} does: ${check}.`,
    { context: { runsTable: names.runs, ...Object.fromEntries(missing.map(({ kind }) => [`${kind}Table`, names[kind]])) } },
  );
}

/**
 * After a `TABLE_NOT_FOUND` from the plan store: the refusal of a ranges or
 * workers table that does not exist beside a runs table that does
 * ({@link missingPlanTables}), or `undefined` (no runs table either).
 */
export async function mistypedPlanTable(parts: Parts): Promise<BackfillError | undefined> {
  const exist = await parts.plans.tablesExist();
  return exist.isOk() && exist.value.runs ? missingPlanTables(parts, exist.value) : undefined;
}

/**
 * The refusal of a plan found in the runs table whose ranges the ranges
 * table does not hold (it holds another plan store's ranges: a mistyped
 * `--ranges-table` of a table that exists), or `undefined`. Its jobs name
 * ranges this worker cannot find, and a report would count none.
 */
export function rangesNotFound(parts: Parts, plan: BackfillPlan): BackfillError | undefined {
  if (plan.ranges.length > 0 || plan.documents === 0) return undefined;
  const names = parts.plans.tableNames;
  return new BackfillError(
    'INVALID_ARGUMENT',
    `run ${plan.runId} is planned in runs table ${names.runs} with ${plan.documents} documents, but ranges table ${names.ranges} holds none of its ranges: check --ranges-table (tables.ranges) against the planner's.`,
    { context: { runId: plan.runId, runsTable: names.runs, rangesTable: names.ranges } },
  );
}

/**
 * Who starts a session: the planner (creates every table), a worker that
 * ends once no work is left (`untilDone` of the whole queue), a worker that
 * waits for one run to be planned, or one that serves the queue until
 * stopped (it may be deployed before any plan).
 */
export type SessionRole = 'planner' | 'worker' | 'waiting worker' | 'serving worker';

/**
 * Prepares the run's parts (a planner: creating missing tables) and starts
 * pg-boss, at once. Closes what it opened when a step fails. Only the
 * planner prepares: `prepare()` runs CREATE INDEX IF NOT EXISTS, whose
 * share lock would queue behind (and hold up) the workers' writes if a
 * progress poll took it every second, and ALTER TABLE on the runs table,
 * which needs its owner and an ACCESS EXCLUSIVE lock, so a worker changes
 * no table: a role that may read and write the plan's tables runs one, and
 * one starting during a dump of the database does not wait for (and hold up every
 * reader of the runs table behind) the dump. Only the planner creates the runs table: a worker
 * refuses a runs table that does not exist (it would find no job, or
 * none of the runs planned with the right one), before it starts pg-boss;
 * a worker that waits for its run's plan (started with the planner), or
 * serves the queue until stopped, waits for the planner to create it (the
 * latter warns, and refuses it when runs wait under another runs table). Any worker refuses a ranges or
 * workers table missing beside an existing runs table (mistyped; see
 * {@link missingPlanTables}).
 */
async function startSession(config: DistributedBackfillConfig, ranges: number, role: SessionRole): Promise<Result<Session, BackfillError>> {
  const parts = partsOf(config, ranges);
  // A planner's table flags naming tables of another shape say more than the tables missing beside them.
  const shapes = role === 'planner' ? await parts.plans.checkShapes() : ok(undefined);
  const exists = await parts.plans.tablesExist();
  let refused: BackfillError | undefined;
  if (shapes.isErr()) refused = shapes.error;
  else if (exists.isErr()) refused = exists.error;
  else if (exists.value.runs) refused = missingPlanTables(parts, exists.value, role === 'planner');
  else if (role === 'worker' || role === 'serving worker') {
    const missing = await noRunsTable(parts);
    // Serving until stopped, it waits for a planner, unless runs wait under another runs table (a typo).
    if (role === 'worker' || missing.context.pendingElsewhere !== undefined) refused = missing;
    else
      parts.logger.warn(
        `runs table ${parts.plans.runsTable} does not exist yet: waiting for a planner to create it (statements plan --run-id <id>); check --runs-table if runs were planned with another.`,
      );
  }
  if (refused !== undefined) {
    await parts.close();
    return err(refused);
  }
  // A worker backfills into each plan's own tables, which its planner created: tables of the worker's own flags that
  // differ (a typo) would be created empty and never used. Nor does it prepare the plan tables: their DDL (ALTER TABLE
  // … ADD COLUMN IF NOT EXISTS) needs the runs table's owner and waits for an ACCESS EXCLUSIVE lock behind any reader.
  const tables = role === 'planner' ? parts.sink.prepare().andThen(() => parts.plans.prepare()) : okAsync(undefined);
  const [prepared, queue] = await Promise.all([tables, openQueue(config, parts)]);
  const started = Result.combine([prepared, queue] as const);
  if (started.isOk()) return ok({ parts, queue: started.value[1] });
  if (queue.isOk()) await queue.value.close(false);
  await parts.close();
  return err(started.error);
}

/** The longest name pg-boss takes for its schema, in bytes (PostgreSQL takes 63). */
const MAX_JOBS_SCHEMA_BYTES = 50;

/**
 * `name` as a jobs schema (`what` names it in the message): a plain
 * identifier of at most {@link MAX_JOBS_SCHEMA_BYTES} bytes, else
 * `INVALID_IDENTIFIER`. pg-boss refuses a longer one only once started,
 * after a planner has created its tables, and without naming the flag.
 */
export function validJobsSchema(name: string, what: string): Result<string, BackfillError> {
  return validateIdentifier(name, what).andThen((schema) =>
    Buffer.byteLength(schema) > MAX_JOBS_SCHEMA_BYTES
      ? err(
          new BackfillError(
            'INVALID_IDENTIFIER',
            `${what} ${JSON.stringify(schema)} is longer than ${MAX_JOBS_SCHEMA_BYTES} bytes, the most the job engine (pg-boss) takes for its schema; name a shorter one.`,
          ),
        )
      : ok(schema),
  );
}

/**
 * Runs `fn` with a session, starting pg-boss once for all of it and
 * stopping it afterwards. `ranges` is how many ranges it backfills at once
 * (the pool is sized for them). With `reconnect` (a worker), a database
 * that is unreachable at the start is waited out as one lost mid-run is.
 */
export function withSession<T>(
  config: DistributedBackfillConfig,
  fn: (s: Session) => PromiseLike<Result<T, BackfillError>>,
  {
    ranges = 1,
    reconnect,
    role = 'planner',
  }: {
    readonly ranges?: number;
    readonly reconnect?: { readonly outage: Outage; readonly signal: AbortSignal | undefined };
    /** Whether it plans (and so creates the tables of `config`); a worker alone creates none, see {@link SessionRole}. */
    readonly role?: SessionRole;
  } = {},
): ResultAsync<T, BackfillError> {
  // Checked before connecting: pg-boss would otherwise fail on them once connected.
  const schema = validJobsSchema(config.jobsSchema ?? 'pgboss', 'jobsSchema');
  if (schema.isErr()) return errAsync(schema.error);
  const { heartbeatSeconds } = config;
  if (
    heartbeatSeconds !== undefined &&
    (!Number.isInteger(heartbeatSeconds) || heartbeatSeconds < MIN_HEARTBEAT_SECONDS || heartbeatSeconds > MAX_HEARTBEAT_SECONDS)
  )
    return errAsync(
      new BackfillError(
        'INVALID_ARGUMENT',
        `heartbeatSeconds must be an integer from ${MIN_HEARTBEAT_SECONDS} to ${MAX_HEARTBEAT_SECONDS}, not ${heartbeatSeconds}.`,
      ),
    );
  return ResultAsync.fromPromise(
    (async () => {
      const started = await (reconnect === undefined
        ? startSession(config, ranges, role)
        : waitingOut(() => startSession(config, ranges, role), reconnect.outage, reconnect.signal));
      if (started.isErr()) return err(started.error);
      const { parts, queue } = started.value;
      try {
        return await fn(started.value);
      } finally {
        await queue.close();
        await parts.close();
      }
    })(),
    (e) => toBackfillError(e, 'DB_ERROR'),
  ).andThen((r) => r);
}

/**
 * The sink as a worker's ranges see it. The planner prepared the plan's
 * tables (a worker creates none of its own); `prepare()` per
 * range would take CREATE INDEX IF NOT EXISTS's share lock on the
 * statements table, which waits for the other workers' batch commits in
 * flight and holds up their next ones.
 */
export function preparedSink(sink: PgStatementSink): StatementSink {
  return {
    loadCheckpoint: (runId) => sink.loadCheckpoint(runId),
    lockRun: (runId) => sink.lockRun(runId),
    existingDigests: (digests) => sink.existingDigests(digests),
    commitBatch: (batch) => sink.commitBatch(batch),
  };
}
