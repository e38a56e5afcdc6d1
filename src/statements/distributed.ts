/**
 * The statement backfill across worker processes and hosts, on pg-boss:
 * {@link planBackfill} cuts a run's keyspace into key ranges and enqueues
 * one job per range; {@link runBackfillWorker} (on any host) takes jobs and
 * backfills each range with the same per-batch transaction, checkpoint and
 * run lock as a single process; {@link backfillReport} adds the ranges up to
 * the summary of a single-process run; {@link backfillProgress} reads where
 * the run is from any host.
 *
 * @module
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { err, errAsync, ok, okAsync, Result, ResultAsync, safeTry } from 'neverthrow';
import pg from 'pg';
import { BackfillError, toBackfillError } from '../errors.js';
import { validateIdentifier } from '../_internals/sql-identifier.js';
import { silentLogger, type Logger } from '../_internals/logger.js';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_CHECKPOINTS_TABLE,
  DEFAULT_DOCUMENTS_TABLE,
  DEFAULT_FAILURES_TABLE,
  DEFAULT_RAW_DOCUMENTS_TABLE,
  DEFAULT_STATEMENTS_TABLE,
  defaultVexNormalizers,
  MAX_BATCH_SIZE,
  REPORT_SCHEMA_VERSION,
} from './defaults.js';
import { RangeJobQueue, rangeQueueName, type HeldJob, type RangeJob } from './job-queue.js';
import { countPendingJobs, selectFailingRangeJobs } from './sql.js';
import { isPassingConnectionLoss, pgErrorToBackfill, pgPoolSettings, type PgConnectOptions } from '../_internals/pg.js';
import { PgRawDocumentSource } from './pg-raw-document-source.js';
import { lockThenCheck, refusePlannedRun } from './pg-run-lock.js';
import { PgStatementSink } from './pg-statement-sink.js';
import {
  PgBackfillPlanStore,
  type BackfillPlan,
  type PgBackfillPlanTables,
  type PlannedOptions,
  type PlannedStoreTables,
  type RangeStop,
} from './pg-run-plan.js';
import type {
  BackfillCounters,
  BackfillFailure,
  DocumentCursor,
  KeyRange,
  StatementSink,
  StoredCheckpoint,
  VexNormalizer,
} from './ports.js';
import { areBuiltInNormalizers, MAX_NORMALIZER_THREADS, NormalizerThreads } from './normalizer-threads.js';
import { StatementBackfiller, type RangeRun } from './statement-backfiller.js';
import {
  integerOption,
  MAX_DOCUMENTS_LIMIT,
  MAX_PLANNED_RUN_ID_LENGTH,
  MAX_RUN_ID_LENGTH,
  plainRunId,
  rangeOfCheckpointId,
  validRunId,
} from './run-context.js';
import { addOutcomeSums, buildSummary, OUTCOME_SUM_ZERO, type BackfillSummary } from './summary.js';

/** Documents per key range (one job) unless `rangeSize` says otherwise. */
export const DEFAULT_RANGE_SIZE = 1000;

/** Largest `rangeSize`: the runs table stores it, and each range's document count, as a PostgreSQL `integer`. */
export const MAX_RANGE_SIZE = 2_147_483_647;

/** Seconds a worker waits for an unreachable database before it fails with `DB_CONNECTION`, unless `reconnectSeconds` says otherwise. */
export const DEFAULT_RECONNECT_SECONDS = 60;

/** The range of `heartbeatSeconds`: pg-boss's minimum, and an hour. */
const MIN_HEARTBEAT_SECONDS = 10;
const MAX_HEARTBEAT_SECONDS = 3600;

/** A worker whose heartbeat is older than this is not counted as alive. */
const WORKER_ALIVE_SECONDS = 15;
/** The span of reads a {@link BackfillProgressReader} measures its rate over. */
const RECENT_RATE_SECONDS = 60;
const WORKER_HEARTBEAT_MS = 3000;
/**
 * How often an `untilDone` worker with no range running asks whether any
 * job is left anywhere (one count query: a fleet of idle workers waiting
 * for the last ranges asks ten times a second each); a range of its own
 * that ends wakes it at once.
 */
const UNTIL_DONE_POLL_MS = 100;
/** How long a worker slot that found no job ready waits before it asks again. */
const IDLE_POLL_MS = 500;
/** How often a worker waiting for a run's jobs asks again, before the run is planned and once it is (the check then reads every range's checkpoint). */
const ENQUEUE_WAIT_MS = 50;
const ENQUEUE_WAIT_PLANNED_MS = 250;
/** A worker still waiting for its run to be planned after this long says so (and again each minute), and asks once a second. */
const UNPLANNED_NOTE_MS = 10_000;
const UNPLANNED_WAIT_MS = 1000;

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
 * What {@link planBackfill} is asked for: the options of `StatementBackfiller.run()`.
 *
 * @example
 * ```ts
 * await planBackfill(cluster, { runId: 'nightly', batchSize: 500, rangeSize: 2000 });
 * ```
 */
export interface PlanBackfillOptions {
  readonly runId: string;
  readonly retrievedSince?: Date;
  readonly force?: boolean;
  /** The plan holds the keyspace's first this many documents; each range stops after the documents it was planned with, so the run never evaluates more. */
  readonly maxDocuments?: number;
  /** @defaultValue 100 */
  readonly batchSize?: number;
  readonly stopOnError?: boolean;
  /**
   * Documents per key range, i.e. per job (1 to {@link MAX_RANGE_SIZE}); the last ranges of the keyspace are cut smaller, halving down to one batch.
   * @defaultValue {@link DEFAULT_RANGE_SIZE}
   */
  readonly rangeSize?: number;
}

/**
 * What {@link runBackfillWorker} is asked for.
 *
 * @example
 * ```ts
 * await runBackfillWorker(cluster, { concurrency: 1, untilDone: true });
 * ```
 */
export interface BackfillWorkerOptions {
  /**
   * Ranges this process backfills at once (1 to 64). Each holds up to 3
   * connections (its run lock, a page read, a batch commit), so the worker's
   * pool opens up to `3 × concurrency + 3`, besides pg-boss's 3: mind the
   * server's `max_connections` across all workers.
   * @defaultValue 1
   */
  readonly concurrency?: number;
  /**
   * Return once the queue holds no job queued, waiting for a retry or
   * running anywhere (with `runId`: no such job of that run).
   */
  readonly untilDone?: boolean;
  /** Stops taking jobs; running ranges stop between batches (their jobs go back to the queue, spending none of their retries). */
  readonly signal?: AbortSignal;
  /**
   * With `untilDone`: first wait until this run's jobs are enqueued (or
   * its plan has nothing left to do), so a worker started together with
   * its planner does not find the queue still empty and return at once;
   * then return once this run is done, whatever other runs sharing the
   * queue still have to do (the worker takes their jobs meanwhile too).
   */
  readonly runId?: string;
  /**
   * How long the worker waits out an unreachable database (refused or
   * reset connections, a server restarting or recovering), asking again
   * with backoff, before it fails with `DB_CONNECTION`. Its ranges resume
   * from their checkpoints once the database is back.
   * @defaultValue {@link DEFAULT_RECONNECT_SECONDS}
   */
  readonly reconnectSeconds?: number;
  /**
   * Worker threads that parse and normalize documents besides the
   * worker's own thread (with the built-in normalizers only), shared by
   * its ranges: the CPU-bound part of a backfill on more cores, with one
   * job-engine session and one pool. 0 normalizes on the worker's thread.
   * @defaultValue 0
   */
  readonly threads?: number;
}

/**
 * What a worker did.
 *
 * @example
 * ```ts
 * const result = await runBackfillWorker(cluster, { untilDone: true });
 * if (result.isErr()) throw result.error;
 * const { ranges } = result.value;
 * ```
 */
