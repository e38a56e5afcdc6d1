/**
 * The report of a distributed statement backfill: {@link backfillReport}
 * adds the ranges up to the summary of a single-process run, and names the
 * ranges that failed or are being retried.
 *
 * @module
 */
import { err, ok, type Result, ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { REPORT_SCHEMA_VERSION } from './defaults.js';
import { rangeQueueName } from './job-queue.js';
import { selectFailingRangeJobs } from './sql.js';
import { pgErrorToBackfill } from '../_internals/pg.js';
import type { BackfillPlan, RangeStop } from './pg-run-plan.js';
import type { BackfillCounters, BackfillFailure, DocumentCursor, StoredCheckpoint } from './ports.js';
import { MAX_RUN_ID_LENGTH, rangeOfCheckpointId, validRunId } from './run-context.js';
import { addOutcomeSums, buildSummary, OUTCOME_SUM_ZERO, type BackfillSummary } from './summary.js';
import {
  mistypedPlanTable,
  noRunsTableWords,
  pendingElsewhere,
  rangesNotFound,
  withParts,
  type DistributedBackfillConfig,
  type Parts,
} from './distributed-session.js';
import { rangeCheckpoints, singleProcessCommand, singleProcessState } from './distributed-plan.js';

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
  /**
   * The version of backfill-kit that planned the run (see
   * {@link BackfillPlan.kitVersion}); `null` for a plan stored before plans
   * recorded it. Only workers of that version work the run; any version
   * reports it.
   */
  readonly kitVersion: string | null;
}

export interface Combined {
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
export interface FailingJobs {
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
      // Not spread into one call: a range may have more failures than a call takes arguments.
      for (const f of cp.failed) failed.push(f);
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

/**
 * The run's plan and its ranges added up. Without `failures` the ranges'
 * recorded failures are not read (`combined.failed` holds only a stop's):
 * where the run stands (progress, a worker's checks) needs none of them,
 * and a run may have recorded millions.
 */
export async function combineRun(
  parts: Parts,
  runId: string,
  failures = true,
): Promise<Result<{ plan: BackfillPlan; combined: Combined }, BackfillError>> {
  const plan = await parts.plans.loadPlan(runId);
  if (plan.isErr() && plan.error.code !== 'TABLE_NOT_FOUND') return err(plan.error);
  // A runs table without its ranges table: that one was mistyped. No runs table: nothing was ever planned in this
  // database (with these table names).
  const mistyped = plan.isErr() ? await mistypedPlanTable(parts) : undefined;
  if (mistyped !== undefined) return err(mistyped);
  if (plan.isErr() || plan.value === null) return err(await notPlanned(parts, runId, plan.isErr()));
  const noRanges = rangesNotFound(parts, plan.value);
  if (noRanges !== undefined) return err(noRanges);
  const { jobsSchema } = plan.value;
  if (jobsSchema !== null && jobsSchema !== parts.jobs.schema) {
    // Its jobs are not in this schema: counted here, the run would look stalled with none queued, and replanned its ranges would be queued twice.
    return err(
      new BackfillError(
        'INVALID_ARGUMENT',
        `run ${runId} was planned with jobs schema ${JSON.stringify(jobsSchema)}, where its jobs are, not ${JSON.stringify(parts.jobs.schema)}; give --jobs-schema (jobsSchema) ${jobsSchema}.`,
        { context: { runId, jobsSchema: parts.jobs.schema, plannedJobsSchema: jobsSchema } },
      ),
    );
  }
  const checkpoints = await rangeCheckpoints(parts.storeOf(plan.value).sink, plan.value, failures);
  if (checkpoints.isErr()) return err(checkpoints.error);
  const stop = plan.value.options.stopOnError ? await parts.plans.firstStop(runId) : ok(null);
  if (stop.isErr()) return err(stop.error);
  const failing = await failingJobs(parts, runId);
  if (failing.isErr()) return err(failing.error);
  return ok({ plan: plan.value, combined: combine(plan.value, checkpoints.value, stop.value, failing.value) });
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
  const where = noRunsTable ? `no ${parts.plans.runsTable} table in this database` : `not in ${parts.plans.runsTable}`;
  // Its jobs pending under another runs table's queue: planned there (a mistyped --runs-table here), not never.
  const planned = (await pendingElsewhere(parts, runId))[0]?.runsTable;
  if (planned !== undefined && planned !== null) {
    return new BackfillError(
      'INVALID_ARGUMENT',
      `run ${JSON.stringify(runId)} is not planned in this runs table (${where}), but jobs schema "${parts.jobs.schema}" holds pending jobs of it planned with runs table ${planned}; give --runs-table (tables.runs) ${planned}.`,
      { context: { runId, runsTable: parts.plans.runsTable, plannedRunsTable: planned } },
    );
  }
  if (noRunsTable)
    return new BackfillError(
      'INVALID_ARGUMENT',
      `run ${JSON.stringify(runId)} was never planned: ${noRunsTableWords(parts)}; check --runs-table (tables.runs), or plan it first (statements plan --run-id ${runId}).`,
      { context: { runId, runsTable: parts.plans.runsTable } },
    );
  return new BackfillError(
    'INVALID_ARGUMENT',
    `run ${JSON.stringify(runId)} was never planned (${where}); plan it with \`statements plan --run-id\` first.`,
    { context: { runId } },
  );
}

/** The ranges of `runId` whose latest job failed, for good or for now, with its last error (read from pg-boss's table, without starting pg-boss). */
export function failingJobs(parts: Parts, runId: string): ResultAsync<FailingJobs, BackfillError> {
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
 * `StatementBackfiller.run({ runId })` gives), or when its jobs are
 * pending under another runs table in the jobs schema (context
 * `plannedRunsTable`: the run was planned with that runs table).
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
      kitVersion: plan.kitVersion,
    });
  });
}
