/**
 * The worker of a distributed statement backfill: {@link runBackfillWorker}
 * (on any host) takes jobs and backfills each range with the same
 * per-batch transaction, checkpoint and run lock as a single process.
 *
 * @module
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { err, errAsync, ok, okAsync, Result, type ResultAsync, safeTry } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import { defaultVexNormalizers, MAX_BATCH_BYTES_LIMIT } from './defaults.js';
import type { HeldJob, RangeJob, RangeJobQueue } from './job-queue.js';
import type { BackfillPlan } from './pg-run-plan.js';
import type { BackfillFailure } from './ports.js';
import { areBuiltInNormalizers, MAX_NORMALIZER_THREADS, NormalizerThreads } from './normalizer-threads.js';
import { StatementBackfiller, type RangeRun } from './statement-backfiller.js';
import { integerOption, MAX_PLANNED_RUN_ID_LENGTH, plainRunId, validRunId } from './run-context.js';
import {
  pendingRunsWords,
  preparedSink,
  rangeCheckpointId,
  rangesNotFound,
  withSession,
  type DistributedBackfillConfig,
  type Parts,
  type Session,
  type Store,
} from './distributed-session.js';
import { Outage, pause } from './distributed-outage.js';
import { otherKitVersion, planIn, plannedByOtherKitVersion, validatePlan, type PlanBackfillOptions } from './distributed-plan.js';
import { combineRun, failingJobs, rangeFailedError } from './distributed-report.js';
import { enqueueAgainAdvice } from './distributed-progress.js';

/** Seconds a worker waits for an unreachable database before it fails with `DB_CONNECTION`, unless `reconnectSeconds` says otherwise. */
export const DEFAULT_RECONNECT_SECONDS = 60;

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
 * A worker without `untilDone` that has taken no job after
 * {@link UNPLANNED_NOTE_MS}, in a jobs schema where no run was ever planned,
 * says so (and again this often while it still has none).
 */
const NO_JOB_NOTE_MS = 10 * 60_000;
/**
 * A worker slot that handed back a job of a run planned by another kit
 * version waits this long before it asks for a job again. The job goes
 * back behind other runs' jobs (which the slot then reaches first) but
 * ready at once for that version's workers; with no other job to take,
 * the slot would otherwise claim and hand back the same job without end.
 */
const OTHER_VERSION_PAUSE_MS = 2000;

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
   * running anywhere (with `runId`: no such job of that run). Without it
   * the worker takes jobs until `signal` fires; one that has taken none
   * after 10 s, in a jobs schema holding no job of any run, warns (again
   * every 10 minutes) naming the jobs schema and runs table it watches.
   * Jobs of runs another kit version planned (a rolling deploy) are not
   * this worker's: without `runId` it hands them back, works every other
   * job, and then fails with `INVALID_ARGUMENT` if such jobs are still
   * pending, queued or running on that version's workers, which it does
   * not wait for (naming the runs and both versions), or returns if that
   * version's workers finished them meanwhile. With the `runId` of such a
   * run it fails at once.
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
  /**
   * Most bytes of document content one batch of a range reads (see
   * `StatementBackfillOptions.maxBatchBytes`): this worker's memory bound,
   * not the plan's, so workers on hosts of different sizes may differ. Each
   * range at once (`concurrency`) holds a batch and a page read ahead.
   * @defaultValue {@link DEFAULT_MAX_BATCH_BYTES} (64 MiB)
   */
  readonly maxBatchBytes?: number;
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
  /** Runs planned by another kit version, which this worker does not work nor wait for (see {@link otherKitVersion}). */
  readonly otherVersion: Map<string, BackfillPlan>;
  /** The worker's `maxBatchBytes`, if given. */
  readonly maxBatchBytes: number | undefined;
}

/**
 * The job's plan, read once per run. On that first read the worker also
 * notes its range as started: the run's rate counts from its earliest
 * started range, which is always some worker's first of the run, so the
 * other ranges need no commit of their own for it.
 */