export interface BackfillWorkerSummary {
  readonly workerId: string;
  /** Ranges this worker took to their end (or to their stop). */
  readonly ranges: number;
  /** Range attempts that failed and were left to the engine to retry. */
  readonly retried: number;
  /** The runs whose jobs this worker took. */
  readonly runs: readonly string[];
}

/**
 * Where a distributed run stands: `failed` once a range's job used up the
 * engine's retries (fix the cause and plan the run again: replanning
 * re-enqueues the unfinished ranges).
 */
export type DistributedRunState = 'running' | 'completed' | 'stopped' | 'failed';

/** A range whose job failed on every retry the job engine allows. */
export interface FailedRange {
  readonly n: number;
  /** The last attempt's error message. */
  readonly error: string;
}

/**
 * A range whose job failed and that the job engine is retrying: waiting
 * for its next attempt (1 s, doubling up to 30 s), or running it.
 */
export interface RetryingRange {
  readonly n: number;
  /** Attempts that failed so far. */
  readonly failedAttempts: number;
  /** Attempts the engine allows before the range, and the run, is `failed`. */
  readonly attempts: number;
  /** The last failed attempt's error message. */
  readonly error: string;
}

/**
 * The error of a `failed` run, naming its ranges and their last errors;
 * `partial` is what the run committed.
 */
export function rangeFailedError<P>(runId: string, ranges: readonly FailedRange[], partial?: P): BackfillError<P> {
  const which = ranges.map((r) => `range ${r.n} (last error: ${r.error})`).join('; ');
  return new BackfillError<P>(
    'RANGE_FAILED',
    `run ${runId} failed: ${which} failed on every retry; fix the cause, then plan it again (statements plan --run-id ${runId} with the same options) to re-enqueue its unfinished ranges, and run workers.`,
    { context: { runId, ranges: ranges.map((r) => r.n) }, ...(partial === undefined ? {} : { partial }) },
  );
}

/**
 * The report of a distributed run.
 *
 * @example
 * ```ts
 * const result = await backfillReport(cluster, 'nightly');
 * if (result.isErr()) throw result.error;
 * const r = result.value;
 * if (r.state === 'completed') console.log(r.summary.text, r.summary.reportSha256);
 * ```
 */
export interface DistributedBackfillReport {
  readonly state: DistributedRunState;
  /**
   * Once `completed`, exactly the summary (sentence, counters, report hash)
   * of a single-process run over the same input and options. Once `stopped`,
   * what a single-process run with `stopOnError` reports when it stops at
   * the same document. While `running`, the ranges committed so far.
   */
  readonly summary: BackfillSummary;
  /** The failure that stopped the run (`stopOnError`). */
  readonly stoppedBy?: BackfillFailure;
  /** Once `failed`, the ranges whose retries ran out, in keyspace order. */
  readonly failedRanges?: readonly FailedRange[];
  /** While `running`, the ranges that failed and are being retried (when any), in keyspace order. */
  readonly retrying?: readonly RetryingRange[];
}

/**
 * Progress of a distributed run, as any host sees it.
 *
 * @example
 * ```ts
 * const result = await backfillProgress(cluster, 'nightly');
 * if (result.isErr()) throw result.error;
 * const p = result.value;
 * console.log(`${p.done}/${p.total}, ${p.documentsPerSecond.toFixed(0)} docs/s, ETA ${p.etaSeconds ?? '?'} s, ${p.workersAlive} workers`);
 * ```
 */
