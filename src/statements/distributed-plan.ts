/**
 * Planning a distributed statement backfill: {@link planBackfill} cuts a
 * run's keyspace into key ranges and enqueues one job per range; a run id
 * belongs either to a plan or to a single-process run, never to both.
 *
 * @module
 */
import { err, errAsync, ok, okAsync, type Result, type ResultAsync, safeTry } from 'neverthrow';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import { kitVersion, UNKNOWN_KIT_VERSION } from '../_internals/package-json.js';
import { parseQualifiedName } from '../_internals/sql-identifier.js';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT,
  MAX_BATCH_SIZE,
  MAX_CLAIM_BYTES_PER_DOCUMENT_LIMIT,
} from './defaults.js';
import type { RangeJob } from './job-queue.js';
import type { PgRawDocumentSource } from './pg-raw-document-source.js';
import { lockThenCheck, refusePlannedRun } from './pg-run-lock.js';
import type { PgStatementSink } from './pg-statement-sink.js';
import type { BackfillPlan, PgBackfillPlanStore, PlannedOptions } from './pg-run-plan.js';
import type { KeyRange, StatementSink, StoredCheckpoint } from './ports.js';
import { integerOption, MAX_DOCUMENTS_LIMIT, MAX_PLANNED_RUN_ID_LENGTH, plainRunId, validRunId } from './run-context.js';
import {
  preparedSink,
  rangeCheckpointId,
  rangesNotFound,
  withSession,
  type DistributedBackfillConfig,
  type Parts,
  type Session,
} from './distributed-session.js';

/** Documents per key range (one job) unless `rangeSize` says otherwise. */
export const DEFAULT_RANGE_SIZE = 1000;

/** Largest `rangeSize`: the runs table stores it, and each range's document count, as a PostgreSQL `integer`. */
export const MAX_RANGE_SIZE = 2_147_483_647;

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
   * Most bytes of claims one document may make (see
   * `StatementBackfillOptions.maxClaimBytesPerDocument`); the plan records
   * it, so every worker fails the same documents.
   * @defaultValue {@link DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT} (64 MiB)
   */
  readonly maxClaimBytesPerDocument?: number;
  /**
   * Documents per key range, i.e. per job (1 to {@link MAX_RANGE_SIZE}); the last ranges of the keyspace are cut smaller, halving down to one batch.
   * @defaultValue {@link DEFAULT_RANGE_SIZE}
   */
  readonly rangeSize?: number;
  /**
   * Stops planning before the plan is stored (`ABORTED`; nothing is
   * planned). Once the plan is being stored, it and the enqueueing of its
   * jobs finish: a plan stored without its jobs would wait for a replan.
   */
  readonly signal?: AbortSignal;
}

