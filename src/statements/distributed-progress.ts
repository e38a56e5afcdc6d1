/**
 * The progress of a distributed statement backfill: {@link backfillProgress}
 * reads where the run is from any host; {@link BackfillProgressReader}
 * reads it again and again on one pool, at the pace the run goes now.
 *
 * @module
 */
import { err, ok, type Result, ResultAsync } from 'neverthrow';
import { toBackfillError, type BackfillError } from '../errors.js';
import { rangeQueueName } from './job-queue.js';
import { countPendingJobs } from './sql.js';
import { pgErrorToBackfill } from '../_internals/pg.js';
import { mistypedPlanTable, partsOf, withParts, type DistributedBackfillConfig, type Parts } from './distributed-session.js';
import { combineRun, type DistributedRunState, type RetryingRange } from './distributed-report.js';

/** A worker whose heartbeat is older than this is not counted as alive. */
const WORKER_ALIVE_SECONDS = 15;
/** The span of reads a {@link BackfillProgressReader} measures its rate over. */
const RECENT_RATE_SECONDS = 60;

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
  // Where the run stands needs none of its failures, read again at each poll.
  const run = await combineRun(parts, runId, false);
  if (run.isErr()) return err(run.error);
  const { plan, combined } = run.value;
  const alive = await parts.plans.workersAlive(WORKER_ALIVE_SECONDS);
  if (alive.isErr()) return err(alive.error.code === 'TABLE_NOT_FOUND' ? ((await mistypedPlanTable(parts)) ?? alive.error) : alive.error);
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