async function planOf(w: WorkerContext, job: RangeJob): Promise<BackfillPlan | null> {
  const cached = w.plans.get(job.runId) ?? w.otherVersion.get(job.runId);
  if (cached !== undefined) return cached;
  const plan = await w.parts.plans.loadPlan(job.runId);
  if (plan.isErr()) throw plan.error;
  if (plan.value === null) return null;
  // Not this worker's to start: the range stays as the planner's version left it.
  if (plannedByOtherKitVersion(plan.value)) {
    w.otherVersion.set(job.runId, plan.value);
    return plan.value;
  }
  const started = await w.parts.plans.rangeStarted(job.runId, job.n);
  if (started.isErr()) throw started.error;
  w.plans.set(job.runId, plan.value);
  return plan.value;
}

/**
 * A job this worker claimed, with its range's run (its first page read
 * ahead), or `null` when no plan has the range or (`otherVersion`) another
 * kit version planned its run.
 */
interface Claimed {
  readonly held: HeldJob;
  readonly target: { readonly plan: BackfillPlan; readonly backfiller: StatementBackfiller; readonly run: RangeRun } | null;
  readonly otherVersion?: BackfillPlan;
  /** Why the job's range cannot be found: the ranges table holds none of its run's ranges (a mistyped one). */
  readonly refusal?: BackfillError;
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
    if (plan !== null && w.otherVersion.has(plan.runId)) return { held, target: null, otherVersion: plan };
    const refusal = plan === null || range !== undefined ? undefined : rangesNotFound(w.parts, plan);
    if (refusal !== undefined) return { held, target: null, refusal };
    if (plan === null || range === undefined) return { held, target: null };
    const { options } = plan;
    const run: RangeRun = {
      checkpointId: rangeCheckpointId(job.runId, job.n),
      range,
      options: {
        ...(options.retrievedSince === null ? {} : { retrievedSince: new Date(options.retrievedSince) }),
        force: options.force,
        batchSize: options.batchSize,
        ...(w.maxBatchBytes === undefined ? {} : { maxBatchBytes: w.maxBatchBytes }),
        ...(options.maxDocuments === null ? {} : { maxDocuments: options.maxDocuments }),
        maxClaimBytesPerDocument: options.maxClaimBytesPerDocument,
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
 * A job of a run that another version of backfill-kit planned (see
 * {@link BackfillPlan.kitVersion}) is handed back untouched, for that
 * version's workers: with `untilDone` of that run the worker then fails
 * with `INVALID_ARGUMENT` naming both versions (it would wait for ever);
 * otherwise it warns once per run and takes other runs' jobs, and with
 * `untilDone` of the whole queue, once no other job is left, fails the
 * same way if that run's jobs are still pending.
 * A worker that finds no job of any run in its queue (another jobs schema
 * or runs table than the planner's) warns through `config.logger`, naming
 * the runs with jobs pending under other runs tables of its jobs schema.
 * A runs table (`config.tables.runs`) that does not exist is refused at
 * once with `INVALID_ARGUMENT` (context `runsTable`, and `pendingElsewhere`
 * when runs have jobs pending under other runs tables), creating nothing:
 * only a planner creates it. With `untilDone` and `runId`, the worker
 * waits for it as for the plan (it may start before its planner); without
 * `untilDone` it waits for a planner to create it too (a worker may be
 * deployed before any run is planned), warning once, unless runs have jobs
 * pending under other runs tables.
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
        if (worked.isErr()) return err(worked.error);
        const { summary, leftToOtherVersions } = worked.value;
        if (!options.untilDone || options.signal?.aborted) return ok(summary);
        // A range of its own runs that failed for good says more than the jobs it left to another version.
        const failed = await failedRunAmong(s.parts, summary, options.runId);
        return failed.isErr() || leftToOtherVersions === undefined ? failed : err(leftToOtherVersions);
      },
      {
        ranges: options.concurrency ?? 1,
        reconnect: { outage, signal: options.signal },
        // One started with its run's planner waits for the plan, and so for its runs table; one serving until stopped may start before any plan.
        role: !options.untilDone ? 'serving worker' : options.runId !== undefined ? 'waiting worker' : 'worker',
      },
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
    const combined = await combineRun(parts, run, false);
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
          const signal = plan.signal ?? worker.signal;
          onPlanned(yield* planIn(s, signal === undefined ? plan : { ...plan, signal }, true));
          const worked = await workIn(s, config, { ...worker, untilDone: true, runId: plan.runId }, startedAt, outageFor(config, worker));
          return worked.map(({ summary }) => summary);
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
  const bytes = integerOption('maxBatchBytes', options.maxBatchBytes, 1, MAX_BATCH_BYTES_LIMIT);
  if (bytes.isErr()) return bytes;
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

function outageFor(config: DistributedBackfillConfig, options: BackfillWorkerOptions): Outage {
  return new Outage(options.reconnectSeconds ?? DEFAULT_RECONNECT_SECONDS, loggerOf(config.logger));
}

/** Takes jobs until `options.signal` fires or (with `untilDone`) no job is left anywhere. */
/** What a worker did, and (a whole-queue `untilDone` worker) the error for jobs it left to another kit version's workers, see {@link leftToOtherVersions}. */
interface WorkedQueue {
  readonly summary: BackfillWorkerSummary;
  readonly leftToOtherVersions?: BackfillError;
}

async function workIn(
  { parts, queue }: Session,
  config: DistributedBackfillConfig,
  options: BackfillWorkerOptions,
  startedAt: number,
  outage: Outage,
): Promise<Result<WorkedQueue, BackfillError>> {
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
    otherVersion: new Map(),
    maxBatchBytes: options.maxBatchBytes,
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
  /** Why this worker stops: it would wait for ever for a run planned by another kit version. */
  let refused: BackfillError | undefined;
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
      if (claimed.refusal !== undefined) {
        // Not dropped as a range no plan has: the worker's ranges table is the wrong one, the job is not.
        await release(claimed.held);
        refused ??= claimed.refusal;
        stopping.abort();
        continue;
      }
      if (claimed.otherVersion !== undefined) {
        await leaveToItsVersion(claimed.held, claimed.otherVersion);
        await pause(OTHER_VERSION_PAUSE_MS, stopping.signal);
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
  /** Hands a job back untried (`behindOthers`: behind other jobs, see `releaseClaimedJob`); if that fails, its heartbeats stop and the engine retries it. */
  const release = async (held: HeldJob, behindOthers = false): Promise<void> => {
    const released = await held.release(behindOthers);
    if (released.isErr())
      parts.logger.warn('statement backfill: could not hand a job back; it is retried once its heartbeats stop', {
        ...held.job,
        error: released.error.message,
      });
  };
  const warnedOf = new Set<string>();
  /**
   * Hands back untouched a job of a run another kit version planned. A
   * worker that waits for that run (`untilDone` of it) would wait for
   * ever: it stops with the error. Any other warns (once per run) and
   * leaves the run's jobs to that version's workers (a whole-queue
   * `untilDone` worker is told of those still pending when it ends, see
   * {@link leftToOtherVersions}).
   */
  const leaveToItsVersion = async (held: HeldJob, plan: BackfillPlan): Promise<void> => {
    const waitsForIt = options.untilDone === true && options.runId === plan.runId;
    // Ready at once for that version's workers, behind the other runs' jobs this worker takes meanwhile.
    await release(held, !waitsForIt);
    const advice = itsVersionAdvice(plan);
    if (waitsForIt) {
      refused ??= otherKitVersion(plan, `this worker handed its job back untouched and stops; ${advice}`);
      stopping.abort();
      return;
    }
    if (warnedOf.has(plan.runId)) return;
    warnedOf.add(plan.runId);
    const error = otherKitVersion(plan, `this worker hands its jobs back untouched and takes other runs' jobs; ${advice}`);
    parts.logger.warn(`statement backfill: ${error?.message}`, { ...error?.context });
  };
  /** Runs with jobs pending whose plan the loop below read and found this version's (or none), so it reads each once. */
  const ofThisVersion = new Set<string>();
  /**
   * Jobs pending in the queue of the runs this worker may work (a
   * whole-queue `untilDone` worker's end): a run another kit version
   * planned is told by its plan, read once, whether or not a slot met one
   * of its jobs, since that version's workers may be running every one of
   * them (for hours), and they are not this worker's to wait for.
   */
  const pendingOfThisVersion = async (): Promise<Result<number, BackfillError>> => {
    const byRun = await queue.pendingByRun();
    if (byRun.isErr()) return err(byRun.error);
    let n = 0;
    for (const [runId, jobs] of byRun.value) {
      if (runId !== null && w.otherVersion.has(runId)) continue;
      if (runId !== null && !w.plans.has(runId) && !ofThisVersion.has(runId)) {
        const plan = await parts.plans.loadPlan(runId);
        if (plan.isErr()) return err(plan.error);
        if (plan.value !== null && plannedByOtherKitVersion(plan.value)) {
          w.otherVersion.set(runId, plan.value);
          continue;
        }
        ofThisVersion.add(runId);
      }
      n += jobs;
    }
    return ok(n);
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
    // Awaited once the worker stops (below, where a slot's failure fails the worker). Listened to
    // now: a slot that fails meanwhile would be an unhandled rejection, and the worker would wait
    // on without it (for ever, for the job it held); it stops the worker instead.
    slots.catch(() => stopping.abort());
    const waitingSince = Date.now();
    let noJobNoteAt = waitingSince + UNPLANNED_NOTE_MS;
    // With untilDone, a worker that finds no job left (of its runId's run, or anywhere) returns at
    // once, even at its start. While one of its ranges runs, only a worker waiting for one run asks
    // (that range may be another run's); for the others the range's end wakes the loop. Jobs of runs
    // another kit version planned are not its to wait for (its slots hand them back).
    while (!stopping.signal.aborted) {
      if (options.untilDone && (running === 0 || options.runId !== undefined)) {
        const pending = options.runId === undefined ? await pendingOfThisVersion() : await queue.pending(options.runId);
        if (pending.isOk()) {
          outage.ended();
          if (pending.value === 0) break;
        } else if (!outage.noted(pending.error)) return err(pending.error);
      }
      const gaveUp = outage.expired();
      if (gaveUp !== undefined) return err(gaveUp);
      // One that waits for jobs for ever says when none ever came: its jobs schema or runs table may be mistyped.
      if (!options.untilDone && ranges + retried + running === 0 && Date.now() >= noJobNoteAt) {
        noJobNoteAt = Date.now() + NO_JOB_NOTE_MS;
        await warnIfNeverPlanned(parts, queue, Date.now() - waitingSince);
      }
      await nap(outage.waiting ? outage.backoffMs() : options.untilDone && running === 0 ? UNTIL_DONE_POLL_MS : WORKER_HEARTBEAT_MS);
    }
  } finally {
    clearInterval(heartbeat);
    options.signal?.removeEventListener('abort', onAbort);
    stopping.abort();
    await slots;
    await parts.plans.leave(workerId);
  }
  if (refused !== undefined) return err(refused);
  let leftToOthers: BackfillError | undefined;
  if (options.untilDone && options.runId === undefined && !options.signal?.aborted) {
    const left = await leftToOtherVersions(queue, [...w.otherVersion.values()]);
    if (left.isErr()) leftToOthers = left.error;
  }
  // A worker of one run found its plan (else it would still wait): one with nothing to do (no document from
  // retrievedSince) has no job to find, so no job anywhere says nothing about its flags.
  if (options.untilDone && options.runId === undefined && ranges === 0 && !options.signal?.aborted) await warnIfNeverPlanned(parts, queue);
  return ok({
    summary: { workerId, ranges, retried, runs: [...w.plans.keys()] },
    ...(leftToOthers === undefined ? {} : { leftToOtherVersions: leftToOthers }),
  });
}

/** What a worker that hands back a run's jobs says to do about it. */
const itsVersionAdvice = (plan: BackfillPlan): string =>
  `run workers of backfill-kit ${plan.kitVersion} for it, or plan a new run id with this version (statements plan --run-id <new id>).`;

/**
 * The end of a whole-queue `untilDone` worker, once no job it can work is
 * left: `INVALID_ARGUMENT` when runs another kit version planned, whose
 * jobs it handed back, still have jobs pending (it returns without them
 * done), naming the first such run, both versions and the others; nothing
 * when that version's workers finished them meanwhile.
 */
function leftToOtherVersions(queue: RangeJobQueue, plans: readonly BackfillPlan[]): ResultAsync<void, BackfillError> {
  return queue.pendingByRun().andThen((byRun) => {
    const counts = plans.map((plan) => ({ plan, n: byRun.get(plan.runId) ?? 0 }));
    const [first, ...more] = counts.filter((c) => c.n > 0);
    if (first === undefined) return okAsync(undefined);
    const others = more.map((c) => `${c.plan.runId} (backfill-kit ${c.plan.kitVersion}, ${c.n} pending)`);
    const also = others.length === 0 ? '' : ` So are the jobs of ${others.length === 1 ? 'run' : 'runs'} ${others.join(', ')}.`;
    const refused = otherKitVersion(
      first.plan,
      `this worker did every job of the runs it works, left this run's jobs untouched, and stops with ${first.n} of them pending; ${itsVersionAdvice(first.plan)}${also}`,
      { pendingJobs: first.n, ...(more.length === 0 ? {} : { otherRuns: more.map((c) => c.plan.runId) }) },
    );
    return refused === undefined ? okAsync(undefined) : errAsync(refused);
  });
}

/**
 * An `untilDone` worker that found no job of any run, not even a completed
 * one, most likely looks in another jobs schema (or plan store) than the
 * planner used: it says so rather than just reporting 0 ranges. So does a
 * worker without `untilDone` still waiting for its first job (`waitedMs`),
 * rather than waiting without a word. When the jobs schema holds pending
 * jobs of runs planned with another runs table (a mistyped `--runs-table`,
 * whose queue is another), it names those runs and their runs table.
 */
async function warnIfNeverPlanned(parts: Parts, queue: RangeJobQueue, waitedMs?: number): Promise<void> {
  const any = await queue.hasJobsOf(null);
  if (any.isErr() || any.value) return;
  const waited = waitedMs === undefined ? '' : `no job has arrived in ${Math.round(waitedMs / 1000)} s, and `;
  const still = waitedMs === undefined ? '' : ' Still waiting.';
  const none = `statement backfill: ${waited}no job of any planned run is in jobs schema "${queue.schema}" for runs table ${parts.plans.runsTable}`;
  const fields = { jobsSchema: queue.schema, runsTable: parts.plans.runsTable };
  const elsewhere = await queue.pendingElsewhere();
  const others = elsewhere.isOk() ? elsewhere.value : [];
  if (others.length === 0) {
    parts.logger.warn(
      `${none}; if the runs were planned with --jobs-schema (jobsSchema) or --runs-table, give every worker the same flags.${still}`,
      fields,
    );
    return;
  }
  parts.logger.warn(
    `${none}, but it holds pending jobs of ${pendingRunsWords(others)}: give every worker the --runs-table (tables.runs) those runs were planned with.${still}`,
    { ...fields, pendingElsewhere: others },
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
    const run = await combineRun(parts, runId, false);
    if (run.isOk() && run.value.combined.state !== 'running') break;
    // A single-process run's id: planning refuses it, so waiting for its plan would wait for ever.
    if (run.isErr() && run.error.context['singleProcess'] === true) return err(run.error);
    // Planned with other job tables, or with another runs table (whose queue is another): its jobs never come here.
    if (run.isErr() && (run.error.context['plannedJobsSchema'] !== undefined || run.error.context['plannedRunsTable'] !== undefined))
      return err(run.error);
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