export function validatePlan(options: PlanBackfillOptions): Result<void, BackfillError> {
  const bad = (m: string): Result<void, BackfillError> => err(new BackfillError('INVALID_ARGUMENT', m));
  // A plan named like a key range (`nightly#range-3`) would share that range's checkpoint id.
  const runId = validRunId(options.runId, MAX_PLANNED_RUN_ID_LENGTH).andThen(() => plainRunId(options.runId));
  if (runId.isErr()) return runId;
  const { batchSize, rangeSize, maxDocuments, maxClaimBytesPerDocument } = options;
  const counts = integerOption('batchSize', batchSize, 1, MAX_BATCH_SIZE)
    .andThen(() => integerOption('rangeSize', rangeSize, 1, MAX_RANGE_SIZE))
    .andThen(() => integerOption('maxClaimBytesPerDocument', maxClaimBytesPerDocument, 1, MAX_CLAIM_BYTES_PER_DOCUMENT_LIMIT))
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
 * their own; and one of an id that another runs table of the database
 * holds a plan of over the same checkpoints table, before any of its
 * ranges ran (`INVALID_ARGUMENT`, context `plannedRunsTable`). A new plan is stored under that same run lock, so a
 * single-process `statements backfill --run-id` started at the same
 * moment either finds the plan in its runs table (and is refused) or holds
 * the run id first (and the plan is refused). A library
 * {@link StatementBackfiller.run} reads no runs table: with a
 * {@link PgStatementSink} it is refused the id only once a range of the
 * plan has committed a batch (see {@link PgStatementSink.lockRun}).
 * A backfill-kit that cannot tell its own version (its sources run where
 * the package.json beside them is another package's) plans no new run
 * (`INVALID_ARGUMENT`, nothing stored or enqueued): no worker would work it.
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

/** The checkpoint of each of the plan's ranges (`null` for a range not started), in two queries (one without their failures). */
export function rangeCheckpoints(
  sink: PgStatementSink,
  plan: BackfillPlan,
  failures = true,
): ResultAsync<(StoredCheckpoint | null)[], BackfillError> {
  const ids = plan.ranges.map((range) => rangeCheckpointId(plan.runId, range.n));
  return sink.loadCheckpoints(ids, { failures }).map((found) => ids.map((id) => found.get(id) ?? null));
}

/** `ABORTED` once the planner was asked to stop, before its plan is stored. */
function notAborted(options: PlanBackfillOptions): Result<void, BackfillError> {
  return options.signal?.aborted
    ? err(
        new BackfillError('ABORTED', `planning run ${options.runId} was interrupted before its plan was stored: nothing was planned.`, {
          context: { runId: options.runId },
        }),
      )
    : ok(undefined);
}

/**
 * The refusal of a new plan by a backfill-kit that cannot tell its version:
 * the plan would record one no worker matches, not even this kit's own, and
 * its jobs would stay in the shared queue for good.
 */
function unknownKitVersion(runId: string): BackfillError {
  return new BackfillError(
    'INVALID_ARGUMENT',
    `run ${runId}: this backfill-kit cannot tell its own version (the package.json beside its sources is not @stella/backfill-kit's), and no worker, not even one of this kit, works a run planned by an unknown version; plan it with an installed or built backfill-kit. Nothing was stored or enqueued.`,
    { context: { runId, kitVersion: UNKNOWN_KIT_VERSION } },
  );
}

/**
 * Stores the plan (or finds the stored one) and enqueues its ranges not yet
 * completed. A backfill-kit that cannot tell its version plans no new run
 * (`INVALID_ARGUMENT`): no worker would work it. With `sameKitVersion` (a planner that then works the run
 * itself), a run planned before by another version of backfill-kit is
 * refused before anything is enqueued (see {@link otherKitVersion}); a
 * plain replan of it keeps the version that planned it.
 */
export function planIn(
  { parts, queue }: Session,
  options: PlanBackfillOptions,
  sameKitVersion = false,
): ResultAsync<BackfillPlan, BackfillError> {
  const planned: PlannedOptions = {
    retrievedSince: options.retrievedSince?.toISOString() ?? null,
    force: options.force ?? false,
    maxDocuments: options.maxDocuments ?? null,
    stopOnError: options.stopOnError ?? false,
    batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
    rangeSize: options.rangeSize ?? DEFAULT_RANGE_SIZE,
    maxClaimBytesPerDocument: options.maxClaimBytesPerDocument ?? DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT,
  };
  return safeTry(async function* () {
    const existing = yield* parts.plans.loadPlan(options.runId);
    if (existing !== null && sameKitVersion) {
      const refused = otherKitVersion(
        existing,
        `resume it with backfill-kit ${existing.kitVersion} (the same command), or backfill under a new --run-id with this version. Nothing was enqueued or backfilled.`,
      );
      if (refused !== undefined) return err(refused);
    }
    if (existing === null && kitVersion() === UNKNOWN_KIT_VERSION) return err(unknownKitVersion(options.runId));
    // Checked again under the run lock before the plan is stored; this first look spares cutting the keyspace of a run id that is taken.
    if (existing === null) yield* refuseTakenRunId(parts, options.runId);
    yield* notAborted(options);
    const ranges = existing === null ? yield* cutKeyspace(parts.source, planned, options.retrievedSince) : [];
    // Cutting a large keyspace takes a while: a stop asked for meanwhile is honoured before anything is stored.
    yield* notAborted(options);
    const stored = yield* parts.plans.savePlan(
      options.runId,
      planned,
      parts.tables,
      ranges,
      () =>
        lockThenCheck(
          parts.sink.lockRun(options.runId).orElse((refused) => runIdTaken(parts, options.runId, refused)),
          () => refuseTakenRunId(parts, options.runId),
        ),
      queue.schema,
    );
    // A replan given a ranges table that holds none of the run's ranges (a mistyped --ranges-table) would enqueue nothing and say it did.
    const noRanges = rangesNotFound(parts, stored);
    if (noRanges !== undefined) return err(noRanges);
    const { sink } = parts.storeOf(stored);
    const checkpoints = yield* rangeCheckpoints(sink, stored, false);
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

/**
 * Why this process may not work `plan`'s ranges, or `undefined`: the run
 * was planned by another version of backfill-kit, whose normalizers may
 * differ, so its statements would mix both versions' output and its report
 * hash match neither. A plan that recorded no version (stored before plans
 * recorded it) is worked as before. `advice` says what to do instead;
 * `context` adds to the error's.
 */
export function otherKitVersion(plan: BackfillPlan, advice: string, context: BackfillErrorContext = {}): BackfillError | undefined {
  if (!plannedByOtherKitVersion(plan)) return undefined;
  const mine = kitVersion();
  return new BackfillError(
    'INVALID_ARGUMENT',
    `run ${plan.runId} was planned by backfill-kit ${plan.kitVersion}, and this is backfill-kit ${mine}: their normalizers may differ, and the run would mix both versions' statements; ${advice}`,
    { context: { runId: plan.runId, plannedKitVersion: plan.kitVersion, kitVersion: mine, ...context } },
  );
}

/**
 * Whether another version of backfill-kit than this one (`mine`) planned the
 * run (`false` for a plan that recorded none). A version that cannot be known
 * ({@link UNKNOWN_KIT_VERSION}) is another one on either side, even to itself:
 * two processes that cannot tell their versions are not shown to be the same.
 */
export const plannedByOtherKitVersion = (plan: Pick<BackfillPlan, 'kitVersion'>, mine = kitVersion()): boolean =>
  plan.kitVersion !== null && (plan.kitVersion !== mine || mine === UNKNOWN_KIT_VERSION);

export const singleProcessState = (single: StoredCheckpoint): string =>
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

/** A new plan's refusal of a run id that a single-process run or a plan in another runs table over the same store has taken. */
function refuseTakenRunId(parts: Parts, runId: string): ResultAsync<void, BackfillError> {
  return refuseSingleProcessRun(parts, runId).andThen(() => refusePlanElsewhere(parts, runId));
}

/** A store table's name as the sink resolves it (`"schema"."table"`), so two spellings of one table compare equal. */
const resolvedTable = (name: string): string =>
  parseQualifiedName(name).match(
    (q) => q.sql,
    () => name,
  );

/**
 * Refuses a new plan of a run id that another runs table of the database
 * holds a plan of over the same checkpoints table (planned before with
 * another `--runs-table`, a typo, and no range of it started yet: the run
 * lock refuses it once one has a checkpoint). Both plans' ranges are
 * `<runId>#range-<n>`: cut with other bounds, each would take the other's
 * checkpoints for its own, and its report would count documents twice or
 * not at all. A plan in another store (its own checkpoints table, a
 * tenant's) shares no checkpoint and is no obstacle; nor is one stored
 * before plans recorded their tables, whose store cannot be told.
 */
function refusePlanElsewhere(parts: Parts, runId: string): ResultAsync<void, BackfillError> {
  const checkpoints = resolvedTable(parts.tables.checkpoints);
  return parts.plans.plansElsewhere(runId).andThen((plans) => {
    const same = plans.find((p) => p.tables !== null && resolvedTable(p.tables.checkpoints) === checkpoints);
    if (same === undefined) return okAsync(undefined);
    return errAsync(
      new BackfillError(
        'INVALID_ARGUMENT',
        `run ${runId} is planned in runs table ${same.runsTable} over the same checkpoints table (${parts.tables.checkpoints}): plan, work and report it with that runs table (--runs-table ${same.runsTable}, and its ranges and workers tables), or plan under another run id; a second plan of it would share its ranges' checkpoints.`,
        { context: { runId, runsTable: parts.plans.runsTable, plannedRunsTable: same.runsTable } },
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
 * The `statements backfill` command that resumes or reports a single-process
 * run, with the flags that repeat its options (a rerun with other ones is
 * refused); bare for a run that stored no checkpoint yet.
 */
export function singleProcessCommand(runId: string, single: Pick<StoredCheckpoint, 'options'> | null): string {
  const command = `statements backfill --run-id ${shellWord(runId)}`;
  if (single === null) return command;
  const { retrievedSince, force, maxDocuments } = single.options;
  const since = retrievedSince === null ? '' : ` --retrieved-since ${retrievedSince}`;
  return `${command}${since}${force ? ' --force' : ''}${maxDocuments === null ? '' : ` --max-documents ${maxDocuments}`}`;
}

/** `word` as a shell passes it on to a command: as it is when plain, else in single quotes (a run id `nightly run`, a table `"My Schema".docs`). */
export function shellWord(word: string): string {
  return /^[\w.:@%+=,/-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