export interface DistributedBackfillProgress {
  readonly runId: string;
  readonly state: DistributedRunState;
  /** Documents evaluated across all ranges. */
  readonly done: number;
  /** Documents in the run when it was planned. */
  readonly total: number;
  readonly ranges: number;
  readonly rangesCompleted: number;
  /**
   * Documents per second: the run's average since its first range started
   * (hours a run stood still count too). The progress line of
   * `statements backfill --workers N` shows instead the rate over its reads
   * of the last minute, the pace the run goes at now.
   */
  readonly documentsPerSecond: number;
  /** Seconds to go at that rate, once there is a rate. */
  readonly etaSeconds?: number;
  /** Worker processes (of any run) with a heartbeat in the last 15 seconds. */
  readonly workersAlive: number;
  /** Ranges that failed and that the job engine is retrying, in keyspace order. */
  readonly retrying: readonly RetryingRange[];
  /**
   * The run is `running`, but none of its jobs is queued, waiting for a
   * retry or running, so no worker will move it: its planner stopped after
   * it stored the plan and before it enqueued the jobs. Planning it again
   * with the same options enqueues its unfinished ranges.
   */
  readonly noJobQueued: boolean;
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
interface Store {
  readonly source: PgRawDocumentSource;
  readonly sink: PgStatementSink;
}

interface Parts extends Store {
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
function partsOf(config: DistributedBackfillConfig, ranges = 1): Parts {
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
  return { pool, jobs, ...own, tables, storeOf, plans, logger: config.logger ?? silentLogger, close: () => pool.end() };
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
function withParts<T>(
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
interface Session {
  readonly parts: Parts;
  readonly queue: RangeJobQueue;
}

/**
 * Prepares the run's parts (creating missing tables) and starts pg-boss,
 * at once: both are round trips at the start of every worker. Closes what
 * it opened when a step fails. Only the planner and workers prepare:
 * `prepare()` runs CREATE INDEX IF NOT EXISTS, whose share lock would
 * queue behind (and hold up) the workers' writes if a progress poll took
 * it every second.
 */
async function startSession(config: DistributedBackfillConfig, ranges: number): Promise<Result<Session, BackfillError>> {
  const parts = partsOf(config, ranges);
  const [prepared, queue] = await Promise.all([parts.sink.prepare().andThen(() => parts.plans.prepare()), openQueue(config, parts)]);
  const started = Result.combine([prepared, queue] as const);
  if (started.isOk()) return ok({ parts, queue: started.value[1] });
  if (queue.isOk()) await queue.value.close(false);
  await parts.close();
  return err(started.error);
}

/**
 * Runs `fn` with a session, starting pg-boss once for all of it and
 * stopping it afterwards. `ranges` is how many ranges it backfills at once
 * (the pool is sized for them). With `reconnect` (a worker), a database
 * that is unreachable at the start is waited out as one lost mid-run is.
 */
function withSession<T>(
  config: DistributedBackfillConfig,
  fn: (s: Session) => PromiseLike<Result<T, BackfillError>>,
  {
    ranges = 1,
    reconnect,
  }: { readonly ranges?: number; readonly reconnect?: { readonly outage: Outage; readonly signal: AbortSignal | undefined } } = {},
): ResultAsync<T, BackfillError> {
  // Checked before connecting: pg-boss would otherwise fail on them once connected.
  const schema = validateIdentifier(config.jobsSchema ?? 'pgboss', 'jobsSchema');
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
        ? startSession(config, ranges)
        : waitingOut(() => startSession(config, ranges), reconnect.outage, reconnect.signal));
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

function validatePlan(options: PlanBackfillOptions): Result<void, BackfillError> {
  const bad = (m: string): Result<void, BackfillError> => err(new BackfillError('INVALID_ARGUMENT', m));
  // A plan named like a key range (`nightly#range-3`) would share that range's checkpoint id.
  const runId = validRunId(options.runId, MAX_PLANNED_RUN_ID_LENGTH).andThen(() => plainRunId(options.runId));
  if (runId.isErr()) return runId;
  const { batchSize, rangeSize, maxDocuments } = options;
  const counts = integerOption('batchSize', batchSize, 1, MAX_BATCH_SIZE)
    .andThen(() => integerOption('rangeSize', rangeSize, 1, MAX_RANGE_SIZE))
    .andThen(() => integerOption('maxDocuments', maxDocuments, 1, MAX_DOCUMENTS_LIMIT));
  if (counts.isErr()) return counts;
  if (options.retrievedSince !== undefined && Number.isNaN(options.retrievedSince.getTime()))
    return bad('retrievedSince must be a valid Date.');
  return ok(undefined);
}

/**
 * Plans a run: cuts its keyspace (ascending `(retrievedAt, digest)`, from
 * `retrievedSince`, the first `maxDocuments` documents) into ranges of
 * `rangeSize` documents and enqueues one job per range. Idempotent per
 * `runId`: planning again returns the stored plan and re-enqueues the
 * ranges not yet completed (a range never has two jobs queued or running).
 * The plan fixes each range's bounds: a document inserted later inside a
 * range not yet finished is backfilled with it, one after the last range
 * is not. Under `maxDocuments` a range also stops after the documents it
 * was planned with, so the run never evaluates more than `maxDocuments`. A keyspace in which a digest occurs more than once is refused
 * with `DOCUMENT_INVALID` (see {@link PgRawDocumentSource.refuseRepeatedDigests}).
 * A run id a single-process run uses is refused: with `LOCKED` while
 * another session holds its run lock (that run, or a planner of the id
 * with another runs table), with `INVALID_ARGUMENT` once it has a
 * checkpoint. So is a new plan of an id whose key ranges have checkpoints
 * in the store (`INVALID_ARGUMENT`): a plan of it with another runs table
 * wrote them, and its ranges, cut with other bounds, would take them as
 * their own. A new plan is stored under that same run lock, so a
 * single-process `statements backfill --run-id` started at the same
 * moment either finds the plan in its runs table (and is refused) or holds
 * the run id first (and the plan is refused). A library
 * {@link StatementBackfiller.run} reads no runs table: with a
 * {@link PgStatementSink} it is refused the id only once a range of the
 * plan has committed a batch (see {@link PgStatementSink.lockRun}).
 *
 * @example
 * ```ts
 * const plan = await planBackfill({ connectionString: process.env.PGURI! }, { runId: 'nightly', batchSize: 500 });
 * if (plan.isErr()) throw plan.error;
 * console.log(`${plan.value.ranges.length} ranges queued`);
 * ```
 */
export function planBackfill(config: DistributedBackfillConfig, options: PlanBackfillOptions): ResultAsync<BackfillPlan, BackfillError> {
  return validatePlan(options).asyncAndThen(() => withSession(config, (s) => planIn(s, options)));
}

/**
 * The run's key ranges: `rangeSize` documents each, except at the end of
 * the keyspace, where the last two are cut again into ranges that halve down
 * to one batch (…, 4, 2, 1, 1 batches). Workers then finish at about the
 * same time: the one that takes the last range no longer keeps the others
 * waiting for most of a large range.
 */
function cutKeyspace(
  source: PgRawDocumentSource,
  planned: PlannedOptions,
  retrievedSince: Date | undefined,
): ResultAsync<readonly KeyRange[], BackfillError> {
  const since = retrievedSince === undefined ? {} : { retrievedSince };
  const scope = { ...since, ...(planned.maxDocuments === null ? {} : { maxDocuments: planned.maxDocuments }) };
  const unit = Math.min(planned.batchSize, planned.rangeSize);
  return source
    .refuseRepeatedDigests(scope)
    .andThen(() => source.keyRanges({ rangeSize: planned.rangeSize, ...scope }))
    .andThen((ranges) => {
      const tail = ranges.slice(-2);
      const start = tail[0]?.after ?? null;
      const end = tail.at(-1)?.through;
      if (unit === planned.rangeSize || end === undefined) return okAsync(ranges);
      // Bounded by the tail's last document, so one committed since the first pass cannot push it out of
      // every range; with maxDocuments by the tail's count too, so the plan never holds more.
      return source
        .keyRanges({
          rangeSize: unit,
          ...since,
          ...(start === null ? {} : { after: start }),
          until: end,
          ...(planned.maxDocuments === null ? {} : { maxDocuments: tail.reduce((n, r) => n + r.documents, 0) }),
        })
        .map((units) => [...ranges.slice(0, -2), ...halvingTail(units, planned.rangeSize / unit)]);
    });
}

/** Joins consecutive ranges of one batch each into ranges of 1, 1, 2, 4, … batches from the end, at most `most` batches. */
function halvingTail(units: readonly KeyRange[], most: number): KeyRange[] {
  const out: KeyRange[] = [];
  let end = units.length;
  for (let size = 1, k = 0; end > 0; k += 1, size = k < 2 ? 1 : Math.min(most, size * 2)) {
    const group = units.slice(Math.max(0, end - Math.floor(size)), end);
    end -= group.length;
    const first = group[0] as KeyRange;
    const last = group[group.length - 1] as KeyRange;
    out.unshift({ after: first.after, through: last.through, documents: group.reduce((n, r) => n + r.documents, 0) });
  }
  return out;
}

/** The checkpoint of each of the plan's ranges (`null` for a range not started), in two queries. */
function rangeCheckpoints(sink: PgStatementSink, plan: BackfillPlan): ResultAsync<(StoredCheckpoint | null)[], BackfillError> {
  const ids = plan.ranges.map((range) => rangeCheckpointId(plan.runId, range.n));
  return sink.loadCheckpoints(ids).map((found) => ids.map((id) => found.get(id) ?? null));
}

/** Stores the plan (or finds the stored one) and enqueues its ranges not yet completed. */
function planIn({ parts, queue }: Session, options: PlanBackfillOptions): ResultAsync<BackfillPlan, BackfillError> {
  const planned: PlannedOptions = {
    retrievedSince: options.retrievedSince?.toISOString() ?? null,
    force: options.force ?? false,
    maxDocuments: options.maxDocuments ?? null,
    stopOnError: options.stopOnError ?? false,
    batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
    rangeSize: options.rangeSize ?? DEFAULT_RANGE_SIZE,
  };
  return safeTry(async function* () {
    const existing = yield* parts.plans.loadPlan(options.runId);
    // Checked again under the run lock before the plan is stored; this first look spares cutting the keyspace of a run id that is taken.
    if (existing === null) yield* refuseSingleProcessRun(parts, options.runId);
    const ranges = existing === null ? yield* cutKeyspace(parts.source, planned, options.retrievedSince) : [];
    const stored = yield* parts.plans.savePlan(options.runId, planned, parts.tables, ranges, () =>
      lockThenCheck(
        parts.sink.lockRun(options.runId).orElse((refused) => runIdTaken(parts, options.runId, refused)),
        () => refuseSingleProcessRun(parts, options.runId),
      ),
    );
    const { sink } = parts.storeOf(stored);
    const checkpoints = yield* rangeCheckpoints(sink, stored);
    const todo: RangeJob[] = stored.ranges
      .filter((_, i) => !checkpoints[i]?.completed)
      .map((range) => ({ runId: stored.runId, n: range.n }));
    yield* queue.enqueue(todo);
    parts.logger.info('statement backfill planned', {
      runId: stored.runId,
      documents: stored.documents,
      ranges: stored.ranges.length,
      enqueued: todo.length,
    });
    return ok(stored);
  });
}

const singleProcessState = (single: StoredCheckpoint): string =>
  single.completed ? 'completed' : `stopped after ${single.counters.evaluated} documents`;

/**
 * Refuses to plan a run id that a single-process run already has a
 * checkpoint under: the plan would backfill its documents again under
 * range checkpoints, neither resuming that run nor matching it.
 */
function refuseSingleProcessRun(parts: Parts, runId: string): ResultAsync<void, BackfillError> {
  return parts.sink.loadCheckpoint(runId).andThen((single) => {
    if (single === null) return okAsync(undefined);
    return errAsync(
      new BackfillError(
        'INVALID_ARGUMENT',
        `run ${runId} is a single-process run (${singleProcessState(single)}); resume or report it without --workers (${singleProcessCommand(runId, single)}), or plan under another run id.`,
        { context: { runId } },
      ),
    );
  });
}

/**
 * Why a new plan could not take the run lock of its run id, said for a
 * planner. Its holder (`LOCKED`) is a single-process run, which has stored
 * no checkpoint yet when it has just started, or a planner of the id with
 * another runs table (planners of one runs table wait for each other
 * before they lock); the lock cannot tell which. Checkpoints of the id's
 * key ranges, with no plan of it in this runs table, were written by the
 * ranges of a plan in another runs table over the same checkpoints table.
 */
function runIdTaken(parts: Parts, runId: string, refused: BackfillError): ResultAsync<never, BackfillError> {
  const { holder, plannedBy } = refused.context;
  // The sink's lock refused an id whose key ranges have checkpoints (see PgStatementSink.lockRun).
  if (plannedBy !== undefined) {
    return errAsync(
      new BackfillError(
        'INVALID_ARGUMENT',
        `run ${runId} was planned before with another runs table than ${parts.plans.runsTable} (${String(plannedBy)}): plan, work and report it with that runs table to resume it, or plan under another run id.`,
        { cause: refused, context: refused.context },
      ),
    );
  }
  if (refused.code !== 'LOCKED') return errAsync(refused);
  // A single-process run that committed a batch has stored its options: the advice names them.
  return parts.sink
    .loadCheckpoint(runId)
    .orElse(() => okAsync(null))
    .andThen((single) =>
      errAsync(
        new BackfillError(
          'LOCKED',
          `run ${runId} is held by ${String(holder)}: a single-process run of it (let it finish, then resume or report it without --workers: ${singleProcessCommand(runId, single)}) or a planner of it with another runs table than ${parts.plans.runsTable}; or plan under another run id.`,
          { cause: refused, context: refused.context },
        ),
      ),
    );
}

/**
 * The sink of a single-process run under a run id of its caller's
 * choosing: once it holds the run lock, it refuses an id that `plans` has
 * a plan of, before the run loads its checkpoint. A planner takes the same
 * lock to store a new plan, so one of the two always sees the other.
 * Range runs of planned runs use the sink as it is. Prepare the sink first.
 */
export function singleProcessSink(sink: PgStatementSink, plans: PgBackfillPlanStore): StatementSink {
  return {
    ...preparedSink(sink),
    lockRun: (runId) =>
      lockThenCheck(sink.lockRun(runId), () => refusePlannedRun(runId, plans.loadPlan(runId), (plan) => `${plan.ranges.length} ranges`)),
  };
}

/**
 * The sink as a worker's ranges see it. The planner prepared the plan's
 * tables (and the worker its own, once when it started); `prepare()` per
 * range would take CREATE INDEX IF NOT EXISTS's share lock on the
 * statements table, which waits for the other workers' batch commits in
 * flight and holds up their next ones.
 */
function preparedSink(sink: PgStatementSink): StatementSink {
  return {
    loadCheckpoint: (runId) => sink.loadCheckpoint(runId),
    lockRun: (runId) => sink.lockRun(runId),
    existingDigests: (digests) => sink.existingDigests(digests),
    commitBatch: (batch) => sink.commitBatch(batch),
  };
}

/** A range's "Backfill completed" is not the run's: ranges log their outcome at debug level, warnings and errors as they are. */
function rangeLogger(logger: Logger): Logger {
  const debug = logger.debug?.bind(logger);
  return {
    ...(debug === undefined ? {} : { debug }),
    info: debug ?? (() => undefined),
    warn: (message, fields) => logger.warn(message, fields),
    error: (message, fields) => logger.error(message, fields),
  };
}

/** What a worker keeps across its jobs. */
interface WorkerContext {
  readonly parts: Parts;
  /** The backfiller of a run's store (its plan's tables). */
  backfillerOf(plan: BackfillPlan): StatementBackfiller;
  /** Plans never change once stored, so a worker reads each run's once. */
  readonly plans: Map<string, BackfillPlan>;
}

/**
 * The job's plan, read once per run. On that first read the worker also
 * notes its range as started: the run's rate counts from its earliest
 * started range, which is always some worker's first of the run, so the
 * other ranges need no commit of their own for it.
 */
async function planOf(w: WorkerContext, job: RangeJob): Promise<BackfillPlan | null> {
  const cached = w.plans.get(job.runId);
  if (cached !== undefined) return cached;
  const plan = await w.parts.plans.loadPlan(job.runId);
  if (plan.isErr()) throw plan.error;
  if (plan.value === null) return null;
  const started = await w.parts.plans.rangeStarted(job.runId, job.n);
  if (started.isErr()) throw started.error;
  w.plans.set(job.runId, plan.value);
  return plan.value;
}

/** A job this worker claimed, with its range's run (its first page read ahead), or `null` when no plan has the range. */
interface Claimed {
  readonly held: HeldJob;
  readonly target: { readonly plan: BackfillPlan; readonly backfiller: StatementBackfiller; readonly run: RangeRun } | null;
}

/**
 * Claims the next job, if one is ready, and starts reading its range's
 * first page, which overlaps the run lock and checkpoint round trips (and,
 * for a job claimed ahead, the end of the range before it).
 */
async function claim(w: WorkerContext, queue: RangeJobQueue, signal: AbortSignal): Promise<Claimed | null> {
  const taken = await queue.take();
  if (taken.isErr()) throw taken.error;
  const held = taken.value;
  if (held === null) return null;
  const { job } = held;
  try {
    const plan = await planOf(w, job);
    const range = plan?.ranges[job.n - 1];
    if (plan === null || range === undefined) return { held, target: null };
    const { options } = plan;
    const run: RangeRun = {
      checkpointId: rangeCheckpointId(job.runId, job.n),
      range,
      options: {
        ...(options.retrievedSince === null ? {} : { retrievedSince: new Date(options.retrievedSince) }),
        force: options.force,
        batchSize: options.batchSize,
        ...(options.maxDocuments === null ? {} : { maxDocuments: options.maxDocuments }),
        stopOnError: options.stopOnError,
        signal,
      },
    };
    const backfiller = w.backfillerOf(plan);
    return { held, target: { plan, backfiller, run: { ...run, firstPage: backfiller.readAhead(run) } } };
  } catch (error) {
    await held.fail(error);
    throw error;
  }
}

/**
 * Backfills one claimed range to its end or its stop; throws to leave the
 * job to the engine to retry. `onLastPageRead` is called once the range's
 * last page is read.
 */
async function runJob(w: WorkerContext, { held, target }: Claimed, onLastPageRead: () => void): Promise<void> {
  const { parts } = w;
  const { job } = held;
  if (target === null) {
    parts.logger.warn('statement backfill: a job names a range no plan has; dropped', { ...job });
    return;
  }
  const { options } = target.plan;
  const earlierStop = async (): Promise<boolean> => {
    const stop = await parts.plans.firstStop(job.runId);
    if (stop.isErr()) throw stop.error;
    return stop.value !== null && stop.value.n < job.n;
  };
  const done = await target.backfiller.runRange({
    ...target.run,
    onLastPageRead,
    ...(options.stopOnError ? { shouldStop: earlierStop } : {}),
  });
  if (done.isOk()) {
    if (options.stopOnError) {
      const cleared = await parts.plans.setStop(job.runId, job.n, null);
      if (cleared.isErr()) throw cleared.error;
    }
    return;
  }
  const { context } = done.error;
  if (context['stoppedByEarlierFailure'] === true) return;
  const failure = context['stopOnErrorFailure'] as BackfillFailure | undefined;
  if (failure !== undefined) {
    const recorded = await parts.plans.setStop(job.runId, job.n, failure);
    if (recorded.isErr()) throw recorded.error;
    parts.logger.error('statement backfill: a range stopped at a failing document (stopOnError)', {
      runId: job.runId,
      range: job.n,
      ...failure,
    });
    return;
  }
  throw done.error;
}

/**
 * Takes range jobs from the queue and backfills them, `concurrency` at a
 * time, until `signal` fires (or, with `untilDone`, until no job, of the
 * `runId` run if given, is queued, waiting for a retry, or running on any
 * host). A worker killed at any
 * moment loses nothing: its ranges' committed batches are checkpointed, and
 * the engine hands its job to another worker once its heartbeat stops; that
 * worker resumes the range from its checkpoint. Safe to run on many hosts.
 *
 * @example
 * ```ts
 * const worker = await runBackfillWorker({ connectionString: process.env.PGURI! }, { concurrency: 2, untilDone: true });
 * if (worker.isErr()) throw worker.error;
 * ```
 */
export function runBackfillWorker(
  config: DistributedBackfillConfig,
  options: BackfillWorkerOptions = {},
): ResultAsync<BackfillWorkerSummary, BackfillError> {
  const startedAt = Date.now();
  return validateWorker(config, options).asyncAndThen(() => {
    const outage = outageFor(config, options);
    return withSession(
      config,
      async (s) => {
        const worked = await workIn(s, config, options, startedAt, outage);
        if (worked.isErr() || !options.untilDone || options.signal?.aborted) return worked;
        return failedRunAmong(s.parts, worked.value, options.runId);
      },
      { ranges: options.concurrency ?? 1, reconnect: { outage, signal: options.signal } },
    );
  });
}

/**
 * An `untilDone` worker's summary, or the `RANGE_FAILED` error of the
 * first run it worked on (or waited for) that is `failed`: the queue holds
 * no more work for that run, but it did not complete.
 */
async function failedRunAmong(
  parts: Parts,
  summary: BackfillWorkerSummary,
  runId: string | undefined,
): Promise<Result<BackfillWorkerSummary, BackfillError>> {
  for (const run of new Set([...(runId === undefined ? [] : [runId]), ...summary.runs])) {
    // One query answers for a run with no failed job; only a failed one is added up, to name its ranges.
    const failing = await failingJobs(parts, run);
    if (failing.isErr()) return err(failing.error);
    if (failing.value.failed.size === 0) continue;
    const combined = await combineRun(parts, run);
    if (combined.isErr()) return err(combined.error);
    const { state, failedRanges } = combined.value.combined;
    if (state === 'failed') return err(rangeFailedError(run, failedRanges, summary));
  }
  return ok(summary);
}

/**
 * `statements backfill --workers N` in one call: plans the run, calls
 * `onPlanned` (to start the other workers), and works in this process
 * until the run has no job left (jobs of other runs in a shared queue are
 * left to their workers), on one pg-boss instance and one pool.
 */
export function planAndWork(
  config: DistributedBackfillConfig,
  plan: PlanBackfillOptions,
  worker: Omit<BackfillWorkerOptions, 'untilDone' | 'runId'>,
  onPlanned: (plan: BackfillPlan) => void,
): ResultAsync<BackfillWorkerSummary, BackfillError> {
  const startedAt = Date.now();
  return Result.combine([validatePlan(plan), validateWorker(config, worker)]).asyncAndThen(() =>
    withSession(
      config,
      (s) =>
        safeTry(async function* () {
          onPlanned(yield* planIn(s, plan));
          return await workIn(s, config, { ...worker, untilDone: true, runId: plan.runId }, startedAt, outageFor(config, worker));
        }),
      { ranges: worker.concurrency ?? 1 },
    ),
  );
}

function validateWorker(config: DistributedBackfillConfig, options: BackfillWorkerOptions): Result<void, BackfillError> {
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0 || threads > MAX_NORMALIZER_THREADS)
    return err(new BackfillError('INVALID_ARGUMENT', `threads must be an integer from 0 to ${MAX_NORMALIZER_THREADS}.`));
  if (threads > 0 && config.normalizers !== undefined && !areBuiltInNormalizers(config.normalizers))
    return err(
      new BackfillError(
        'INVALID_ARGUMENT',
        'threads normalize with the built-in normalizers only; leave normalizers out, or threads at 0.',
      ),
    );
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    return err(new BackfillError('INVALID_ARGUMENT', 'concurrency must be an integer from 1 to 64.'));
  if (options.runId !== undefined) {
    // No plan takes a key range's checkpoint id: a worker waiting for that run would wait for ever.
    const runId = validRunId(options.runId, MAX_PLANNED_RUN_ID_LENGTH).andThen(() => plainRunId(options.runId));
    if (runId.isErr()) return runId;
  }
  const { reconnectSeconds } = options;
  if (reconnectSeconds !== undefined && (!Number.isInteger(reconnectSeconds) || reconnectSeconds < 0))
    return err(new BackfillError('INVALID_ARGUMENT', 'reconnectSeconds must be a non-negative integer.'));
  return ok(undefined);
}

/**
 * How long the database has been unreachable for a worker: its loop and
 * slots note each lost connection and each round trip that worked; past
 * the limit the worker fails with `DB_CONNECTION`.
 */
class Outage {
  readonly #limitSeconds: number;
  readonly #logger: Logger;
  #since: number | undefined;
  #tries = 0;
  #last: BackfillError | undefined;

  constructor(limitSeconds: number, logger: Logger) {
    this.#limitSeconds = limitSeconds;
    this.#logger = logger;
  }

  get waiting(): boolean {
    return this.#since !== undefined;
  }

  /** A round trip to the database worked. */
  ended(): void {
    if (this.#since === undefined) return;
    this.#logger.info('statement backfill: the database is reachable again', { waitedMs: Date.now() - this.#since });
    this.#since = undefined;
    this.#tries = 0;
  }

  /** Notes `error` if it is a lost connection (to wait out; not a missing database or a rejected login) and says whether it was. */
  noted(error: unknown): boolean {
    if (!(error instanceof BackfillError) || !isPassingConnectionLoss(error)) return false;
    if (this.#since === undefined) {
      this.#since = Date.now();
      this.#logger.warn('statement backfill: the database is unreachable; waiting for it', {
        upToSeconds: this.#limitSeconds,
        error: error.message,
      });
    }
    this.#last = error;
    return true;
  }

  /** The next wait while the database is unreachable: 0.25 s doubling up to 5 s. */
  backoffMs(): number {
    const ms = Math.min(5000, 250 * 2 ** this.#tries);
    this.#tries += 1;
    return ms;
  }

  /** The error to fail with once the outage has lasted past the limit. */
  expired(): BackfillError | undefined {
    if (this.#since === undefined || Date.now() - this.#since < this.#limitSeconds * 1000) return undefined;
    return new BackfillError(
      'DB_CONNECTION',
      `the database was unreachable for ${this.#limitSeconds} s (${this.#last?.message ?? 'no connection'}); start workers again once it is back: its ranges resume from their checkpoints.`,
      { cause: this.#last, context: { reconnectSeconds: this.#limitSeconds } },
    );
  }
}

function outageFor(config: DistributedBackfillConfig, options: BackfillWorkerOptions): Outage {
  return new Outage(options.reconnectSeconds ?? DEFAULT_RECONNECT_SECONDS, config.logger ?? silentLogger);
}

/** Runs `step` until it works, waiting out an unreachable database with `outage`'s backoff, up to its limit. */
async function waitingOut<T>(
  step: () => Promise<Result<T, BackfillError>>,
  outage: Outage,
  signal: AbortSignal | undefined,
): Promise<Result<T, BackfillError>> {
  for (;;) {
    const done = await step();
    if (done.isOk()) {
      outage.ended();
      return done;
    }
    if (!outage.noted(done.error)) return done;
    const gaveUp = outage.expired();
    if (gaveUp !== undefined) return err(gaveUp);
    if (signal?.aborted) return err(new BackfillError('ABORTED', 'The worker was stopped while it waited for the database.'));
    await pause(outage.backoffMs(), signal);
  }
}

/** Resolves after `ms`, or at once when `signal` fires. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}

/** Takes jobs until `options.signal` fires or (with `untilDone`) no job is left anywhere. */
async function workIn(
  { parts, queue }: Session,
  config: DistributedBackfillConfig,
  options: BackfillWorkerOptions,
  startedAt: number,
  outage: Outage,
): Promise<Result<BackfillWorkerSummary, BackfillError>> {
  const backfillers = new Map<Store, StatementBackfiller>();
  await using threads = options.threads ? new NormalizerThreads({ threads: options.threads, logger: parts.logger }) : undefined;
  // The threads load while the worker waits for its first job.
  void threads?.start();
  const w: WorkerContext = {
    parts,
    backfillerOf: (plan) => {
      const store = parts.storeOf(plan);
      const backfiller =
        backfillers.get(store) ??
        new StatementBackfiller({
          source: store.source,
          sink: preparedSink(store.sink),
          normalizers: config.normalizers ?? defaultVexNormalizers,
          ...(threads === undefined ? {} : { normalizerThreads: threads }),
          logger: rangeLogger(parts.logger),
        });
      backfillers.set(store, backfiller);
      return backfiller;
    },
    plans: new Map(),
  };
  const workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const stopping = new AbortController();
  const onAbort = (): void => stopping.abort();
  // A signal that fired before the worker started stops it too (it fires no 'abort' event any more).
  if (options.signal?.aborted) stopping.abort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  let ranges = 0;
  let retried = 0;
  let running = 0;
  const beat = async (): Promise<void> => void (await parts.plans.heartbeat(workerId, hostname(), process.pid));
  await beat();
  const heartbeat = setInterval(() => void beat(), WORKER_HEARTBEAT_MS);
  const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));
  /**
   * One job at a time: once a range's last page is read, the slot claims
   * its next job, whose first page is then read while the range's last
   * batch is normalized and committed.
   */
  const slot = async (): Promise<void> => {
    let next: Promise<Claimed | null> | undefined;
    while (!stopping.signal.aborted) {
      let claimed: Claimed | null;
      try {
        claimed = await (next ?? claim(w, queue, stopping.signal));
        outage.ended();
      } catch (error) {
        if (!outage.noted(error)) parts.logger.warn('statement backfill: could not take a job; trying again', { error: message(error) });
        claimed = null;
      }
      next = undefined;
      if (claimed === null) {
        await pause(outage.waiting ? outage.backoffMs() : IDLE_POLL_MS, stopping.signal);
        continue;
      }
      const { job } = claimed.held;
      const jobStarted = Date.now();
      running += 1;
      try {
        await runJob(w, claimed, () => {
          if (stopping.signal.aborted) return;
          next = claim(w, queue, stopping.signal);
          next.catch(() => undefined);
        });
        ranges += 1;
        parts.logger.debug?.('statement backfill: range done', { ...job, ms: Date.now() - jobStarted });
        // Not settled, the job is handed out again once its heartbeats stop; the range is then found completed.
        const completed = await claimed.held.complete();
        if (completed.isErr())
          parts.logger.warn('statement backfill: could not mark a job done', { ...job, error: completed.error.message });
      } catch (error) {
        if (stopping.signal.aborted && error instanceof BackfillError && error.code === 'ABORTED') {
          // Stopped between batches: no failure, so no retry spent and no backoff before another worker takes it.
          parts.logger.debug?.('statement backfill: range stopped; its job goes back to the queue', { ...job });
          await release(claimed.held);
        } else {
          retried += 1;
          outage.noted(error);
          parts.logger.warn('statement backfill: range attempt failed; the engine retries it', { ...job, error: message(error) });
          await claimed.held.fail(error);
        }
      } finally {
        running -= 1;
        napping?.abort();
      }
    }
    // A job claimed ahead of a stop goes back to the queue.
    const left = await next?.catch(() => null);
    if (left) await release(left.held);
  };
  /** Hands a job back untried; if that fails, its heartbeats stop and the engine retries it. */
  const release = async (held: HeldJob): Promise<void> => {
    const released = await held.release();
    if (released.isErr())
      parts.logger.warn('statement backfill: could not hand a job back; it is retried once its heartbeats stop', {
        ...held.job,
        error: released.error.message,
      });
  };
  // The loop below naps until its next check, or until one of its ranges ends.
  let napping: AbortController | undefined;
  const nap = async (ms: number): Promise<void> => {
    napping = new AbortController();
    await pause(ms, AbortSignal.any([stopping.signal, napping.signal]));
  };
  let slots: Promise<unknown> = Promise.resolve();
  try {
    parts.logger.debug?.('statement backfill: worker ready', { workerId, startupMs: Date.now() - startedAt });
    if (options.untilDone && options.runId !== undefined) {
      const waited = await untilEnqueued(parts, queue, options.runId, stopping.signal, outage);
      if (waited.isErr()) return err(waited.error);
    }
    slots = Promise.all(Array.from({ length: options.concurrency ?? 1 }, slot));
    // With untilDone, a worker that finds no job left (of its runId's run, or anywhere) returns at
    // once, even at its start. While one of its ranges runs, only a worker waiting for one run asks
    // (that range may be another run's); for the others the range's end wakes the loop.
    while (!stopping.signal.aborted) {
      if (options.untilDone && (running === 0 || options.runId !== undefined)) {
        const pending = await queue.pending(options.runId ?? null);
        if (pending.isOk()) {
          outage.ended();
          if (pending.value === 0) break;
        } else if (!outage.noted(pending.error)) return err(pending.error);
      }
      const gaveUp = outage.expired();
      if (gaveUp !== undefined) return err(gaveUp);
      await nap(outage.waiting ? outage.backoffMs() : options.untilDone && running === 0 ? UNTIL_DONE_POLL_MS : WORKER_HEARTBEAT_MS);
    }
  } finally {
    clearInterval(heartbeat);
    options.signal?.removeEventListener('abort', onAbort);
    stopping.abort();
    await slots;
    await parts.plans.leave(workerId);
  }
  if (options.untilDone && ranges === 0 && !options.signal?.aborted) await warnIfNeverPlanned(parts, queue);
  return ok({ workerId, ranges, retried, runs: [...w.plans.keys()] });
}

/**
 * An `untilDone` worker that found no job of any run, not even a completed
 * one, most likely looks in another jobs schema (or plan store) than the
 * planner used: it says so rather than just reporting 0 ranges.
 */
async function warnIfNeverPlanned(parts: Parts, queue: RangeJobQueue): Promise<void> {
  const any = await queue.hasJobsOf(null);
  if (any.isOk() && !any.value)
    parts.logger.warn(
      `statement backfill: no job of any planned run is in jobs schema "${queue.schema}" for runs table ${parts.plans.runsTable}; ` +
        'if the runs were planned with --jobs-schema (jobsSchema) or --runs-table, give every worker the same flags.',
      { jobsSchema: queue.schema, runsTable: parts.plans.runsTable },
    );
}

/**
 * Waits until `runId`'s jobs are in the queue (they are enqueued in one
 * statement, after the plan is stored), or its stored plan has no range
 * left to run, or `signal` fires; waits out an unreachable database.
 */
async function untilEnqueued(
  parts: Parts,
  queue: RangeJobQueue,
  runId: string,
  signal: AbortSignal,
  outage: Outage,
): Promise<Result<void, BackfillError>> {
  const since = Date.now();
  let noteAt = since + UNPLANNED_NOTE_MS;
  while (!signal.aborted) {
    const enqueued = await queue.hasJobsOf(runId);
    if (enqueued.isErr()) {
      if (!outage.noted(enqueued.error)) return err(enqueued.error);
      const gaveUp = outage.expired();
      if (gaveUp !== undefined) return err(gaveUp);
      await pause(outage.backoffMs(), signal);
      continue;
    }
    outage.ended();
    if (enqueued.value) break;
    const run = await combineRun(parts, runId);
    if (run.isOk() && run.value.combined.state !== 'running') break;
    // A single-process run's id: planning refuses it, so waiting for its plan would wait for ever.
    if (run.isErr() && run.error.context['singleProcess'] === true) return err(run.error);
    const waited = Date.now() - since;
    if (Date.now() >= noteAt) {
      noteAt += 60_000;
      const why = run.isErr()
        ? `${run.error.message} Check --run-id and the table flags against the planner’s.`
        : `run ${runId} is planned, but ${enqueueAgainAdvice(runId)}.`;
      parts.logger.warn(`statement backfill: still waiting after ${Math.round(waited / 1000)} s: ${why}`, {
        runId,
        runsTable: parts.plans.runsTable,
      });
    }
    await pause(run.isOk() ? ENQUEUE_WAIT_PLANNED_MS : waited < UNPLANNED_NOTE_MS ? ENQUEUE_WAIT_MS : UNPLANNED_WAIT_MS, signal);
  }
  return ok(undefined);
}

interface Combined {
  readonly state: DistributedRunState;
  readonly counters: BackfillCounters;
  readonly lastCursor: DocumentCursor | null;
  readonly outcomeSha256: string;
  readonly failed: readonly BackfillFailure[];
  readonly completedRanges: number;
  readonly stop?: RangeStop;
  readonly failedRanges: readonly FailedRange[];
  readonly retrying: readonly RetryingRange[];
}

/** A run's ranges whose latest job failed, for good or for now (see `selectFailingRangeJobs`). */
interface FailingJobs {
  readonly failed: ReadonlyMap<number, string>;
  readonly retrying: ReadonlyMap<number, RetryingRange>;
}

/**
 * Adds the ranges up in keyspace order. With a stop, the ranges after the
 * stopped one do not count (a single process would not have reached them),
 * and the failing document counts as the single process counts it.
 */
function combine(
  plan: BackfillPlan,
  checkpoints: readonly (StoredCheckpoint | null)[],
  stop: RangeStop | null,
  failing: FailingJobs,
): Combined {
  let counters: BackfillCounters = { evaluated: 0, backfilled: 0, claimsWritten: 0, skipped: 0, failures: 0 };
  let sum = OUTCOME_SUM_ZERO;
  let lastCursor: DocumentCursor | null = null;
  const failed: BackfillFailure[] = [];
  const failedRanges: FailedRange[] = [];
  const retrying: RetryingRange[] = [];
  let completedRanges = 0;
  let allEarlierComplete = true;
  for (const [i, range] of plan.ranges.entries()) {
    if (stop !== null && range.n > stop.n) break;
    const cp = checkpoints[i] ?? null;
    if (cp?.completed) completedRanges += 1;
    else if (stop === null || range.n < stop.n) {
      allEarlierComplete = false;
      const error = failing.failed.get(range.n);
      if (error !== undefined) failedRanges.push({ n: range.n, error });
      const retried = failing.retrying.get(range.n);
      if (retried !== undefined) retrying.push(retried);
    }
    if (cp !== null) {
      const c = cp.counters;
      counters = {
        evaluated: counters.evaluated + c.evaluated,
        backfilled: counters.backfilled + c.backfilled,
        claimsWritten: counters.claimsWritten + c.claimsWritten,
        skipped: counters.skipped + c.skipped,
        failures: counters.failures + c.failures,
      };
      sum = addOutcomeSums(sum, cp.outcomeSha256);
      lastCursor = cp.cursor ?? lastCursor;
      failed.push(...cp.failed);
    }
  }
  if (stop !== null) {
    counters = { ...counters, evaluated: counters.evaluated + 1, failures: counters.failures + 1 };
    failed.push(stop.failure);
  }
  const state: DistributedRunState = !allEarlierComplete
    ? failedRanges.length > 0
      ? 'failed'
      : 'running'
    : stop !== null
      ? 'stopped'
      : 'completed';
  return {
    state,
    counters,
    lastCursor,
    outcomeSha256: sum,
    failed,
    completedRanges,
    failedRanges,
    retrying,
    ...(stop === null ? {} : { stop }),
  };
}

async function combineRun(parts: Parts, runId: string): Promise<Result<{ plan: BackfillPlan; combined: Combined }, BackfillError>> {
  const plan = await parts.plans.loadPlan(runId);
  // No plan tables yet: nothing was ever planned in this database (with these table names).
  if (plan.isErr() && plan.error.code !== 'TABLE_NOT_FOUND') return err(plan.error);
  if (plan.isErr() || plan.value === null) return err(await notPlanned(parts, runId, plan.isErr()));
  const checkpoints = await rangeCheckpoints(parts.storeOf(plan.value).sink, plan.value);
  if (checkpoints.isErr()) return err(checkpoints.error);
  const stop = plan.value.options.stopOnError ? await parts.plans.firstStop(runId) : ok(null);
  if (stop.isErr()) return err(stop.error);
  const failing = await failingJobs(parts, runId);
  if (failing.isErr()) return err(failing.error);
  return ok({ plan: plan.value, combined: combine(plan.value, checkpoints.value, stop.value, failing.value) });
}

/**
 * The `statements backfill` command that resumes or reports a single-process
 * run, with the flags that repeat its options (a rerun with other ones is
 * refused); bare for a run that stored no checkpoint yet.
 */
function singleProcessCommand(runId: string, single: StoredCheckpoint | null): string {
  if (single === null) return `statements backfill --run-id ${runId}`;
  const { retrievedSince, force, maxDocuments } = single.options;
  const since = retrievedSince === null ? '' : ` --retrieved-since ${retrievedSince}`;
  return `statements backfill --run-id ${runId}${since}${force ? ' --force' : ''}${maxDocuments === null ? '' : ` --max-documents ${maxDocuments}`}`;
}

/** Why `runId` has no plan: it is a single-process run's (then where its summary is), or nothing was planned under it. */
async function notPlanned(parts: Parts, runId: string, noRunsTable: boolean): Promise<BackfillError> {
  // No run takes such an id, and named in a message it could print like one that was.
  const unplannable = validRunId(runId, MAX_RUN_ID_LENGTH);
  if (unplannable.isErr()) return unplannable.error;
  // Only a plan's ranges take such an id: its checkpoint would read as a single-process run's.
  const range = rangeOfCheckpointId(runId);
  if (range !== undefined) {
    return new BackfillError(
      'INVALID_ARGUMENT',
      `run ${runId} is key range ${range.n} of the planned run ${range.runId}, not a run of its own: statements report --run-id ${range.runId} reports that run.`,
      { context: { runId, plannedRunId: range.runId, range: range.n } },
    );
  }
  const single = await parts.sink.loadCheckpoint(runId);
  if (single.isOk() && single.value !== null) {
    const next = single.value.completed ? 'prints its summary and report hash' : 'resumes it and then prints them';
    return new BackfillError(
      'INVALID_ARGUMENT',
      `run ${runId} is a single-process run (${singleProcessState(single.value)}), not a planned one: ${singleProcessCommand(runId, single.value)} ${next}.`,
      { context: { runId, singleProcess: true } },
    );
  }
  return new BackfillError(
    'INVALID_ARGUMENT',
    `run ${JSON.stringify(runId)} was never planned (${noRunsTable ? `no ${parts.plans.runsTable} table in this database` : `not in ${parts.plans.runsTable}`}); plan it with \`statements plan --run-id\` first.`,
    { context: { runId } },
  );
}

/** The ranges of `runId` whose latest job failed, for good or for now, with its last error (read from pg-boss's table, without starting pg-boss). */
function failingJobs(parts: Parts, runId: string): ResultAsync<FailingJobs, BackfillError> {
  const { text, values } = selectFailingRangeJobs(parts.jobs.schema, rangeQueueName(parts.jobs.queue), runId);
  type Row = { n: number; state: string; failedAttempts: number; attempts: number; message: string };
  return ResultAsync.fromPromise(parts.pool.query<Row>(text, [...values]), (e) => {
    const error = pgErrorToBackfill(e, { runId }, 'job engine (pg-boss)');
    // Only ever the wrong schema here: planning and workers install pg-boss's tables.
    return error.code === 'TABLE_NOT_FOUND'
      ? new BackfillError(
          'TABLE_NOT_FOUND',
          `jobs schema "${parts.jobs.schema}" has no pg-boss tables (${error.message}); give the --jobs-schema (jobsSchema) the run was planned with.`,
          { cause: error, context: { runId, jobsSchema: parts.jobs.schema } },
        )
      : error;
  }).map((r) => ({
    failed: new Map(r.rows.filter((row) => row.state === 'failed').map((row) => [row.n, row.message])),
    retrying: new Map(
      r.rows
        .filter((row) => row.state !== 'failed')
        .map(({ n, failedAttempts, attempts, message }) => [n, { n, failedAttempts, attempts, error: message }]),
    ),
  }));
}

/**
 * The report of a distributed run: the ranges' counters, failures and
 * outcome sums added up in keyspace order. A completed run's summary
 * sentence and report hash equal a single-process run's over the same
 * input and options, however many workers ran and however often they died.
 * A run id that was never planned is refused with `INVALID_ARGUMENT`,
 * which says when it is a single-process run's (whose summary
 * `StatementBackfiller.run({ runId })` gives).
 *
 * @example
 * ```ts
 * const report = await backfillReport({ connectionString: process.env.PGURI! }, 'nightly');
 * if (report.isOk() && report.value.state === 'completed') console.log(report.value.summary.text);
 * ```
 */
export function backfillReport(config: DistributedBackfillConfig, runId: string): ResultAsync<DistributedBackfillReport, BackfillError> {
  return withParts(config, async (parts) => {
    const run = await combineRun(parts, runId);
    if (run.isErr()) return err(run.error);
    const { plan, combined } = run.value;
    const summary = buildSummary({
      runId,
      resumed: false,
      state: combined.state === 'failed' ? 'stopped' : combined.state,
      report: {
        schemaVersion: REPORT_SCHEMA_VERSION,
        options: { retrievedSince: plan.options.retrievedSince, force: plan.options.force, maxDocuments: plan.options.maxDocuments },
        counters: combined.counters,
        lastCursor: combined.lastCursor,
        outcomeSha256: combined.outcomeSha256,
        failed: combined.failed,
      },
    });
    return ok({
      state: combined.state,
      summary,
      ...(combined.stop === undefined ? {} : { stoppedBy: combined.stop.failure }),
      ...(combined.state === 'failed' ? { failedRanges: combined.failedRanges } : {}),
      ...(combined.state === 'running' && combined.retrying.length > 0 ? { retrying: combined.retrying } : {}),
    });
  });
}

/**
 * Documents done out of the total, rate, ETA and workers alive, for any host to read.
 *
 * @example
 * ```ts
 * const progress = await backfillProgress({ connectionString: process.env.PGURI! }, 'nightly');
 * if (progress.isOk()) console.log(`${progress.value.done}/${progress.value.total}`);
 * ```
 */
export function backfillProgress(
  config: DistributedBackfillConfig,
  runId: string,
): ResultAsync<DistributedBackfillProgress, BackfillError> {
  return withParts(config, (parts) => progressOf(parts, runId));
}

/** A rate over recent reads: the documents done between the oldest read kept and the newest, per second between them. */
class RecentRate {
  /** The reads of the last {@link RECENT_RATE_SECONDS}, and the newest one before them, oldest first. */
  readonly #reads: { at: number; done: number }[] = [];

  /** Adds a read of `done` at `at` (ms); the rate it makes with the reads kept, or undefined at the first. */
  add(at: number, done: number): number | undefined {
    const reads = this.#reads;
    reads.push({ at, done });
    while (reads.length > 2 && (reads[1]?.at ?? at) <= at - RECENT_RATE_SECONDS * 1000) reads.shift();
    const oldest = reads[0];
    if (oldest === undefined || at <= oldest.at) return undefined;
    // A replan (force, other bounds) may start the count again.
    return Math.max(0, done - oldest.done) / ((at - oldest.at) / 1000);
  }
}

/**
 * Reads a run's progress as often as asked on one pool: a caller polling
 * every few seconds (the CLI's `--workers`) would otherwise connect anew
 * each time. Its rate (and so its ETA) is measured over its own reads of
 * the last minute, so a run resumed after its workers stood still for
 * hours shows the pace it goes at now.
 */
export class BackfillProgressReader {
  readonly #parts: Parts;
  readonly #rates = new Map<string, RecentRate>();

  constructor(config: DistributedBackfillConfig) {
    this.#parts = partsOf(config);
  }

  read(runId: string): ResultAsync<DistributedBackfillProgress, BackfillError> {
    let rate = this.#rates.get(runId);
    if (rate === undefined) {
      rate = new RecentRate();
      this.#rates.set(runId, rate);
    }
    const recent = rate;
    return ResultAsync.fromPromise(
      progressOf(this.#parts, runId, (done) => recent.add(Date.now(), done) ?? 0),
      (e) => toBackfillError(e, 'DB_ERROR'),
    ).andThen((r) => r);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#parts.close();
  }
}

/** The run's documents per second since its first range started. */
async function averageRate(parts: Parts, runId: string, done: number): Promise<Result<number, BackfillError>> {
  const first = await parts.plans.firstStarted(runId);
  if (first.isErr()) return err(first.error);
  const elapsed = first.value === null ? 0 : (Date.now() - first.value.getTime()) / 1000;
  return ok(elapsed > 0 ? done / elapsed : 0);
}

/** The run's progress; its rate is `rateOf(done)` when given (a reader's recent rate), else the run's average. */
async function progressOf(
  parts: Parts,
  runId: string,
  rateOf?: (done: number) => number,
): Promise<Result<DistributedBackfillProgress, BackfillError>> {
  const run = await combineRun(parts, runId);
  if (run.isErr()) return err(run.error);
  const { plan, combined } = run.value;
  const alive = await parts.plans.workersAlive(WORKER_ALIVE_SECONDS);
  if (alive.isErr()) return err(alive.error);
  const pending = combined.state === 'running' ? await pendingJobs(parts, runId) : ok(1);
  if (pending.isErr()) return err(pending.error);
  const done = combined.counters.evaluated;
  const measured = rateOf === undefined ? await averageRate(parts, runId, done) : ok(rateOf(done));
  if (measured.isErr()) return err(measured.error);
  const rate = measured.value;
  const left = Math.max(0, plan.documents - done);
  return ok({
    runId,
    state: combined.state,
    done,
    total: plan.documents,
    ranges: plan.ranges.length,
    rangesCompleted: combined.completedRanges,
    documentsPerSecond: rate,
    // A failed run has no end to estimate until it is planned again.
    ...(rate > 0 && combined.state !== 'failed' ? { etaSeconds: combined.state === 'running' ? left / rate : 0 } : {}),
    workersAlive: alive.value,
    retrying: combined.retrying,
    noJobQueued: pending.value === 0,
  });
}

/** Jobs of `runId` queued, waiting for a retry or running (read from pg-boss's table, without starting pg-boss). */
function pendingJobs(parts: Parts, runId: string): ResultAsync<number, BackfillError> {
  const { text, values } = countPendingJobs(parts.jobs.schema, rangeQueueName(parts.jobs.queue), runId);
  return ResultAsync.fromPromise(parts.pool.query<{ n: number }>(text, [...values]), (e) =>
    pgErrorToBackfill(e, { runId }, 'job engine (pg-boss)'),
  ).map((r) => r.rows[0]?.n ?? 0);
}

/** What to do about a planned run none of whose ranges has a job in the queue. */
export function enqueueAgainAdvice(runId: string): string {
  return `none of its ranges has a job in the queue: if its planner is no longer running (it stopped before it enqueued them), plan it again with the same options (statements plan --run-id ${runId}) to enqueue them`;
}
